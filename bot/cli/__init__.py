"""The admin command line, one module per command group; ``main`` is the entry point
(``conference-bot``, ``python -m bot``)."""

from __future__ import annotations

from bot.cli.main import main

__all__ = ["main"]
