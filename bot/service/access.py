"""Who may do what: admins, a room's owners, members and guests; and the room owners.

A refusal is ``NotAllowed``; it is written to the audit log once the refused transaction is
rolled back (``ServiceBase._writing``).
"""

from __future__ import annotations

from bot import errors
from bot.models import Role, Room, RoomOwner
from bot.repository import Repository
from bot.rules import clean_owner
from bot.service.base import ServiceBase, now_iso


class AccessMixin(ServiceBase):
    """Permissions (used by the rooms and requests areas) and room owners."""

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


def _require_admin(role: Role, actor: str, room: Room, what: str) -> None:
    if role is not Role.ADMIN:
        refused = errors.NotAllowed(f"Only admins can {what}.")
        refused.audit = (actor, "owner.refused", room.name, f"Refused: {what}")
        raise refused
