"""The one root of the bundled Asterisk's errors.

``deploy/`` imports nothing of the application, so its failures cannot derive from the
application's root (``bot.errors.ConferenceBotError``); they share this one instead, and the
entry points catch both (``bot.exits.FIXABLE``).
"""

from __future__ import annotations


class DeployError(Exception):
    """The PBX could not be built, configured, started or stopped; the message says why."""
