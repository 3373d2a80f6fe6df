"""Dial-in cards: Slack messages showing a room, remembered so they keep updating after a
restart; and the database's data version, which live views poll for other processes' changes."""

from __future__ import annotations

from bot.models import Room, SlackCard
from bot.service.base import ServiceBase, log, now_iso


class CardsMixin(ServiceBase):
    """Dial-in cards remembered for the live views."""

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
