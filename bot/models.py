"""Typed records the service hands to front ends: the server, rooms, owners, deletion
requests, audit entries and dial-in cards. Plain data, no rules (``bot.rules``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Server:
    extension: str
    phone_number: str | None
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str

    @property
    def dial_in(self) -> str:
        """What a caller dials: the phone number if one is assigned, else the extension."""
        return self.phone_number or self.extension


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str
    conference_id: str
    pin: str | None
    max_participants: int
    language: str
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str
    # Call options (issue 11). The moderator PIN admits as a ConfBridge admin (exempt from
    # the limit and the lock, marked); like the PIN it is never shown to non-owners.
    moderator_pin: str | None = None
    wait_for_moderator: bool = False  # callers hear music until a moderator joins
    end_with_moderator: bool = False  # the call ends when the last moderator leaves
    start_muted: bool = False  # callers (not moderators) join muted
    lobby: bool = False  # ask an owner before letting each caller in
    join_notes: bool = False  # post join/leave notes in the dial-in card's thread

    @property
    def has_pin(self) -> bool:
        return self.pin is not None

    @property
    def has_moderator_pin(self) -> bool:
        return self.moderator_pin is not None

    def options(self) -> dict[str, bool]:
        """The call options, by name (as the CLI's flags and the audit log name them)."""
        return {
            "wait_for_moderator": self.wait_for_moderator,
            "end_with_moderator": self.end_with_moderator,
            "start_muted": self.start_muted,
            "lobby": self.lobby,
            "join_notes": self.join_notes,
        }

    def public_dict(self) -> dict[str, Any]:
        """Everything but the PIN, safe to show to anyone."""
        return {
            "name": self.name,
            "conference_id": self.conference_id,
            "has_pin": self.has_pin,
            "has_moderator_pin": self.has_moderator_pin,
            **self.options(),
            "max_participants": self.max_participants,
            "language": self.language,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


class Role(StrEnum):
    """What a person may do. The CLI runs as ADMIN (whoever holds the machine holds the data).

    ADMIN: everything. MEMBER: list rooms, create rooms (and own them), post dial-in cards,
    request deletion; edit, re-PIN and share the PIN of the rooms they own. GUEST (Slack's
    single- and multi-channel guests): list rooms and post dial-in cards without the PIN.
    """

    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


@dataclass(frozen=True, slots=True)
class RoomOwner:
    """Someone who may manage a room besides the admins: its creator, or whom admins add.
    ``owner`` is an actor string (``slack:U123``), as in the audit log."""

    room_id: int
    owner: str
    added_by: str
    added_at: str


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DeletionRequest:
    id: int
    room_id: int | None
    room_name: str
    conference_id: str
    requester: str
    reason: str
    status: RequestStatus
    created_at: str
    decided_by: str | None
    decided_at: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SlackCard:
    """A Slack message showing a room's dial-in details and live count."""

    channel: str
    ts: str
    room_id: int
    include_pin: bool
    posted_by: str
    posted_at: str


class RecordingStatus(StrEnum):
    RECORDING = "recording"  # Asterisk is writing the file
    STOPPED = "stopped"  # the file is done, not uploaded yet
    UPLOADED = "uploaded"
    FAILED = "failed"  # the upload failed; the file is kept
    DELETED = "deleted"  # the file is gone (after upload, or with its room)


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording of a room's call: its file on the PBX's disk and where it went.
    ``room_id`` is None once the room is deleted; ``room_name`` is the name it had."""

    id: int
    room_id: int | None
    room_name: str
    path: str
    started_by: str
    started_at: str
    stopped_by: str | None
    stopped_at: str | None
    status: RecordingStatus
    channel: str | None
    file_id: str | None
    uploaded_at: str | None
    error: str | None


class LobbyStatus(StrEnum):
    """Where a caller in a room's lobby stands (issue 11)."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class LobbyRequest:
    """A caller held in a room's lobby until an owner or admin admits or refuses them.

    ``uniqueid`` is the caller's channel in the PBX (it names the AstDB key the decision is
    written to); ``channel``/``ts`` the Slack message asking the owners (None until posted).
    ``decided_by`` is set by the click that decided (the status follows once the PBX
    confirmed the caller was let in or sent away)."""

    id: int
    room_id: int | None
    room_name: str
    uniqueid: str
    caller_number: str
    caller_name: str
    endpoint: str
    channel: str | None
    ts: str | None
    status: LobbyStatus
    created_at: str
    expires_at: str
    decided_by: str | None
    decided_at: str | None

    @property
    def waiting(self) -> bool:
        return self.status is LobbyStatus.WAITING


@dataclass(frozen=True, slots=True)
class WebLink:
    """A one-time link that lets a Slack user join a room from the browser (issue 12).

    Only the SHA-256 of the token is stored (the link itself went to the person once);
    ``link_id`` names the short-lived SIP credentials in the PBX (``web-<16 hex>``).
    ``trusted``: issued to an owner or admin of the room, who skip the PIN. ``used_at`` is
    set by the one redemption that counts; ``revoked_at`` once the PBX forgot the
    credentials (after the join or the expiry)."""

    id: int
    link_id: str
    room_id: int | None
    room_name: str
    slack_user: str
    name: str
    trusted: bool
    created_at: str
    expires_at: str
    used_at: str | None
    revoked_at: str | None
