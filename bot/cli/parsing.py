"""The pieces every command group uses to declare its commands to ``argparse``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cli.output import Context

Handler = Callable[[Context, argparse.Namespace], Awaitable[int]]


_SQLITE_INT_MAX = 2**63 - 1  # a larger Python int cannot even be passed to a query


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= _SQLITE_INT_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {_SQLITE_INT_MAX}, got {value!r}"
        )
    return number


DEFAULT_WAIT = 10.0  # seconds a change may take to be confirmed by a running PBX


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 < number <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0 < SECONDS <= 3600, got {value!r}")
    return number


def command(
    parent: Any, name: str, handler: Handler, help_text: str, **kw: Any
) -> argparse.ArgumentParser:
    """Add command ``name`` to ``parent`` (a subparsers action). ``live=True``: it runs
    connected to the PBX when one is running, so changes reach Asterisk at once.
    ``changes_pbx=True`` (with ``live``): it changes what callers get, and succeeds only once
    the running PBX confirmed it (``--wait``)."""
    live = kw.pop("live", False)
    changes_pbx = kw.pop("changes_pbx", False)
    p: argparse.ArgumentParser = parent.add_parser(
        name, help=help_text, description=help_text, **kw
    )
    p.set_defaults(handler=handler, live=live)
    if changes_pbx:
        p.add_argument(
            "--wait", type=seconds, default=DEFAULT_WAIT, metavar="SECONDS",
            help="how long a running PBX may take to confirm the change (default "
            f"{DEFAULT_WAIT:g}); if it does not, exit 75: saved, applied once it answers",
        )  # fmt: skip
    return p


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")
