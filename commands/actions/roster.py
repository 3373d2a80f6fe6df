"""The roster's buttons: "Show participants" (dial-in card, Home tab) opens it; in it, owners
and admins mute, unmute, remove one caller, mute everyone but the moderators, lock, unlock,
start or stop recording, end the call.

Every click goes to the service with the clicker's own actor and role: the service checks
that they may manage the room (a refusal is audited), and returns once the PBX confirmed the
action. The outcome, or the reason it was refused, shows on top of the clicker's roster; a
click from anywhere else (a forged payload) is answered ephemerally or by DM. The roster
itself follows the call through ``LiveCards``, so it shows the new state on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.call_control import CallControl
from bot.models import Role
from bot.service import ConferenceService
from commands import ids
from commands.blocks.kit import esc, parse_id, shown_value
from commands.blocks.roster import parse_caller_value
from commands.context import Payload, SlackContext, actor
from commands.error_handler import deliver
from commands.roster import open_roster

# (service, room id, caller Uniqueid or "", calls, actor, role) -> what was done, for people
Run = Callable[[ConferenceService, int, str, CallControl, str, Role], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class RosterAction:
    per_caller: bool  # the value is "ROOM_ID:UNIQUEID" (else the room id)
    run: Run


async def _mute(
    service: ConferenceService, room: int, uid: str, calls: CallControl, who: str, role: Role,
    *, muted: bool,
) -> str:  # fmt: skip
    person = await service.mute_caller(room, uid, muted=muted, calls=calls, actor=who, role=role)
    return f"{'Muted' if muted else 'Unmuted'} {esc(person.caller)}."


async def _kick(
    service: ConferenceService, room: int, uid: str, calls: CallControl, who: str, role: Role
) -> str:
    person = await service.kick_caller(room, uid, calls=calls, actor=who, role=role)
    return f"Removed {esc(person.caller)} from the call; they heard a goodbye."


async def _mute_others(
    service: ConferenceService, room: int, _: str, calls: CallControl, who: str, role: Role
) -> str:
    count = await service.mute_others(room, calls=calls, actor=who, role=role)
    return f"Muted everyone but the moderators ({count} muted)."


async def _lock(
    service: ConferenceService, room: int, _: str, calls: CallControl, who: str, role: Role,
    *, locked: bool,
) -> str:  # fmt: skip
    await service.lock_call(room, locked=locked, calls=calls, actor=who, role=role)
    if locked:
        return "Locked the room: nobody else can join until it is unlocked."
    return "Unlocked the room: callers can join again."


async def _record(
    service: ConferenceService, room: int, _: str, calls: CallControl, who: str, role: Role,
    *, start: bool,
) -> str:  # fmt: skip
    await service.record_call(room, start, calls=calls, actor=who, role=role)
    if start:
        return "Recording started; everyone in the call heard so."
    return "Recording stopped; the file is posted where the room's dial-in card is."


async def _end(
    service: ConferenceService, room: int, _: str, calls: CallControl, who: str, role: Role
) -> str:
    count = await service.end_call(room, calls=calls, actor=who, role=role)
    return f"Ended the call ({count} hung up)."


MUTE = RosterAction(True, partial(_mute, muted=True))
UNMUTE = RosterAction(True, partial(_mute, muted=False))
KICK = RosterAction(True, _kick)
MUTE_OTHERS = RosterAction(False, _mute_others)
LOCK = RosterAction(False, partial(_lock, locked=True))
UNLOCK = RosterAction(False, partial(_lock, locked=False))
RECORD_START = RosterAction(False, partial(_record, start=True))
RECORD_STOP = RosterAction(False, partial(_record, start=False))
END = RosterAction(False, _end)

# The roster's buttons by action ID.
BUTTONS = {
    ids.ROSTER_MUTE: MUTE,
    ids.ROSTER_UNMUTE: UNMUTE,
    ids.ROSTER_KICK: KICK,
    ids.ROSTER_MUTE_OTHERS: MUTE_OTHERS,
    ids.ROSTER_LOCK: LOCK,
    ids.ROSTER_UNLOCK: UNLOCK,
    ids.ROSTER_RECORD_START: RECORD_START,
    ids.ROSTER_RECORD_STOP: RECORD_STOP,
    ids.ROSTER_END: END,
}


STALE = "That button is out of date. Close the list and open it again."


def _target(what: RosterAction, value: str) -> tuple[int, str] | None:
    """(room id, caller Uniqueid or "") from a button value; None for a value no roster of
    ours carries (forged or garbled)."""
    if what.per_caller:
        try:
            return parse_caller_value(value)
        except ValueError:
            return None
    room = parse_id(value)
    return None if room is None else (room, "")


async def _audit_refusal(
    service: ConferenceService, who: str, role: Role, action_id: str, room: int | None,
    reason: str,
) -> None:  # fmt: skip
    """Audit a refused click the service did not audit itself (it audits ``NotAllowed``)."""
    target = f"room {room}" if room is not None else "roster"
    if room is not None:
        with suppress(errors.DomainError):
            target = (await service.get_room_by_id(room)).name
    summary = f"Roster button {action_id} ({role.value}) not carried out: {reason}"
    await service.record(who, "call.refused", target, summary)


async def roster_action(
    ctx: SlackContext,
    what: RosterAction,
    ack: AsyncAck,
    body: Payload,
    action: Payload,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    await ack()
    user = body["user"]["id"]
    view_id = (body.get("view") or {}).get("id")
    service, who, action_id = ctx.deps.service, actor(user), str(action.get("action_id") or "")
    role = await ctx.role(user)
    value = str(action.get("value") or "")
    target = _target(what, value)
    room: int | None = None
    try:
        if target is None:
            raise errors.InvalidInput(STALE)
        room, uid = target
        done = await what.run(service, room, uid, ctx.deps.pbx, who, role)
        text, notice = f":white_check_mark: {done}", None  # the roster shows what changed
    except errors.DomainError as refused:
        text = notice = f":warning: {esc(refused.message)}"
        if not isinstance(refused, errors.NotAllowed):  # that one is audited already
            reason = (f"a value no roster carries, {shown_value(value)}" if target is None
                      else refused.message)  # fmt: skip
            await _audit_refusal(service, who, role, action_id, room, reason)
    if not ctx.homes.roster_notice(view_id, user, notice):
        await deliver(text, body, client, respond)


async def show_participants(
    ctx: SlackContext, ack: AsyncAck, body: Payload, action: Payload, client: AsyncWebClient
) -> None:
    """The "Show participants" button of a dial-in card or a room on the Home tab."""
    await ack()
    room_id = parse_id(str(action.get("value") or ""))
    if room_id is None:
        raise errors.InvalidInput("That button is out of date; post a fresh dial-in card.")
    room = await ctx.deps.service.get_room_by_id(room_id)
    await open_roster(ctx, client, body["trigger_id"], room, body["user"]["id"])


async def roster_closed(ctx: SlackContext, ack: AsyncAck, view: Payload) -> None:
    """``view_closed`` of a roster: stop updating it."""
    await ack()
    ctx.homes.roster_closed(str(view.get("id") or ""))
