"""Domain errors.

Every failure a person can cause has its own class with a stable ``code`` and a message
that says what to do. Front ends (CLI, Slack) show ``message`` unchanged.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken; ``message`` is meant for the person who broke it."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """One value is malformed (wrong length, not digits, ...). ``field`` names it."""

    code = "invalid_input"


class ValidationFailed(DomainError):
    """Several things are wrong at once; ``problems`` lists each (a form shows them all)."""

    code = "invalid_input"

    def __init__(self, problems: list[DomainError]) -> None:
        super().__init__("\n".join(p.message for p in problems), field=problems[0].field)
        self.problems = problems
        codes = {p.code for p in problems}
        if len(codes) == 1:
            self.code = codes.pop()


class NotFound(DomainError):
    code = "not_found"


class RoomNotFound(NotFound):
    code = "room_not_found"


class ServerNotFound(NotFound):
    code = "server_not_found"


class RequestNotFound(NotFound):
    code = "deletion_request_not_found"


class Conflict(DomainError):
    code = "conflict"


class DuplicateName(Conflict):
    code = "duplicate_name"


class DuplicateConferenceId(Conflict):
    code = "duplicate_conference_id"


class ConferenceIdIsExtension(Conflict):
    code = "conference_id_is_extension"


class ServerExists(Conflict):
    code = "server_exists"


class RoomLimitReached(DomainError):
    code = "room_limit_reached"


class ServerNotEmpty(DomainError):
    code = "server_not_empty"


class DeletionAlreadyPending(Conflict):
    code = "deletion_already_pending"


class RequestAlreadyDecided(Conflict):
    code = "deletion_request_decided"


class RoomGone(DomainError):
    code = "room_gone"


class NotAllowed(DomainError):
    """The person may not do this. ``audit`` (actor, action, target, summary) is written to
    the audit log once the refused transaction is rolled back."""

    code = "not_allowed"
    audit: tuple[str, str, str, str] | None = None
