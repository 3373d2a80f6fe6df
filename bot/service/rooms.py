"""Rooms: list, find, create, edit and delete them, each change checked against the rules
(``bot.rules``) and the other rooms, audited, and told to the observers once committed."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from bot import errors
from bot.changes import RoomChange
from bot.models import Role, Room
from bot.repository import Repository, is_unique_violation
from bot.rules import (
    MAX_PARTICIPANTS,
    OWNER_PREFIX,
    clean_conference_id,
    clean_language,
    clean_max_participants,
    clean_moderator_pin,
    clean_name,
    clean_pin,
    name_key,
    validate_all,
)
from bot.service.access import AccessMixin
from bot.service.audit_text import audit_view, describe_changes, room_summary
from bot.service.base import now_iso


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Not given" for ``update_room``: only the values given change (``pin=None`` removes the PIN).
UNSET: Any = _Unset()


def _pin_or_none(pin: str | None) -> str | None:
    """The PIN as it will be stored, for comparing with a moderator PIN (None if invalid:
    its own check reports it)."""
    try:
        return clean_pin(pin)
    except errors.DomainError:
        return None


def _require_moderator_pin(room: Room) -> None:
    """Waiting for a moderator (or ending with the last one) needs a way to be one."""
    if (room.wait_for_moderator or room.end_with_moderator) and room.moderator_pin is None:
        raise errors.InvalidInput(
            "Waiting for a moderator and ending the call with the last moderator need a "
            "moderator PIN (callers would wait for ever): set one, or turn those options off.",
            field="options",
        )


def _clean_options(options: dict[str, bool]) -> dict[str, bool]:
    """The call options given, each a known name with a yes/no value."""
    known = Room.__dataclass_fields__  # the options are Room fields
    names = ("wait_for_moderator", "end_with_moderator", "start_muted", "lobby", "join_notes")
    unknown = sorted(set(options) - set(names))
    if unknown or not set(names) <= set(known):
        raise errors.InvalidInput(
            f"Unknown call option(s): {', '.join(unknown)}. Known: {', '.join(names)}.",
            field="options",
        )
    return {name: bool(value) for name, value in options.items()}


# A room not yet created, for the checks that look at a whole room.
_DRAFT = Room(0, "", "", None, 10, "en", "", "", "", "")


class RoomsMixin(AccessMixin):
    """Rooms: each change is checked, audited and told to the observers once committed."""

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
        moderator_pin: str | None = None,
        options: dict[str, bool] | None = None,
    ) -> Room:
        """Create a room. Invalid values are all reported at once (``ValidationFailed``).
        A Slack user who creates a room owns it; guests may not create rooms. ``options``:
        the call options by name (``Room.options()``), off when not given."""
        await self.refuse_guest(actor, role, "create rooms", "room")
        flags = _clean_options(options or {})
        values = validate_all(
            name=lambda: clean_name(name),
            conference_id=lambda: clean_conference_id(conference_id),
            pin=lambda: clean_pin(pin),
            max_participants=lambda: clean_max_participants(max_participants),
            language=lambda: clean_language(language),
            moderator_pin=lambda: clean_moderator_pin(moderator_pin, _pin_or_none(pin)),
        )
        _require_moderator_pin(
            replace(_DRAFT, moderator_pin=values["moderator_pin"],
                    wait_for_moderator=flags.get("wait_for_moderator", False),
                    end_with_moderator=flags.get("end_with_moderator", False))
        )  # fmt: skip
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
                    moderator_pin=values["moderator_pin"],
                    options=flags,
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
                f"Created {room_summary(room)}",
                None,
                audit_view(room),
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
        moderator_pin: str | None = UNSET,
        options: dict[str, bool] | None = None,
    ) -> Room:
        """Change a room; only the values given change. ``pin=None`` removes the PIN,
        ``moderator_pin=None`` the moderator PIN; ``options`` changes the call options it
        names. Only the room's owners and admins may (``NotAllowed``, audited, for others)."""
        flags = _clean_options(options or {})
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
            new_pin = _pin_or_none(pin) if pin is not UNSET else before.pin
            if moderator_pin is not UNSET:
                checks["moderator_pin"] = lambda: clean_moderator_pin(moderator_pin, new_pin)
            elif before.moderator_pin is not None and pin is not UNSET:
                checks["moderator_pin"] = lambda: clean_moderator_pin(before.moderator_pin,
                                                                      new_pin)  # fmt: skip
            values = validate_all(**checks)  # after: a refusal is audited whatever was typed
            wanted = replace(
                before,
                name=values.get("name", before.name),
                conference_id=values.get("conference_id", before.conference_id),
                pin=values.get("pin", before.pin),
                max_participants=values.get("max_participants", before.max_participants),
                language=values.get("language", before.language),
                moderator_pin=values.get("moderator_pin", before.moderator_pin),
                wait_for_moderator=flags.get("wait_for_moderator", before.wait_for_moderator),
                end_with_moderator=flags.get("end_with_moderator", before.end_with_moderator),
                start_muted=flags.get("start_muted", before.start_muted),
                lobby=flags.get("lobby", before.lobby),
                join_notes=flags.get("join_notes", before.join_notes),
            )
            _require_moderator_pin(wanted)
            changes = describe_changes(before, wanted)
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
                moderator_pin=wanted.moderator_pin,
                options=wanted.options(),
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
                audit_view(before),
                audit_view(after),
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
                f"Deleted {room_summary(room)}",
                audit_view(room),
                None,
            )
        await self._notify_room(RoomChange("deleted", room))
        return room
