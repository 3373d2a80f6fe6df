"""The roster modal: who is in a room's call, and (for its owners and admins) buttons to run it.

Numbers are masked to their last 4 digits ("…1234") for anyone who may not manage the room,
also where a caller name spells out a number. Button values carry the room id and the
caller's Uniqueid, never a PIN. Sized for Slack's limits: two blocks a caller, cut with an
"and N more" line before 100 blocks; the private_metadata is a few characters.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.models import Room
from commands import ids
from commands.blocks.kit import (
    VIEW_BLOCKS,
    Block,
    View,
    and_more,
    button,
    confirm_dialog,
    context,
    count_text,
    esc,
    inert,
    parse_id,
    plain,
    section,
)

NAME_CHARS = 60  # a caller name is cut here (Asterisk allows 80; a line should stay a line)
# A run of digits long enough to be a phone number, spaces and dashes allowed in between.
_NUMBER_RUN = re.compile(r"\+?\d(?:[\d\s().-]*\d)?")
_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RosterCaller(Protocol):
    """What the roster shows of a caller (``telephony.tracker.Participant``)."""

    @property
    def uniqueid(self) -> str: ...

    @property
    def caller_id_num(self) -> str: ...

    @property
    def caller_id_name(self) -> str: ...

    @property
    def joined_at(self) -> float: ...

    @property
    def muted(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class CallerLine:
    """One caller as the roster shows them (talking and moderator come from the tracker)."""

    person: RosterCaller
    talking: bool
    moderator: bool


@dataclass(frozen=True, slots=True)
class CallState:
    locked: bool = False
    recording: bool = False


def mask_number(number: str) -> str:
    """The last 4 digits, "…1234"; "" when there are none."""
    digits = "".join(c for c in number if c.isdigit())
    return f"…{digits[-4:]}" if digits else ""


def mask_in_text(text: str) -> str:
    """``text`` with every number of 5 digits or more masked (a caller name may be a number)."""

    def masked(found: re.Match[str]) -> str:
        run = found.group(0)
        return mask_number(run) if sum(c.isdigit() for c in run) >= 5 else run

    return _NUMBER_RUN.sub(masked, text)


def _known(value: str) -> str:
    return "" if value in ("", "<unknown>") else value


def _name_and_number(person: RosterCaller, *, full: bool) -> tuple[str, str]:
    name = _known(person.caller_id_name).strip()
    number = _known(person.caller_id_num).strip()
    if name == number:
        name = ""
    if not full:
        name, number = mask_in_text(name), mask_number(number)
    if len(name) > NAME_CHARS:
        name = name[: NAME_CHARS - 1] + "…"
    return name, number


def caller_label(person: RosterCaller, *, full: bool) -> str:
    """Name and number for the roster (mrkdwn, escaped); masked unless ``full``."""
    name, number = _name_and_number(person, full=full)
    if name and number:
        return f"*{inert(name)}* ({inert(number)})"
    return f"*{inert(name or number) or 'Unknown caller'}*"


def caller_plain(person: RosterCaller) -> str:
    """The same as plain text (a confirm dialog), for the managers who see the buttons."""
    name, number = _name_and_number(person, full=True)
    if name and number:
        return f"{name} ({number})"
    return name or number or "This caller"


def _joined(at: float) -> str:
    """Slack shows the time in the reader's own time zone; the fallback is UTC."""
    stamp = int(at)
    fallback = time.strftime("%H:%M UTC", time.gmtime(stamp))
    return f"joined <!date^{stamp}^{{time}}|{fallback}>"


def caller_value(room: Room, person: RosterCaller) -> str:
    """A caller's button value: the room id and the caller's channel Uniqueid."""
    return f"{room.id}:{person.uniqueid}"


def parse_caller_value(value: str) -> tuple[int, str]:
    """(room id, Uniqueid) from ``caller_value``; ValueError for anything else (a Uniqueid
    is at most 64 letters, digits, dots, dashes or underscores)."""
    room, sep, uid = value.partition(":")
    room_id = parse_id(room)
    if not sep or room_id is None or not _UNIQUEID.fullmatch(uid):
        raise ValueError(value)
    return room_id, uid


