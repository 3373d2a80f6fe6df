"""The registration trunk in Slack: its status line for admins (``/conference setup``) and
the admins' channel notices when it is lost and back.

Every text from the PBX (registrar URI, user, reason) is escaped (``esc``) here.
"""

from __future__ import annotations

import time
from typing import Any

from commands.blocks.kit import context, esc, section
from telephony.registration import TrunkState, TrunkStatus


def when(epoch: float) -> str:
    """A time every reader sees in their own time zone (UTC where Slack cannot)."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 12 s``, ``2 h 5 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 // 60 else f"{s // 3600} h"


def trunk_line(state: TrunkState) -> str:
    """One mrkdwn line: the trunk's status, its reason and since when."""
    where = f"`{esc(state.server_uri)}`" if state.server_uri else "the provider"
    status = state.status
    if status is TrunkStatus.REGISTERED:
        who = f" as `{esc(state.user)}`" if state.user else ""
        return (
            f":white_check_mark: Phone provider trunk: registered to {where}{who} "
            f"since {when(state.since)}."
        )
    if status is TrunkStatus.UNKNOWN:
        return ":grey_question: Phone provider trunk: unknown, the PBX is offline."
    if status is TrunkStatus.REGISTERING:
        return f":hourglass: Phone provider trunk: registering to {where}, no answer yet."
    reason = esc(state.reason or "reason unknown")
    retry = (
        f" Asterisk tries again every {state.retry_interval} s."
        if state.retry_interval and status is not TrunkStatus.STOPPED
        else ""
    )
    return (
        f":warning: Phone provider trunk: *{status.value}* ({reason}) at {where} "
        f"since {when(state.since)}.{retry}"
    )


def trunk_lost(state: TrunkState, down_since: float, now: float) -> dict[str, Any]:
    """Posted once when the trunk has been down for a while."""
    head = (
        f":rotating_light: *Calls through the phone provider cannot reach the conference "
        f"server*: the registration trunk has not been registered for {duration(now - down_since)}."
    )
    foot = "This channel hears when it is back. Phones on the PBX and IP trunks are not affected."
    return {
        "text": f"The registration trunk is down: {state.summary()}"[:3000],
        "blocks": [section(head), section(trunk_line(state)), context(foot)],
    }


def trunk_back(state: TrunkState, down_since: float, now: float) -> dict[str, Any]:
    """Posted when a trunk that was reported lost is registered again."""
    where = f"`{esc(state.server_uri)}`" if state.server_uri else "the provider"
    text = (
        f":white_check_mark: *The registration trunk is back*: registered to {where} again "
        f"after {duration(now - down_since)} (down since {when(down_since)})."
    )
    return {"text": f"The registration trunk is back: {state.summary()}"[:3000],
            "blocks": [section(text)]}  # fmt: skip
