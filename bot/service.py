"""The rules of the conference server. Every front end (CLI, Slack, PBX sync) goes through here."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from bot import errors
from bot.models import (
    LANGUAGES,
    AuditEntry,
    DeletionRequest,
    RequestStatus,
    Role,
    Room,
    RoomOwner,
    Server,
    SlackCard,
)
from bot.repository import Repository, is_unique_violation

log = logging.getLogger(__name__)

DEFAULT_EXTENSION = "800"
MAX_PARTICIPANTS = 10
NAME_MAX = 64
REASON_MAX = 500

_DIGITS = re.compile(r"[0-9]+")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_NUMBER_PUNCTUATION = re.compile(r"[\s().\-]")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")

# Owners are Slack users, kept as the actor strings the audit log uses. A room created from
# Slack is owned by its creator; one created from the CLI by the admins alone.
OWNER_PREFIX = "slack:"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- validation: each returns the cleaned value or raises InvalidInput -----------------------


def clean_extension(value: str) -> str:
    ext = value.strip()
    if not _DIGITS.fullmatch(ext) or not 2 <= len(ext) <= 6:
        raise errors.InvalidInput(
            f'The extension must be 2 to 6 digits (got "{value}"), for example 800.',
            field="extension",
        )
    return ext


def clean_phone_number(value: str) -> str:
    number = _NUMBER_PUNCTUATION.sub("", value)
    if not _E164.fullmatch(number):
        raise errors.InvalidInput(
            f'"{value}" is not a phone number in E.164 form: a + then the country code and '
            "number, 15 digits at most, for example +15551234567.",
            field="phone_number",
        )
    return number


def clean_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise errors.InvalidInput("The room name cannot be empty.", field="name")
    if len(name) > NAME_MAX:
        raise errors.InvalidInput(
            f"The room name is {len(name)} characters long; use at most {NAME_MAX}.",
            field="name",
        )
    if any(not ch.isprintable() for ch in name):
        raise errors.InvalidInput(
            "The room name cannot contain line breaks or control characters.", field="name"
        )
    if name.isdigit():
        # Rooms are looked up by name or conference ID: a name of digits would be ambiguous.
        raise errors.InvalidInput(
            f"The room name cannot be only digits (it would look like a conference ID); add a "
            f'word, for example "Room {name}".',
            field="name",
        )
    return name


def clean_conference_id(value: str) -> str:
    cid = value.strip()
    if not _DIGITS.fullmatch(cid) or not 3 <= len(cid) <= 10:
        raise errors.InvalidInput(
            f'The conference ID must be 3 to 10 digits (got "{value}"); callers type it on '
            "their keypad.",
            field="conference_id",
        )
    return cid


def clean_pin(value: str | None) -> str | None:
    """A PIN of 4 to 10 digits; ``None`` or an empty string means no PIN."""
    if value is None or not value.strip():
        return None
    pin = value.strip()
    if not _DIGITS.fullmatch(pin) or not 4 <= len(pin) <= 10:
        # Never echo the PIN back: it may be shown where others can read it.
        raise errors.InvalidInput(
            "The PIN must be 4 to 10 digits, or left empty for no PIN.", field="pin"
        )
    return pin


def clean_max_participants(value: int | str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PARTICIPANTS:
        raise errors.InvalidInput(
            f"The participant limit must be a whole number from 1 to {MAX_PARTICIPANTS} "
            f'(got "{value}").',
            field="max_participants",
        )
    return count


def clean_language(value: str) -> str:
    lang = value.strip().lower()
    if lang not in LANGUAGES:
        choices = ", ".join(f"{k} ({v})" for k, v in LANGUAGES.items())
        raise errors.InvalidInput(
            f'Unknown prompt language "{value}"; choose one of {choices}.', field="language"
        )
    return lang


def clean_reason(value: str) -> str:
    reason = value.strip()
    if len(reason) > REASON_MAX:
        raise errors.InvalidInput(
            f"The reason is {len(reason)} characters long; use at most {REASON_MAX}.",
            field="reason",
        )
    return reason


def clean_owner(value: str) -> str:
    """A Slack member ID (``U0123ABCD``, also as ``<@U0123ABCD>`` or ``slack:U0123ABCD``)
    as the owner string stored for a room."""
    user = value.strip()
    user = user.removeprefix(OWNER_PREFIX).removeprefix("<@").removesuffix(">").upper()
    if not _SLACK_USER.fullmatch(user):
        raise errors.InvalidInput(
            f'"{value}" is not a Slack member ID. It looks like U0123ABCD: in Slack, open the '
            "person's profile, then More (⋮) > Copy member ID.",
            field="owner",
        )
    return OWNER_PREFIX + user


def name_key(name: str) -> str:
    return name.casefold()


# -- change notifications ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomChange:
    kind: Literal["created", "updated", "deleted"]
    room: Room
    previous: Room | None = None


class Observer(Protocol):
    """Told of every committed change (the PBX sync, live Slack views)."""

    async def room_changed(self, change: RoomChange) -> None: ...

    async def server_changed(self, server: Server | None) -> None: ...


def _audit_view(room: Room) -> dict[str, Any]:
    return {
        "name": room.name,
        "conference_id": room.conference_id,
        "has_pin": room.has_pin,
        "max_participants": room.max_participants,
        "language": room.language,
    }


def _room_summary(room: Room) -> str:
    pin = "with PIN" if room.has_pin else "no PIN"
    return (
        f'room "{room.name}" (ID {room.conference_id}, {pin}, '
        f"up to {room.max_participants}, {LANGUAGES[room.language]} prompts)"
    )


def _describe_changes(before: Room, after: Room) -> list[str]:
    parts: list[str] = []
    if before.name != after.name:
        parts.append(f'name "{before.name}" -> "{after.name}"')
    if before.conference_id != after.conference_id:
        parts.append(f"conference ID {before.conference_id} -> {after.conference_id}")
    if before.pin != after.pin:
        if after.pin is None:
            parts.append("PIN removed")
        elif before.pin is None:
            parts.append("PIN set")
        else:
            parts.append("PIN changed")
    if before.max_participants != after.max_participants:
        parts.append(f"limit {before.max_participants} -> {after.max_participants}")
    if before.language != after.language:
        parts.append(f"language {before.language} -> {after.language}")
    return parts


class ConferenceService:
    """The conference server, its rooms, deletion requests and audit log."""

    def __init__(
        self,
        repo: Repository,
        *,
        max_rooms: int = 10,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.repo = repo
        self.max_rooms = max_rooms
        self._observers = list(observers)
        self._card_listeners: list[Callable[[SlackCard], Awaitable[None]]] = []

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def add_card_listener(self, listener: Callable[[SlackCard], Awaitable[None]]) -> None:
        """Be told of each dial-in card remembered (live views cap how many they follow)."""
        self._card_listeners.append(listener)

    async def _notify_room(self, change: RoomChange) -> None:
        for observer in self._observers:
            try:
                await observer.room_changed(change)
            except Exception:
                # The change is committed; observers catch up on their own (the PBX sync
                # resyncs on reconnect), so one failing must not undo or hide the change.
                log.exception(
                    "observer %r failed on %s of room %s", observer, change.kind, change.room.id
                )

    async def _notify_server(self, server: Server | None) -> None:
        for observer in self._observers:
            try:
                await observer.server_changed(server)
            except Exception:
                log.exception("observer %r failed on server change", observer)

    async def _audit(
        self,
        actor: str,
        action: str,
        target: str,
        summary: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        await self.repo.insert_audit(
            at=now_iso(),
            actor=actor,
            action=action,
            target=target,
            summary=summary,
            before=before,
            after=after,
        )

    async def record(self, actor: str, action: str, target: str, summary: str) -> None:
        """Audit something that changed nothing, such as a refused approval."""
        async with self.repo.write():
            await self._audit(actor, action, target, summary)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[Repository]:
        """``repo.write()``; a refusal raised inside is audited once the write is undone."""
        try:
            async with self.repo.write() as repo:
                yield repo
        except errors.NotAllowed as refused:
            if refused.audit is not None:
                await self.record(*refused.audit)
            raise

    # -- who may do what ------------------------------------------------------------------

    async def may_manage(self, room_id: int, actor: str, role: Role) -> bool:
        """Whether ``actor`` may edit the room, change its PIN and share the PIN."""
        async with self.repo.read() as repo:
            return await self._may_manage(repo, room_id, actor, role)

    async def _may_manage(self, repo: Repository, room_id: int, actor: str, role: Role) -> bool:
        if role is Role.ADMIN:
            return True
        return role is Role.MEMBER and await repo.is_owner(room_id, actor)

    async def _require_manager(
        self, repo: Repository, room: Room, actor: str, role: Role, what: str, action: str
    ) -> None:
        if await self._may_manage(repo, room.id, actor, role):
            return
        refused = errors.NotAllowed(
            f'Only the owners of room "{room.name}" and the admins can {what}. Ask an owner '
            "or an admin to do it, or to add you as an owner."
        )
        refused.audit = (actor, action, room.name, f"Refused ({role.value}): {what}")
        raise refused

    async def require_manager(self, room_id: int, actor: str, role: Role, what: str) -> Room:
        """The room, if ``actor`` may manage it; else ``NotAllowed``, audited."""
        async with self._writing() as repo:
            room = await self._find(repo, room_id)
            await self._require_manager(repo, room, actor, role, what, "room.refused")
        return room

    async def refuse_guest(self, actor: str, role: Role, what: str, target: str) -> None:
        """``NotAllowed`` (audited) for a guest: guests list rooms and post cards, no more."""
        if role is not Role.GUEST:
            return
        await self.record(actor, "guest.refused", target, f"Refused (guest): {what}")
        raise errors.NotAllowed(
            f"Guests of this workspace cannot {what}. Ask a member of the workspace to do it."
        )

    # -- room owners ----------------------------------------------------------------------

    async def owners(self, room_id: int) -> list[RoomOwner]:
        async with self.repo.read() as repo:
            return await repo.list_owners(room_id)

    async def add_owner(
        self, ref: str | int, user: str, *, actor: str, role: Role = Role.ADMIN
    ) -> RoomOwner:
        """Make ``user`` (a Slack member ID) an owner of the room (admins only)."""
        owner = clean_owner(user)
        async with self._writing() as repo:
            room = await self._find(repo, ref)
            _require_admin(role, actor, room, "add owners to a room")
            if not await repo.add_owner(room.id, owner, actor=actor, now=now_iso()):
                raise errors.Conflict(f'{owner} already owns room "{room.name}".', field="owner")
            await self._audit(
                actor, "owner.add", room.name, f'Made {owner} an owner of room "{room.name}"'
            )
            added = [o for o in await repo.list_owners(room.id) if o.owner == owner]
        return added[0]

    async def remove_owner(
        self, ref: str | int, user: str, *, actor: str, role: Role = Role.ADMIN
    ) -> None:
        """``user`` no longer owns the room (admins only)."""
        owner = clean_owner(user)
        async with self._writing() as repo:
            room = await self._find(repo, ref)
            _require_admin(role, actor, room, "remove owners from a room")
            if not await repo.remove_owner(room.id, owner):
                raise errors.NotFound(
                    f'{owner} is not an owner of room "{room.name}".', field="owner"
                )
            await self._audit(
                actor, "owner.remove", room.name, f'{owner} no longer owns room "{room.name}"'
            )

    # -- the server -----------------------------------------------------------------------

    async def get_server(self) -> Server | None:
        async with self.repo.read():
            return await self.repo.get_server()

    async def require_server(self) -> Server:
        server = await self.get_server()
        if server is None:
            raise errors.ServerNotFound(
                "There is no conference server yet. Set one up first "
                f"(CLI: conference-bot server setup --extension {DEFAULT_EXTENSION}; "
                "Slack: /conference setup)."
            )
        return server

    async def setup_server(self, extension: str, actor: str) -> Server:
        """Create the conference server, or change the extension of the existing one."""
        ext = clean_extension(extension)
        async with self.repo.write() as repo:
            if ext in await repo.conference_ids():
                room = await repo.room_by_conference_id(ext)
                assert room is not None
                raise errors.ConferenceIdIsExtension(
                    f'Extension {ext} is the conference ID of room "{room.name}". Pick another '
                    "extension, or change that room's conference ID first.",
                    field="extension",
                )
            before = await repo.get_server()
            now = now_iso()
            if before is None:
                await repo.insert_server(ext, actor, now)
                await self._audit(
                    actor,
                    "server.create",
                    "server",
                    f"Created the conference server on extension {ext}",
                    None,
                    {"extension": ext},
                )
            else:
                await repo.update_server(
                    extension=ext, phone_number=before.phone_number, actor=actor, now=now
                )
                await self._audit(
                    actor,
                    "server.update",
                    "server",
                    f"Extension {before.extension} -> {ext}",
                    {"extension": before.extension},
                    {"extension": ext},
                )
            server = await repo.get_server()
        assert server is not None
        await self._notify_server(server)
        return server

    async def assign_number(self, number: str, actor: str) -> Server:
        """Assign (or replace) the server's phone number."""
        clean = clean_phone_number(number)
        return await self._set_number(clean, actor)

    async def unassign_number(self, actor: str) -> Server:
        return await self._set_number(None, actor)

    async def _set_number(self, number: str | None, actor: str) -> Server:
        async with self.repo.write() as repo:
            before = await self._server_in(repo)
            old = before.phone_number
            if number is None and old is None:
                raise errors.NotFound("The conference server has no phone number to unassign.")
            await repo.update_server(
                extension=before.extension, phone_number=number, actor=actor, now=now_iso()
            )
            if number is None:
                action, summary = "number.unassign", f"Unassigned phone number {old}"
            elif old:
                action, summary = "number.assign", f"Phone number {old} -> {number}"
            else:
                action, summary = "number.assign", f"Assigned phone number {number}"
            await self._audit(
                actor, action, "server", summary, {"phone_number": old}, {"phone_number": number}
            )
            server = await repo.get_server()
        assert server is not None
        await self._notify_server(server)
        return server

    async def delete_server(self, actor: str) -> None:
        """Delete the server; refused, with what is left to do, while rooms or a number remain."""
        async with self.repo.write() as repo:
            server = await self._server_in(repo)
            rooms = await repo.list_rooms()
            todo: list[str] = []
            if rooms:
                # A few names, then a count: the message must stay short (a Slack message,
                # a terminal) however many rooms there are.
                names = ", ".join(f'"{r.name}" (ID {r.conference_id})' for r in rooms[:10])
                if len(rooms) > 10:
                    names += f" and {len(rooms) - 10} more"
                what = f"its {len(rooms)} rooms" if len(rooms) > 1 else "its room"
                todo.append(f"delete {what}: {names}")
            if server.phone_number:
                todo.append(f"unassign its phone number {server.phone_number}")
            if todo:
                raise errors.ServerNotEmpty(
                    "The conference server cannot be deleted yet. First "
                    + ", then ".join(todo)
                    + "."
                )
            await repo.delete_server()
            await self._audit(
                actor,
                "server.delete",
                "server",
                f"Deleted the conference server (extension {server.extension})",
                {"extension": server.extension},
                None,
            )
        await self._notify_server(None)

    async def _server_in(self, repo: Repository) -> Server:
        server = await repo.get_server()
        if server is None:
            raise errors.ServerNotFound(
                "There is no conference server yet. Set one up first "
                f"(CLI: conference-bot server setup --extension {DEFAULT_EXTENSION}; "
                "Slack: /conference setup)."
            )
        return server

    # -- rooms ----------------------------------------------------------------------------

    async def list_rooms(self) -> list[Room]:
        async with self.repo.read():
            return await self.repo.list_rooms()

    async def get_room(self, ref: str) -> Room:
        """A room by conference ID or name (case-insensitive)."""
        async with self.repo.read() as repo:
            return await self._find(repo, ref)

    async def get_room_by_id(self, room_id: int) -> Room:
        async with self.repo.read() as repo:
            room = await repo.room_by_id(room_id)
        if room is None:
            raise errors.RoomNotFound("That room no longer exists; it may have been deleted.")
        return room

    async def _find(self, repo: Repository, ref: str | int) -> Room:
        """A room by name or conference ID (what people type), or by its stable id (an int,
        what front ends keep between steps: it survives renames and re-numbering)."""
        if isinstance(ref, int):
            by_id = await repo.room_by_id(ref)
            if by_id is None:
                raise errors.RoomNotFound(
                    "That room no longer exists; it may have been deleted.", field="room"
                )
            return by_id
        key = ref.strip()
        room = None
        if _DIGITS.fullmatch(key):
            room = await repo.room_by_conference_id(key)
        if room is None and key:
            room = await repo.room_by_name_key(name_key(key))
        if room is None:
            raise errors.RoomNotFound(
                f'There is no room named or numbered "{key}". '
                "List the rooms to see their names and conference IDs.",
                field="room",
            )
        return room

    async def suggest_conference_id(self) -> str:
        """A random free 6-digit conference ID (random, so IDs do not reveal one another)."""
        async with self.repo.read() as repo:
            taken = await repo.conference_ids()
            server = await repo.get_server()
        if server:
            taken.add(server.extension)
        while True:
            candidate = str(100000 + secrets.randbelow(900000))
            if candidate not in taken:
                return candidate

    async def _check_unique(
        self, repo: Repository, *, name: str, conference_id: str, room_id: int | None
    ) -> None:
        problems: list[errors.DomainError] = []
        same_name = await repo.room_by_name_key(name_key(name))
        if same_name and same_name.id != room_id:
            problems.append(
                errors.DuplicateName(
                    f'A room named "{same_name.name}" already exists; choose another name.',
                    field="name",
                )
            )
        same_id = await repo.room_by_conference_id(conference_id)
        if same_id and same_id.id != room_id:
            problems.append(
                errors.DuplicateConferenceId(
                    f'Conference ID {conference_id} is already used by room "{same_id.name}"; '
                    "choose another.",
                    field="conference_id",
                )
            )
        server = await repo.get_server()
        if server and server.extension == conference_id:
            problems.append(
                errors.ConferenceIdIsExtension(
                    f"Conference ID {conference_id} is the conference server's own extension; "
                    "choose another.",
                    field="conference_id",
                )
            )
        if problems:
            raise problems[0] if len(problems) == 1 else errors.ValidationFailed(problems)

    async def create_room(
        self,
        *,
        name: str,
        conference_id: str,
        actor: str,
        pin: str | None = None,
        max_participants: int | str = MAX_PARTICIPANTS,
        language: str = "en",
        role: Role = Role.ADMIN,
    ) -> Room:
        """Create a room. Invalid values are all reported at once (``ValidationFailed``).
        A Slack user who creates a room owns it; guests may not create rooms."""
        await self.refuse_guest(actor, role, "create rooms", "room")
        values = _validate(
            name=lambda: clean_name(name),
            conference_id=lambda: clean_conference_id(conference_id),
            pin=lambda: clean_pin(pin),
            max_participants=lambda: clean_max_participants(max_participants),
            language=lambda: clean_language(language),
        )
        async with self.repo.write() as repo:
            await self._server_in(repo)
            count = await repo.count_rooms()
            if count >= self.max_rooms:
                raise errors.RoomLimitReached(
                    f"This conference server already has {count} rooms, the most it can have. "
                    "Delete a room you no longer need, then try again."
                )
            await self._check_unique(
                repo, name=values["name"], conference_id=values["conference_id"], room_id=None
            )
            now = now_iso()
            try:
                room_id = await repo.insert_room(
                    name=values["name"],
                    name_key=name_key(values["name"]),
                    conference_id=values["conference_id"],
                    pin=values["pin"],
                    max_participants=values["max_participants"],
                    language=values["language"],
                    actor=actor,
                    now=now,
                )
            except Exception as exc:
                if is_unique_violation(exc):  # a race lost to another process
                    raise errors.Conflict(
                        "Another change to the rooms happened at the same moment; try again."
                    ) from exc
                raise
            room = await repo.room_by_id(room_id)
            assert room is not None
            if actor.startswith(OWNER_PREFIX):
                await repo.add_owner(room.id, actor, actor=actor, now=now)
            await self._audit(
                actor,
                "room.create",
                room.name,
                f"Created {_room_summary(room)}",
                None,
                _audit_view(room),
            )
        await self._notify_room(RoomChange("created", room))
        return room

    async def update_room(
        self,
        ref: str | int,
        *,
        actor: str,
        name: str = UNSET,
        conference_id: str = UNSET,
        pin: str | None = UNSET,
        max_participants: int | str = UNSET,
        language: str = UNSET,
        role: Role = Role.ADMIN,
    ) -> Room:
        """Change a room; only the values given change. ``pin=None`` removes the PIN.
        Only the room's owners and admins may (``NotAllowed``, audited, for others)."""
        checks: dict[str, Any] = {}
        if name is not UNSET:
            checks["name"] = lambda: clean_name(name)
        if conference_id is not UNSET:
            checks["conference_id"] = lambda: clean_conference_id(conference_id)
        if pin is not UNSET:
            checks["pin"] = lambda: clean_pin(pin)
        if max_participants is not UNSET:
            checks["max_participants"] = lambda: clean_max_participants(max_participants)
        if language is not UNSET:
            checks["language"] = lambda: clean_language(language)
        async with self._writing() as repo:
            before = await self._find(repo, ref)
            await self._require_manager(repo, before, actor, role, "edit it", "room.refused")
            values = _validate(**checks)  # after: a refusal is audited whatever was typed
            wanted = replace(
                before,
                name=values.get("name", before.name),
                conference_id=values.get("conference_id", before.conference_id),
                pin=values.get("pin", before.pin),
                max_participants=values.get("max_participants", before.max_participants),
                language=values.get("language", before.language),
            )
            changes = _describe_changes(before, wanted)
            if not changes:
                return before  # nothing changed: no write, no audit line, no timestamps touched
            await self._check_unique(
                repo, name=wanted.name, conference_id=wanted.conference_id, room_id=before.id
            )
            await repo.update_room(
                before.id,
                name=wanted.name,
                name_key=name_key(wanted.name),
                conference_id=wanted.conference_id,
                pin=wanted.pin,
                max_participants=wanted.max_participants,
                language=wanted.language,
                actor=actor,
                now=now_iso(),
            )
            if before.pin != wanted.pin:
                # A new PIN never reaches a channel that was shown the old one (changing it
                # is how an admin shuts a channel out). In this transaction, so it holds
                # whichever process changes the PIN, and no reader sees the new PIN with a
                # card still marked to show it.
                await repo.clear_card_pins(before.id)
            after = await repo.room_by_id(before.id)
            assert after is not None
            await self._audit(
                actor,
                "room.update",
                after.name,
                f'Changed room "{before.name}": ' + "; ".join(changes),
                _audit_view(before),
                _audit_view(after),
            )
        await self._notify_room(RoomChange("updated", after, before))
        return after

    async def delete_room(self, ref: str | int, *, actor: str) -> Room:
        """Delete a room now (admins and the CLI; chat users go through a request)."""
        async with self.repo.write() as repo:
            room = await self._find(repo, ref)
            await repo.cancel_pending_for_room(room.id, actor=actor, now=now_iso())
            await repo.delete_room(room.id)
            await self._audit(
                actor,
                "room.delete",
                room.name,
                f"Deleted {_room_summary(room)}",
                _audit_view(room),
                None,
            )
        await self._notify_room(RoomChange("deleted", room))
        return room

    # -- deletion requests ----------------------------------------------------------------

    async def request_deletion(
        self, ref: str | int, *, requester: str, reason: str = "", role: Role = Role.MEMBER
    ) -> DeletionRequest:
        """File a request to delete a room; an admin approves or denies it. Not for guests."""
        await self.refuse_guest(requester, role, "ask to delete rooms", "room")
        why = clean_reason(reason)
        async with self.repo.write() as repo:
            room = await self._find(repo, ref)
            pending = await repo.pending_request_for_room(room.id)
            if pending:
                raise errors.DeletionAlreadyPending(
                    f'Room "{room.name}" already has a deletion request waiting for an admin '
                    f"(#{pending.id}, filed by {pending.requester}). Wait for their decision."
                )
            request_id = await repo.insert_request(
                room=room, requester=requester, reason=why, now=now_iso()
            )
            await self._audit(
                requester,
                "deletion.request",
                room.name,
                f'Asked to delete room "{room.name}" (request #{request_id})'
                + (f": {why}" if why else ""),
            )
            request = await repo.get_request(request_id)
        assert request is not None
        return request

    async def get_request(self, request_id: int) -> DeletionRequest:
        async with self.repo.read() as repo:
            request = await repo.get_request(request_id)
        if request is None:
            raise errors.RequestNotFound(f"There is no deletion request #{request_id}.")
        return request

    async def list_requests(self, status: RequestStatus | None = None) -> list[DeletionRequest]:
        async with self.repo.read() as repo:
            return await repo.list_requests(status)

    async def _pending(self, repo: Repository, request_id: int) -> DeletionRequest:
        request = await repo.get_request(request_id)
        if request is None:
            raise errors.RequestNotFound(f"There is no deletion request #{request_id}.")
        if request.status is not RequestStatus.PENDING:
            raise errors.RequestAlreadyDecided(
                f"Deletion request #{request.id} was already {request.status.value}"
                + (f" by {request.decided_by}" if request.decided_by else "")
                + "."
            )
        return request

    async def approve_deletion(
        self, request_id: int, *, admin: str
    ) -> tuple[DeletionRequest, Room]:
        """Approve a pending request and delete its room, in one transaction."""
        async with self.repo.write() as repo:
            request = await self._pending(repo, request_id)
            room = await repo.room_by_id(request.room_id) if request.room_id else None
            if room is None:
                raise errors.RoomGone(
                    f'Room "{request.room_name}" no longer exists, so request #{request.id} '
                    "cannot be approved."
                )
            now = now_iso()
            await repo.decide_request(
                request.id, status=RequestStatus.APPROVED, actor=admin, now=now
            )
            await repo.delete_room(room.id)
            await self._audit(
                admin,
                "room.delete",
                room.name,
                f"Approved request #{request.id} from {request.requester}; "
                f"deleted {_room_summary(room)}",
                _audit_view(room),
                None,
            )
            decided = await repo.get_request(request.id)
        assert decided is not None
        await self._notify_room(RoomChange("deleted", room))
        return decided, room

    async def deny_deletion(self, request_id: int, *, admin: str) -> DeletionRequest:
        async with self.repo.write() as repo:
            request = await self._pending(repo, request_id)
            await repo.decide_request(
                request.id, status=RequestStatus.DENIED, actor=admin, now=now_iso()
            )
            await self._audit(
                admin,
                "deletion.deny",
                request.room_name,
                f"Denied request #{request.id} from {request.requester} to delete "
                f'room "{request.room_name}"',
            )
            decided = await repo.get_request(request.id)
        assert decided is not None
        return decided

    async def cancel_deletion(self, request_id: int, *, actor: str) -> DeletionRequest:
        async with self.repo.write() as repo:
            request = await self._pending(repo, request_id)
            await repo.decide_request(
                request.id, status=RequestStatus.CANCELLED, actor=actor, now=now_iso()
            )
            await self._audit(
                actor,
                "deletion.cancel",
                request.room_name,
                f"Cancelled deletion request #{request.id}",
            )
            decided = await repo.get_request(request.id)
        assert decided is not None
        return decided

    # -- Slack cards ----------------------------------------------------------------------

    async def remember_card(
        self,
        *,
        channel: str,
        ts: str,
        room_id: int,
        include_pin: bool,
        posted_by: str,
        shown_pin: str | None = None,
    ) -> SlackCard:
        """Remember a posted dial-in card so it keeps updating, also after a restart.

        ``shown_pin`` is the PIN the card was posted with: if it changed while the card was
        being posted, the card keeps updating without a PIN (the new one must not reach a
        channel that was shown the old one)."""
        async with self.repo.write() as repo:
            room = await repo.room_by_id(room_id)
            include_pin = include_pin and room is not None and room.pin == shown_pin
            card = SlackCard(channel, ts, room_id, include_pin, posted_by, now_iso())
            await repo.insert_card(card)
            await self._audit(
                posted_by,
                "card.post",
                room.name if room else str(room_id),
                f"Posted a dial-in card in {channel}"
                + (" including the PIN" if include_pin else ""),
            )
        for listener in self._card_listeners:
            try:
                await listener(card)
            except Exception:
                log.exception("card listener %r failed on a new card", listener)
        return card

    async def cards(self, room_id: int | None = None) -> list[SlackCard]:
        async with self.repo.read() as repo:
            return await repo.list_cards(room_id)

    async def card_state(self, channel: str, ts: str) -> tuple[SlackCard, Room | None] | None:
        """A remembered card and its room (None once deleted), both as of one commit; None
        when the card is no longer remembered."""
        async with self.repo.read() as repo:
            return await repo.card_with_room(channel, ts)

    async def data_version(self) -> int:
        """Changes whenever another connection (another process, such as the CLI) commits."""
        async with self.repo.read() as repo:
            return await repo.data_version()

    async def forget_card(self, channel: str, ts: str) -> None:
        async with self.repo.write() as repo:
            await repo.delete_card(channel, ts)

    # -- audit ----------------------------------------------------------------------------

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        if limit < 1:
            raise errors.InvalidInput("The audit limit must be at least 1.", field="limit")
        async with self.repo.read() as repo:
            return await repo.list_audit(limit)


def _require_admin(role: Role, actor: str, room: Room, what: str) -> None:
    if role is not Role.ADMIN:
        refused = errors.NotAllowed(f"Only admins can {what}.")
        refused.audit = (actor, "owner.refused", room.name, f"Refused: {what}")
        raise refused


def _validate(**checks: Any) -> dict[str, Any]:
    """Run every check; report all malformed values together."""
    values: dict[str, Any] = {}
    problems: list[errors.DomainError] = []
    for field, check in checks.items():
        try:
            values[field] = check()
        except errors.InvalidInput as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise errors.ValidationFailed(problems)
    return values