def _room_actions(room: Room, state: CallState, count: int) -> Block:
    value = str(room.id)
    lock = (
        button("Unlock the room", ids.ROSTER_UNLOCK, value)
        if state.locked
        else button("Lock the room", ids.ROSTER_LOCK, value)
    )
    record = (
        button("Stop recording", ids.ROSTER_RECORD_STOP, value)
        if state.recording
        else button("Start recording", ids.ROSTER_RECORD_START, value)
    )
    end = button(
        "End the call",
        ids.ROSTER_END,
        value,
        style="danger",
        confirm=confirm_dialog(
            "End the call?",
            f"Everyone in the call of {room.name} ({count} now) will be hung up.",
            "End the call",
        ),
    )
    elements = [button("Mute all but moderators", ids.ROSTER_MUTE_OTHERS, value), lock, record]
    return {"type": "actions", "block_id": "roster-room", "elements": [*elements, end]}


def _caller_actions(room: Room, line: CallerLine, index: int) -> Block:
    person, value = line.person, caller_value(room, line.person)
    mute = (
        button("Unmute", ids.ROSTER_UNMUTE, value)
        if person.muted
        else button("Mute", ids.ROSTER_MUTE, value)
    )
    who = caller_plain(person)
    kick = button(
        "Remove",
        ids.ROSTER_KICK,
        value,
        style="danger",
        confirm=confirm_dialog(
            "Remove this caller?", f"{who} will hear a goodbye and be hung up.", "Remove"
        ),
    )
    return {"type": "actions", "block_id": f"roster-caller-{index}", "elements": [mute, kick]}


def _caller_text(line: CallerLine, *, full: bool) -> str:
    person = line.person
    first = caller_label(person, full=full)
    if line.moderator:
        first += " · moderator"
    marks = [_joined(person.joined_at)]
    marks.append(":mute: muted" if person.muted else ":microphone: not muted")
    if line.talking:
        marks.append(":speaking_head_in_silhouette: talking")
    return f"{first}\n{' · '.join(marks)}"


def join_from_browser_button(room: Room) -> Block:
    """On dial-in cards and the roster: whoever clicks gets a one-time link of their own
    to join from the browser (``commands.actions.web_join``)."""
    return button("Join from browser", ids.JOIN_FROM_BROWSER, str(room.id))


def state_marks(state: CallState) -> str:
    """The room's lock and recording marks, as cards and the roster show them."""
    marks = []
    if state.locked:
        marks.append(":lock: locked")
    if state.recording:
        marks.append(":red_circle: recording")
    return "".join(f" · {m}" for m in marks)


def roster_view(
    room: Room,
    people: Sequence[CallerLine],
    state: CallState,
    online: bool,
    *,
    manager: bool,
    notice: str | None = None,
    footer: str | None = None,
) -> View:
    """The modal. ``manager``: full numbers and the buttons; ``notice``: the outcome of the
    viewer's last click (mrkdwn, escaped by the caller); ``footer`` replaces the usual last
    line (a roster that stopped updating says so there)."""
    blocks: list[Block] = []
    if notice:
        blocks.append(section(notice, "roster-notice"))
    live = count_text(len(people), online)
    title = f"*{esc(room.name)}*: conference ID `{room.conference_id}`"
    marks = state_marks(state) if online else ""
    heading = section(f"{title}\n:telephone_receiver: {live}{marks}", "roster-title")
    heading["accessory"] = join_from_browser_button(room)
    blocks.append(heading)
    buttons = manager and online and bool(people)
    if buttons:
        blocks.append(_room_actions(room, state, len(people)))
    if people:
        blocks.append({"type": "divider"})
    per_caller = 2 if buttons else 1
    room_left = VIEW_BLOCKS - len(blocks) - 2  # "and N more" and the footer
    shown = people if len(people) * per_caller <= room_left else people[: room_left // per_caller]
    for index, line in enumerate(shown):
        blocks.append(section(_caller_text(line, full=manager), f"roster-line-{index}"))
        if buttons:
            blocks.append(_caller_actions(room, line, index))
    if len(shown) < len(people):
        blocks.append(context(and_more(len(people) - len(shown), "caller")))
    if footer is None:
        footer = "Updates live while open."
        if not manager:
            footer += " Numbers show their last 4 digits; owners and admins see them whole."
    blocks.append(context(footer))
    return {
        "type": "modal",
        "callback_id": ids.ROSTER_VIEW,
        "title": plain("Participants"),
        "close": plain("Close"),
        "notify_on_close": True,
        "private_metadata": json.dumps({"room": room.id}),
        "blocks": blocks,
    }


def roster_gone_view(room_name: str) -> View:
    """A roster's last update once its room was deleted."""
    return {
        "type": "modal",
        "callback_id": ids.ROSTER_VIEW,
        "title": plain("Participants"),
        "close": plain("Close"),
        "notify_on_close": True,
        "blocks": [section(f"~{esc(room_name)}~: this room was deleted.")],
    }


STOPPED = "This list stopped updating live. Close it and open it again for a fresh one."
