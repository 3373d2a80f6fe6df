"""What the service tests share: an admin actor and a room maker."""

from __future__ import annotations

from bot.models import Room
from bot.service import ConferenceService

ADMIN = "test:admin"


async def make_room(
    service: ConferenceService, name: str = "Sales", cid: str = "1234", **kw: object
) -> Room:
    return await service.create_room(name=name, conference_id=cid, actor=ADMIN, **kw)  # type: ignore[arg-type]
