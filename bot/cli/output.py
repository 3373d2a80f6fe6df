"""What every CLI command uses to talk to its user: the ``Context`` (the service, the
settings, the live PBX if any, who is acting) with its printing helpers, tables and
confirmation prompts. Everything from outside is printed escaped (``bot.text.printable``)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bot.config import Settings
from bot.service import ConferenceService
from bot.text import printable
from bot.wiring import Telephony


class Context:
    """What a command runs with: the service, the settings, the live PBX (``None`` when it is
    not running or the command does not need it), the actor for the audit log, and where to
    print."""

    def __init__(
        self,
        service: ConferenceService,
        settings: Settings,
        out: TextIO,
        err: TextIO,
        live: Telephony | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.out = out
        self.err = err
        self.live = live
        self.actor = f"cli:{_os_user()}"

    def print(self, text: str = "") -> None:
        """Values from outside are escaped where they are put in (``printable``, so a newline
        in one cannot forge a line); this escapes whatever else slipped in, line by line."""
        print("\n".join(printable(line) for line in text.split("\n")), file=self.out)

    def say(self, text: str) -> None:
        """A line on stderr (progress, warnings)."""
        print(printable(text), file=self.err)

    def json(self, value: Any) -> None:
        # ensure_ascii (the default) writes every control character as a \uXXXX escape.
        print(json.dumps(value, indent=2, sort_keys=False), file=self.out)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def confirm(ctx: Context, question: str, assume_yes: bool) -> bool:
    """Ask on a terminal; scripts (no terminal) and --yes go ahead."""
    if assume_yes or not sys.stdin.isatty():
        return True
    print(f"{printable(question)} [y/N] ", end="", file=ctx.err, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in {"y", "yes"}


def table(raw: Sequence[Sequence[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in raw]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
