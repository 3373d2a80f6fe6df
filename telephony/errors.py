"""Telephony failures a person may see: domain errors (``bot.errors``), so they carry a
stable ``code`` and sit under the program's one root, ``ConferenceBotError``."""

from __future__ import annotations

from bot.errors import DomainError, NotFound


class PbxUnavailable(DomainError):
    code = "pbx_unavailable"

    def __init__(
        self,
        message: str = "The phone system (PBX) is offline right now; try again "
        "in a minute. Room changes are saved and reach it when it is back.",
    ) -> None:
        super().__init__(message)


class ParticipantNotFound(NotFound):
    code = "participant_not_found"


class PbxActionFailed(DomainError):
    code = "pbx_action_failed"
