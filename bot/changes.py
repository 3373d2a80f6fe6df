"""What the service tells others after a change is committed.

``Observer`` is told of every committed room and server change (the PBX's AstDB sync, live
Slack views); a ``CardListener`` of every dial-in card remembered. The service calls them
after the transaction, so a failing one never undoes the change; one that could not carry
it out says so (``Observer``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.models import Room, Server, SlackCard


@dataclass(frozen=True, slots=True)
class RoomChange:
    """A room as committed; ``previous`` is the room before an update."""

    kind: Literal["created", "updated", "deleted"]
    room: Room
    previous: Room | None = None


class Observer(Protocol):
    """Told of every committed change (the PBX sync, live Slack views).

    An observer that must carry a change out (the PBX sync) returns once it has, or raises
    ``bot.errors.ChangeNotApplied`` when it could not in time; the service then raises that
    to the caller once every observer was told. Any other failure is logged and hidden.
    """

    async def room_changed(self, change: RoomChange) -> None: ...

    async def server_changed(self, server: Server | None) -> None: ...


CardListener = Callable[[SlackCard], Awaitable[None]]
