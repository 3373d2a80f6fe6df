"""Keypad requests the dialplan passes to the bot: a moderator's ``*4`` (start or stop
recording) arrives as ``UserEvent(ConferenceRecordToggle, Room: <id>, Caller: <number>)``.

The dialplan only tells; the bot decides and acts (``bot.serve`` hands this a callback that
goes through the service, audited as ``keypad:<number>``). One toggle per room at a time: a
second ``*4`` while the first is still being carried out is ignored, so a double press does
not start and at once stop a recording.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from panoramisk.message import Message

from telephony.ami import AmiClient
from telephony.background import Background
from telephony.naming import caller_number

log = logging.getLogger(__name__)

RECORD_TOGGLE = "ConferenceRecordToggle"

Toggle = Callable[[int, str], Awaitable[None]]  # (room id, caller's number)


class KeypadListener:
    """Calls ``on_record_toggle(room_id, caller)`` for each moderator's ``*4``."""

    def __init__(self, on_record_toggle: Toggle) -> None:
        self._toggle = on_record_toggle
        self._busy: set[int] = set()
        self._background = Background(log, "keypad record toggle failed")

    def subscribe(self, ami: AmiClient) -> None:
        ami.register_event("UserEvent", self._on_user_event)

    def _on_user_event(self, msg: Message) -> None:
        if str(msg.get("UserEvent", "")) != RECORD_TOGGLE:
            return
        room = str(msg.get("Room", "")).strip()
        if not room.isdigit():
            log.warning("%s without a room id; ignored", RECORD_TOGGLE)
            return
        room_id = int(room)
        if room_id in self._busy:
            log.info("room %s: recording toggle already under way; *4 ignored", room_id)
            return
        self._busy.add(room_id)
        self._background.spawn(self._run(room_id, caller_number(str(msg.get("Caller", "")))))

    async def _run(self, room_id: int, caller: str) -> None:
        try:
            await self._toggle(room_id, caller or "unknown")
        finally:
            self._busy.discard(room_id)

    async def close(self) -> None:
        for task in list(self._background.tasks):
            task.cancel()
