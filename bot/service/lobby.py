"""The lobby: callers of a room with the lobby option wait until one of the room's owners
(or an admin) admits or refuses them.

The PBX holds the caller and enforces the decision and the time limit itself; the service
keeps one ``LobbyRequest`` row per waiting caller (so a restarted bot still knows whom it
asked, and where), decides who may answer, and audits every decision and refusal. It
writes the decision through a ``LobbyGate`` the front end passes in (``telephony.lobby.
PbxLobby`` is one): the core knows no AMI. A decision is reported as done only once the
PBX took it; the caller is admitted only after the gate wrote "admit" for a click of an
owner or admin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot import errors
from bot.models import LobbyRequest, LobbyStatus, Role, Room
from bot.service.access import AccessMixin
from bot.service.base import log, now_iso

LOBBY_ACTOR = "pbx"  # the audit log's actor for what the PBX decided (time limit, hang-up)


class LobbySettled(errors.Conflict):
    """The caller no longer waits, or someone decided first."""

    code = "lobby_settled"


class LobbyGate(Protocol):
    """What writes a decision to the PBX (``telephony.lobby.PbxLobby``)."""

    @property
    def online(self) -> bool: ...

    async def decide(self, room_id: int, uniqueid: str, admit: bool) -> bool:
        """Write the decision; False when the caller no longer waits (nothing written)."""
        ...


def masked(number: str) -> str:
    """A caller's number as a channel may read it: ``…1234`` (the last 4 characters)."""
    if not number:
        return "no caller ID"
    return f"…{number[-4:]}" if len(number) > 4 else number


def caller_label(request: LobbyRequest) -> str:
    """How the audit log names a waiting caller (the full number: the log is the admins')."""
    number = request.caller_number or "no caller ID"
    line = f" via {request.endpoint}" if request.endpoint and request.endpoint != number else ""
    return f"{number}{line}"


def epoch_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def expired(request: LobbyRequest, now: float) -> bool:
    """Whether the PBX's time limit for the caller has passed."""
    limit = datetime.fromisoformat(request.expires_at.replace("Z", "+00:00")).timestamp()
    return now >= limit


