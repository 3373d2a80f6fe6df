"""Log lines that cannot be forged or used to attack a terminal.

Messages often carry text from outside (room names, caller IDs, Slack fields): every control
character in a formatted message is replaced with a visible escape (``bot.text.printable``),
so a newline cannot forge a second line and ESC cannot reach the terminal tailing the log.
Tracebacks, which are ours, keep their line breaks.
"""

from __future__ import annotations

import logging

from bot.text import printable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SafeFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))


def safe_handler(handler: logging.Handler, fmt: str = FORMAT) -> logging.Handler:
    """``handler`` with a ``SafeFormatter``."""
    handler.setFormatter(SafeFormatter(fmt))
    return handler
