"""The program's own errors: one root, so each front end catches one tree.

``ConferenceBotError`` is the root of every failure a person can fix: a broken rule
(``DomainError`` and its subclasses, which carry a stable ``code`` and a message that says
what to do, shown unchanged by the CLI and Slack), a setting we cannot use
(``SettingsError``) and a database file we cannot use (``DatabaseUnusable``). Telephony's
failures (``telephony.errors``) are domain errors too, so they sit under the same root.
Anything else that escapes a front end is a bug: an error id and a log line.

The bundled Asterisk (``deploy/``) imports nothing of the application, so its errors cannot
derive from this root: they share a root of their own, ``deploy.errors.DeployError``, which
the entry points (``bot.exits``) treat like this one. Two roots, both known at the one place
that sees every part, rather than ``deploy/`` depending on the application.

    ConferenceBotError
    ├── DomainError (code, message, field)
    │   ├── InvalidInput, ValidationFailed
    │   ├── NotFound: RoomNotFound, ServerNotFound, RequestNotFound, ParticipantNotFound
    │   ├── Conflict: DuplicateName, DuplicateConferenceId, ConferenceIdIsExtension,
    │   │             ServerExists, DeletionAlreadyPending, RequestAlreadyDecided
    │   ├── RoomLimitReached, ServerNotEmpty, RoomGone, NotAllowed
    │   ├── ChangeNotApplied (saved, but the PBX has not taken it yet)
    │   ├── PbxUnavailable, NobodyInCall, AmbiguousCaller (actions on a live call)
    │   ├── AlreadyRecording (a Conflict), NotRecording (recording a live call)
    │   └── (telephony: PbxActionFailed)
    ├── SettingsError
    └── DatabaseUnusable
        └── SchemaTooNew
"""

from __future__ import annotations


class ConferenceBotError(Exception):
    """A failure a person can fix; ``str()`` says what is wrong and what to do."""


# -- broken rules -------------------------------------------------------------------------------


class DomainError(ConferenceBotError):
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


class ChangeNotApplied(DomainError):
    """The change is committed (saved, audited), but a part that carries it out (the PBX's
    AstDB) did not confirm it in time and still works the old way. Raised after every
    observer was told, by the service call that made the change: a front end never reports
    such a change as done (the CLI exits ``EX_TEMPFAIL``, 75). The observer keeps trying and
    applies it once the PBX answers; ``message`` says so, and what still holds meanwhile."""

    code = "change_not_applied"


class PbxUnavailable(DomainError):
    """The phone system is not running or does not answer (here, not in ``telephony``, so
    the service can refuse actions on a live call without knowing how calls are run)."""

    code = "pbx_unavailable"

    def __init__(
        self,
        message: str = "The phone system (PBX) is offline right now; try again "
        "in a minute. Room changes are saved and reach it when it is back.",
    ) -> None:
        super().__init__(message)


class ParticipantNotFound(NotFound):
    code = "participant_not_found"


class NobodyInCall(DomainError):
    """An action on a live call for a room nobody is in."""

    code = "nobody_in_call"


class AmbiguousCaller(DomainError):
    """The caller given matches several people in the call; the message lists them."""

    code = "ambiguous_caller"


class AlreadyRecording(Conflict):
    """Recording asked to start in a call that is being recorded already."""

    code = "already_recording"


class NotRecording(DomainError):
    """Recording asked to stop in a call that is not being recorded."""

    code = "not_recording"


class NotAllowed(DomainError):
    """The person may not do this. ``audit`` (actor, action, target, summary) is written to
    the audit log once the refused transaction is rolled back."""

    code = "not_allowed"
    audit: tuple[str, str, str, str] | None = None


# -- settings and the database file -----------------------------------------------------------


class SettingsError(ConferenceBotError):
    """A setting has a value we cannot use; the message names it and says what to do."""


class DatabaseUnusable(ConferenceBotError):
    """The database file cannot be used as it is. The message names the file, says what is
    wrong and what to do; the file was not written."""


class SchemaTooNew(DatabaseUnusable):
    """The file was written by a newer conference-bot; it was left as it is."""
