"""Telephony failures a person may see: domain errors (``bot.errors``), so they carry a
stable ``code`` and sit under the program's one root, ``ConferenceBotError``.

``PbxUnavailable`` and ``ParticipantNotFound`` live in the core (the service refuses actions
on a live call with them); they are named here too, where the AMI side raises them."""

from __future__ import annotations

from bot.errors import DomainError, ParticipantNotFound, PbxUnavailable

__all__ = ["ParticipantNotFound", "PbxActionFailed", "PbxUnavailable"]


class PbxActionFailed(DomainError):
    code = "pbx_action_failed"