class LobbyMixin(AccessMixin):
    """Lobby requests: arrivals, decisions (owners and admins only), outcomes."""

    async def lobby_arrived(
        self, room_id: int, uniqueid: str, *, caller_number: str, caller_name: str,
        endpoint: str, until: float,
    ) -> tuple[LobbyRequest, Room]:  # fmt: skip
        """The request of a caller who started waiting (or was found waiting after a
        restart: the same row then). ``RoomNotFound`` for a room that is gone."""
        async with self.repo.write() as repo:
            room = await self._find(repo, room_id)
            request = await repo.insert_lobby_request(
                room=room, uniqueid=uniqueid, caller_number=caller_number,
                caller_name=caller_name, endpoint=endpoint, now=now_iso(),
                expires_at=epoch_iso(until),
            )  # fmt: skip
        return request, room

    async def lobby_posted(self, request_id: int, channel: str, ts: str) -> None:
        """Where the message asking the owners is (to update it later)."""
        async with self.repo.write() as repo:
            await repo.set_lobby_message(request_id, channel, ts)

    async def lobby_request(self, request_id: int) -> LobbyRequest | None:
        async with self.repo.read() as repo:
            return await repo.lobby_request(request_id)

    async def lobby_waiting(self) -> list[LobbyRequest]:
        """Every request still waiting, oldest first."""
        async with self.repo.read() as repo:
            return await repo.waiting_lobby_requests()

    async def decide_lobby(
        self, request_id: int, admit: bool, *, gate: LobbyGate | None, actor: str,
        role: Role = Role.ADMIN,
    ) -> LobbyRequest:  # fmt: skip
        """Admit (or refuse) a waiting caller, for the room's owners and the admins only
        (others: ``NotAllowed``, audited). Returns the request once the PBX has the
        decision; the caller is let in or sent away by the dialplan within a second."""
        verb = "admit" if admit else "refuse"
        request = await self.lobby_request(request_id)
        if request is None or request.room_id is None:
            raise LobbySettled(
                "That caller is no longer waiting (their room was deleted, or "
                "the request is unknown); nothing was decided."
            )
        room = await self.require_manager(request.room_id, actor, role,
                                          f"{verb} callers waiting in its lobby")  # fmt: skip
        who = masked(request.caller_number)
        if not request.waiting or request.decided_by is not None:
            raise LobbySettled(_settled_text(request, who))
        if gate is None or not gate.online:
            raise errors.PbxUnavailable(
                f"The phone system (PBX) is not reachable right now, so ({who}) is still "
                "waiting and nothing was decided. Try again in a moment."
            )
        async with self.repo.write() as repo:
            claimed = await repo.claim_lobby_decision(request_id, actor=actor, now=now_iso())
        if not claimed:
            latest = await self.lobby_request(request_id)
            raise LobbySettled(_settled_text(latest or request, who))
        try:
            written = await gate.decide(room.id, request.uniqueid, admit)
        except BaseException:
            async with self.repo.write() as repo:
                await repo.release_lobby_decision(request_id)
            raise
        if not written:
            async with self.repo.write() as repo:
                await repo.release_lobby_decision(request_id)
            raise LobbySettled(f"({who}) is no longer waiting: they hung up or timed out.")
        done = "Admitted" if admit else "Refused"
        await self.record(actor, f"lobby.{verb}", room.name,
                          f'{done} caller {caller_label(request)} waiting in the lobby of room '
                          f'"{room.name}"')  # fmt: skip
        latest = await self.lobby_request(request_id)
        assert latest is not None
        return latest

    async def lobby_decision(self, request: LobbyRequest) -> bool | None:
        """Whether the decision on ``request`` was to admit (None: none was carried out),
        from the audit log: what a bot restarted mid-decision knows of it."""
        if request.decided_by is None or request.decided_at is None:
            return None
        async with self.repo.read() as repo:
            action = await repo.lobby_decision_audited(
                request.decided_by, request.decided_at, caller_label(request)
            )
        return None if action is None else action == "lobby.admit"

    async def lobby_finished(self, uniqueid: str, status: LobbyStatus) -> LobbyRequest | None:
        """The caller stopped waiting (the PBX says how); the request, or None when it was
        not waiting (unknown, or already finished). Time-outs and hang-ups are audited."""
        async with self.repo.write() as repo:
            changed = await repo.finish_lobby_request(uniqueid, status, now=now_iso())
            request = await repo.lobby_request_by_uniqueid(uniqueid)
            if changed and request is not None and status in (LobbyStatus.TIMEOUT,
                                                              LobbyStatus.LEFT):  # fmt: skip
                what = ("nobody answered in time" if status is LobbyStatus.TIMEOUT
                        else "hung up while waiting")  # fmt: skip
                await self._audit(LOBBY_ACTOR, f"lobby.{status.value}", request.room_name,
                                  f"Caller {caller_label(request)} in the lobby of room "
                                  f'"{request.room_name}": {what}')  # fmt: skip
        if not changed:
            return None
        log.info("lobby request %s: %s", request.id if request else uniqueid, status.value)
        return request


def _settled_text(request: LobbyRequest, who: str) -> str:
    if request.status is LobbyStatus.WAITING:
        return f"({who}) was already decided on; the message updates in a moment."
    return {
        LobbyStatus.ADMITTED: f"({who}) was already admitted.",
        LobbyStatus.REFUSED: f"({who}) was already refused.",
        LobbyStatus.TIMEOUT: f"({who}) is no longer waiting: nobody answered in time.",
        LobbyStatus.LEFT: f"({who}) is no longer waiting: they hung up.",
    }[request.status]
