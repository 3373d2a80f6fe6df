"""Bans on bad logins in Slack: the admins' channel notice posted once per ban.

The account names a banned source tried are text it chose: they are escaped (``esc``) and
shown in code spans, cut short, never as mrkdwn of their own.
"""

from __future__ import annotations

from typing import Any

from commands.blocks.kit import context, esc, section
from commands.blocks.trunk import duration, when
from telephony.bans import BanNotice

_ACCOUNT_CHARS = 40


def _account(name: str) -> str:
    short = name if len(name) <= _ACCOUNT_CHARS else name[: _ACCOUNT_CHARS - 1] + "…"
    # No backtick can close the code span early; control characters shown as their code.
    cleaned = "".join(c if c.isprintable() and c != "`" else f"\\x{ord(c):02x}" for c in short)
    return f"`{esc(cleaned)}`"


def ban_added(notice: BanNotice) -> dict[str, Any]:
    """Posted once when a source of bad logins is banned."""
    head = (
        f":no_entry: *Banned `{esc(notice.address)}`* for "
        f"{duration(notice.until - notice.since)} after {notice.failures} failed phone logins "
        f"within {duration(notice.window)}: the PBX refuses everything it sends until "
        f"{when(notice.until)}."
    )
    tried = ", ".join(_account(a) for a in notice.accounts) or "none given"
    foot = (
        "Accounts it tried: " + tried + ". If this is one of your phones with a wrong "
        "password, fix the phone, then lift the ban: "
        f"`conference-bot bans clear {esc(notice.address)}`."
    )
    text = f"Banned {notice.address} after {notice.failures} failed phone logins"
    return {"text": text[:3000], "blocks": [section(head), context(foot)]}
