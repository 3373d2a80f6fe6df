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


def command(
    parent: Any, name: str, handler: Handler, help_text: str, **kw: Any
) -> argparse.ArgumentParser:
    """Add command ``name`` to ``parent`` (a subparsers action). ``live=True``: it runs
    connected to the PBX when one is running, so changes reach Asterisk at once."""
    live = kw.pop("live", False)
    p: argparse.ArgumentParser = parent.add_parser(
        name, help=help_text, description=help_text, **kw
    )
    p.set_defaults(handler=handler, live=live)
    return p


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")
