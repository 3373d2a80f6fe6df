"""The lobby as the bot sees it over AMI: callers waiting for an owner's decision.

The dialplan does the waiting (``extensions.conf``, ``[conference-lobby]``): it writes
``conference/lobby/<ROOM>/<UNIQUEID> = waiting``, raises ``UserEvent: ConferenceLobby``,
plays music and polls the key every second; ``admit`` lets the caller in, anything else (a
refusal, the key gone) never does; the time limit is its own. So a caller waiting holds,
and times out, while the bot is down. This module only reads and writes that state:

- :class:`LobbyArrival` / :class:`LobbyDone`: the two UserEvents, typed at the edge (every
  text in them was filtered by the dialplan, and is filtered again here);
- :class:`PbxLobby`: hands them to its listeners; on every (re)connect reads the keys back
  (``DBGetTree``) and tells the listeners what is waiting (:meth:`LobbyListener.reconciled`),
  with a description of each caller read from the channel (``CoreShowChannels``,
  ``Getvar``) for callers who arrived while the bot was away; writes a decision
  (``DBPut``) only over a key that still says ``waiting``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from telephony.ami import AmiClient
from telephony.background import Background
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.naming import (
    LOBBY_ADMIT,
    LOBBY_FAMILY,
    LOBBY_REFUSE,
    LOBBY_WAITING,
    caller_number,
    endpoint_name,
    lobby_family,
)

log = logging.getLogger(__name__)

ARRIVAL_EVENT = "ConferenceLobby"
DONE_EVENT = "ConferenceLobbyDone"
_NAME_CHARS = frozenset("-_. 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_UNIQUEID_CHARS = frozenset("0123456789.")


class LobbyResult(StrEnum):
    """How a caller stopped waiting (the dialplan's ``Result``)."""

    ADMITTED = "admitted"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    LEFT = "left"


def _int(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _uniqueid(value: Any) -> str:
    """A channel Uniqueid (``1700000000.42``): digits and dots only, or ""."""
    text = str(value or "").strip()
    return text if text and len(text) <= 64 and set(text) <= _UNIQUEID_CHARS else ""


def caller_name(value: Any) -> str:
    """A caller ID name as the dialplan passes it on: letters, digits, ``-_. ``, 40 at most."""
    return "".join(c for c in str(value or "") if c in _NAME_CHARS).strip()[:40]


@dataclass(frozen=True, slots=True)
class LobbyArrival:
    """``UserEvent: ConferenceLobby``: a caller starts waiting (or, read back after a
    reconnect, is waiting)."""

    room_id: int
    conference_id: str
    uniqueid: str
    channel: str
    caller: str  # the caller ID number, filtered
    caller_name: str
    endpoint: str  # the phone account or trunk the call came in on
    until: int  # epoch seconds: the dialplan gives up then

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> LobbyArrival | None:
        if str(msg.get("UserEvent", "")) != ARRIVAL_EVENT:
            return None
        room, uniqueid, until = (
            _int(msg.get("Room")),
            _uniqueid(msg.get("Uniqueid")),
            _int(msg.get("Until")),
        )
        if room is None or not uniqueid or until is None:
            return None
        return cls(
            room_id=room,
            conference_id="".join(c for c in str(msg.get("ConferenceID", "")) if c.isdigit())[:10],
            uniqueid=uniqueid,
            channel=str(msg.get("Channel", "") or "")[:128],
            caller=caller_number(str(msg.get("Caller", "") or "")),
            caller_name=caller_name(msg.get("CallerName")),
            endpoint=endpoint_name(str(msg.get("Endpoint", "") or "")),
            until=until,
        )


@dataclass(frozen=True, slots=True)
class LobbyDone:
    """``UserEvent: ConferenceLobbyDone``: a caller stopped waiting; the key is gone."""

    room_id: int
    uniqueid: str
    result: LobbyResult

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> LobbyDone | None:
        if str(msg.get("UserEvent", "")) != DONE_EVENT:
            return None
        room, uniqueid = _int(msg.get("Room")), _uniqueid(msg.get("Uniqueid"))
        try:
            result = LobbyResult(str(msg.get("Result", "")))
        except ValueError:
            return None
        if room is None or not uniqueid:
            return None
        return cls(room, uniqueid, result)


@dataclass(frozen=True, slots=True)
class LobbyKey:
    """One key under ``conference/lobby``: a caller waiting, or a decision the dialplan
    has not acted on yet (it polls every second)."""

    room_id: int
    uniqueid: str
    state: str  # waiting | admit | refuse


def parse_keys(entries: Mapping[str, str]) -> dict[str, LobbyKey]:
    """``DBGetTree`` answers (``/conference/lobby/<ROOM>/<UNIQUEID>`` -> value), by Uniqueid."""
    keys: dict[str, LobbyKey] = {}
    prefix = f"{LOBBY_FAMILY}/"
    for key, value in entries.items():
        path = key.strip().strip("/")
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        if len(parts) != 2 or not parts[0].isdigit() or not _uniqueid(parts[1]):
            continue
        keys[parts[1]] = LobbyKey(int(parts[0]), parts[1], value.strip())
    return keys


class LobbyListener(Protocol):
    """What the lobby tells (the Slack side: ``commands.lobby.LobbyDesk``)."""

    async def arrived(self, arrival: LobbyArrival) -> None: ...

    async def done(self, done: LobbyDone) -> None: ...

    async def reconciled(self, keys: dict[str, LobbyKey], lobby: PbxLobby) -> None:
        """After each (re)connect: every key now in AstDB, by Uniqueid."""
        ...


class PbxLobby:
    """The lobby's AMI side; see the module docstring."""

    def __init__(self, ami: AmiClient) -> None:
        self._ami = ami
        self._listeners: list[LobbyListener] = []
        self._background = Background(log, "lobby handler failed")

    @property
    def online(self) -> bool:
        return self._ami.connected

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self) -> None:
        """Every AMI event the lobby handles, in one place."""
        self._ami.register_event("UserEvent", self._on_user_event)
        self._ami.on_ready(self._reconnected)

    def add_listener(self, listener: LobbyListener) -> Callable[[], None]:
        """Be told of arrivals, departures and, at once if connected, what is waiting."""
        self._listeners.append(listener)
        if self.online:
            self._background.spawn(self._reconcile([listener]))
        return lambda: self._listeners.remove(listener)

    async def wait_idle(self) -> None:
        """Return once every event seen so far is handled (tests)."""
        while self._background.tasks:
            await asyncio.gather(*list(self._background.tasks), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._background.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- events ---------------------------------------------------------------------------

    def _on_user_event(self, msg: Mapping[str, Any]) -> None:
        arrival = LobbyArrival.parse(msg)
        if arrival is not None:
            for listener in list(self._listeners):
                self._background.spawn(listener.arrived(arrival))
            return
        done = LobbyDone.parse(msg)
        if done is not None:
            for listener in list(self._listeners):
                self._background.spawn(listener.done(done))

    async def _reconnected(self) -> None:
        await self._reconcile(list(self._listeners))

    async def _reconcile(self, listeners: list[LobbyListener]) -> None:
        if not listeners:
            return
        try:
            keys = await self.keys()
        except (PbxUnavailable, PbxActionFailed) as exc:
            log.warning("could not read the lobby back (%s); the next reconnect will", exc)
            return
        for listener in listeners:
            await listener.reconciled(keys, self)

    # -- AstDB ----------------------------------------------------------------------------

    async def keys(self) -> dict[str, LobbyKey]:
        """Every lobby key now in AstDB, by Uniqueid."""
        listing = await self._ami.list_action(
            {"Action": "DBGetTree", "Family": LOBBY_FAMILY}, strict=True
        )
        return parse_keys(
            {
                str(m.get("Key", "")): str(m.get("Val", "") or "")
                for m in listing
                if str(m.get("Event", "")) == "DBGetTreeResponse"
            }
        )

    async def state(self, room_id: int, uniqueid: str) -> str | None:
        """The key's value now (None: no such key, the caller no longer waits)."""
        answer = await self._ami.list_action(
            {"Action": "DBGet", "Family": lobby_family(room_id), "Key": uniqueid}
        )
        for message in answer:
            if str(message.get("Event", "")) == "DBGetResponse":
                return str(message.get("Val", "") or "")
        return None

    async def decide(self, room_id: int, uniqueid: str, admit: bool) -> bool:
        """Write the decision for a caller still waiting; False when they no longer wait
        (left, timed out, decided): nothing is written then. Raises ``PbxUnavailable`` /
        ``PbxActionFailed`` when the PBX did not take it."""
        if await self.state(room_id, uniqueid) != LOBBY_WAITING:
            return False
        await self._ami.action({"Action": "DBPut", "Family": lobby_family(room_id),
                                "Key": uniqueid,
                                "Val": LOBBY_ADMIT if admit else LOBBY_REFUSE})  # fmt: skip
        return True

    async def describe(self, key: LobbyKey) -> LobbyArrival | None:
        """A waiting caller as the ``ConferenceLobby`` event described them, read from
        their channel (for one who arrived while the bot was away); None when the
        channel is gone."""
        channels = await self._ami.list_action({"Action": "CoreShowChannels"})
        channel = next(
            (str(c.get("Channel", "")) for c in channels
             if str(c.get("Uniqueid", "")) == key.uniqueid),
            "",
        )  # fmt: skip
        if not channel:
            return None
        values: dict[str, str] = {}
        for name in ("LOBBY_UNTIL", "LOBBY_NAME", "confid", "cnum", "cep"):
            try:
                answer = await self._ami.action(
                    {"Action": "Getvar", "Channel": channel, "Variable": name}
                )
            except PbxActionFailed:
                return None  # hung up meanwhile
            values[name] = str(answer.get("Value", "") or "")
        return LobbyArrival.parse(
            {
                "UserEvent": ARRIVAL_EVENT,
                "Room": str(key.room_id),
                "ConferenceID": values["confid"],
                "Uniqueid": key.uniqueid,
                "Channel": channel,
                "Caller": values["cnum"],
                "CallerName": values["LOBBY_NAME"],
                "Endpoint": values["cep"],
                "Until": values["LOBBY_UNTIL"],
            }
        )
