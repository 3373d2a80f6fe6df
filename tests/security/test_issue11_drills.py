"""Attack drills against issue 11 (the live roster and its buttons, the lobby's Admit and
Refuse, recordings, moderators): forged and replayed Slack clicks, tampered button values,
caller-chosen text, the secrets, and races at the PBX. Each test is one attack; the real Bolt
app gets requests signed as Slack signs them (tests/commands/conftest.py), and the PBX side is
a real Asterisk where what happens there matters (tests/pbx_fixtures.py).

For the clicks, the bot's AMI connection is a spy that says it is up and records every action
it is asked to send, so "nothing happened at the PBX" is checked, not assumed; a control
click of an admin shows the same path does reach it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from panoramisk.message import Message

from bot.config import Settings
from bot.errors import DomainError
from bot.models import LobbyRequest, LobbyStatus, Recording, RecordingStatus, Room
from bot.service import ConferenceService
from bot.wiring import Deps
from commands import ids
from commands.blocks.lobby import lobby_settled, lobby_waiting
from commands.blocks.roster import CallerLine, CallState, roster_view
from commands.join_notes import caller_text as note_text
from commands.recordings import initial_comment, who
from telephony.ami import AmiClient
from telephony.lobby import PbxLobby
from telephony.naming import LOBBY_WAITING, RECORDING_KEY, live_family
from telephony.pbx_actions import PbxActions
from telephony.tracker import Participant, ParticipantTracker
from tests.commands.conftest import (  # noqa: F401 (fixtures)
    ADMIN,
    ALICE,
    CHANNEL,
    HttpDriver,
    app_home_opened,
    eventually,
    fake,
    join,
    live,
    runner,
    slack,
    tracker,
)
from tests.commands.test_room_modals import open_modal
from tests.fake_slack import FakeSlack
from tests.pbx_fixtures import Pbx
from tests.pbx_fixtures import eventually as pbx_eventually
from tests.telephony.sipp import allow_go_ahead, go_ahead

BOB = "UBOB"  # a member of the workspace who owns nothing
GUEST = "UGUEST"  # a guest account
OUTSIDER = "UOUTSIDE"  # someone of another team (a Slack Connect channel)
STRANGERS = (BOB, GUEST, OUTSIDER)
NUMBER = "+15551234567"
PIN, MODPIN = "2468", "97531"

ROOM_BUTTONS = (ids.ROSTER_MUTE_OTHERS, ids.ROSTER_LOCK, ids.ROSTER_UNLOCK,
                ids.ROSTER_RECORD_START, ids.ROSTER_RECORD_STOP, ids.ROSTER_END)  # fmt: skip
CALLER_BUTTONS = (ids.ROSTER_MUTE, ids.ROSTER_UNMUTE, ids.ROSTER_KICK)


class SpyAmi(AmiClient):
    """An AMI connection that reads as up and records what it is asked to do: every action
    is answered Success, every list (a DBGet of a lobby key among them) as ``listing``."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=1, username="bot", secret="unused")
        self.sent: list[dict[str, Any]] = []
        self.lobby_state: str | None = LOBBY_WAITING

    @property
    def connected(self) -> bool:
        return True

    async def action(self, action: Mapping[str, Any], *, timeout: float | None = None) -> Message:
        self.sent.append(dict(action))
        return Message({"Response": "Success", "ActionID": "1"})

    async def list_action(
        self, action: Mapping[str, Any], *, timeout: float | None = None, strict: bool = False
    ) -> list[Message]:
        self.sent.append(dict(action))
        if action.get("Action") == "DBGet" and self.lobby_state is not None:
            return [Message({"Event": "DBGetResponse", "Val": self.lobby_state})]
        return []

    def changes(self) -> list[dict[str, Any]]:
        """What would have changed something at the PBX (not reads)."""
        return [a for a in self.sent if a.get("Action") not in ("DBGet", "DBGetTree",
                                                                "ConfbridgeListRooms")]  # fmt: skip


@pytest.fixture
def spy() -> SpyAmi:
    return SpyAmi()


@pytest.fixture
def deps(
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
    tmp_path: Path,
) -> Deps:
    tracker.online = True
    return Deps(
        settings=Settings.from_environ({}, cwd=tmp_path),
        service=service,
        ami=spy,
        tracker=tracker,
        pbx=PbxActions(spy, tracker, confirm_within=0.2, recordings_dir=tmp_path / "rec"),
        lobby=PbxLobby(spy),
    )


@pytest.fixture(autouse=True)
def people(fake: FakeSlack) -> None:  # noqa: F811
    fake.profiles[GUEST] = {"is_restricted": True}
    fake.profiles[OUTSIDER] = {"team_id": "TOTHER"}


async def _async(value: bool) -> bool:
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def two_rooms(
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
) -> tuple[Room, Room]:
    """Alice owns "Sales" (a caller in it); "Board" (a caller in it) is not hers."""
    sales = await service.create_room(name="Sales", conference_id="4242", actor="t")
    board = await service.create_room(name="Board", conference_id="5353", actor="t")
    await service.add_owner(sales.id, ALICE, actor="t")
    join(tracker, sales.id, "1700000000.1", NUMBER, name="Ana")
    join(tracker, board.id, "1700000000.2", "15559876543", name="Bea")
    return sales, board


async def click(slack: HttpDriver, action_id: str, value: str, user: str) -> str:  # noqa: F811
    """A click on a message in a channel; the text the clicker is answered with."""
    before = len(slack.fake.calls_to("response_url"))
    reply = await slack.click(action_id, value, user=user, channel=CHANNEL)
    assert reply.status == 200
    answer = await slack.fake.wait_for("response_url", count=before + 1)
    assert answer.args.get("response_type") == "ephemeral", answer.args
    return str(answer.args["text"])


async def audited(service: ConferenceService, user: str, action: str) -> int:
    return sum(e.actor == f"slack:{user}" and e.action == action
               for e in await service.audit_log(500))  # fmt: skip


# -- forged and tampered roster clicks --------------------------------------------------------


async def test_roster_buttons_from_people_who_own_nothing(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
) -> None:
    """Every roster button, clicked by a member who owns nothing, a guest and someone of
    another team: refused with the reason, audited, and nothing sent to the PBX. An admin's
    click on the same path does reach it (the drill is not vacuous)."""
    _sales, board = await two_rooms(service, tracker)
    for user in STRANGERS:
        for action_id in ROOM_BUTTONS + CALLER_BUTTONS:
            value = str(board.id) if action_id in ROOM_BUTTONS else f"{board.id}:1700000000.2"
            text = await click(slack, action_id, value, user)
            assert "Only the owners of room" in text and "Board" in text, text
        assert await audited(service, user, "room.refused") == len(ROOM_BUTTONS + CALLER_BUTTONS)
    assert spy.changes() == []
    assert tracker.count(board.id) == 1

    await click(slack, ids.ROSTER_MUTE, f"{board.id}:1700000000.2", ADMIN)
    assert [a["Action"] for a in spy.changes()] == ["ConfbridgeMute"]


async def test_tampered_roster_values(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
) -> None:
    """An owner of one room edits the button value: another room's id with its caller, her
    room's id with a caller of another room, and garbage (huge numbers, other digits than
    ASCII, long text). Each is refused with a reason and audited; the PBX is never asked."""
    sales, board = await two_rooms(service, tracker)
    text = await click(slack, ids.ROSTER_KICK, f"{board.id}:1700000000.2", ALICE)
    assert "Only the owners of room" in text
    text = await click(slack, ids.ROSTER_KICK, f"{sales.id}:1700000000.2", ALICE)
    assert "Nobody matching" in text and "Bea" not in text and "9876543" not in text, text
    garbage = ["", "x", f"{sales.id}:", ":1700000000.1", "9" * 40 + ":1700000000.1",
               "²:1700000000.1", "١:1700000000.1", f"{sales.id}:" + "7" * 5000, "-1", "0x1",
               " 1", "1e3"]  # fmt: skip
    for value in garbage:
        for action_id in (ids.ROSTER_KICK, ids.ROSTER_END):
            text = await click(slack, action_id, value, ALICE)
            assert "out of date" in text or "Nobody matching" in text or "no longer" in text, (
                value,
                text,
            )
    assert spy.changes() == []
    assert tracker.count(sales.id) == 1 and tracker.count(board.id) == 1
    refusals = [e for e in await service.audit_log(500) if e.actor == f"slack:{ALICE}"]
    # One line for each refusal; none longer than a line should be.
    assert len(refusals) == 2 + 2 * len(garbage), [e.action for e in refusals]
    assert all(len(e.summary) < 400 for e in refusals)


async def test_show_participants_with_garbage_values(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
) -> None:
    """ "Show participants" with a value no card carries: a clear answer, never a crash."""
    await two_rooms(service, tracker)
    for value in ("9" * 40, "²", "", "12345678901234567890"):
        text = await click(slack, ids.SHOW_PARTICIPANTS, value, BOB)
        assert "out of date" in text or "no longer exists" in text, (value, text)
    assert slack.fake.calls_to("views.open") == []


# -- the lobby's Admit and Refuse -------------------------------------------------------------


async def waiting(service: ConferenceService, room: Room, uid: str, *, name: str = "Ana") -> int:
    """A caller starts waiting in ``room``'s lobby (as the ConferenceLobby event reports)."""
    request, _ = await service.lobby_arrived(room.id, uid, caller_number=NUMBER, caller_name=name,
                                             endpoint="trunk", until=4_000_000_000)  # fmt: skip
    return request.id


async def test_lobby_decisions_from_people_who_own_nothing(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
) -> None:
    """Admit and Refuse from a member who owns nothing, a guest, someone of another team,
    and Alice on another room's caller: refused, audited, nothing written to AstDB."""
    _sales, board = await two_rooms(service, tracker)
    request = await waiting(service, board, "1700000001.1")
    for user in (*STRANGERS, ALICE):
        for action_id in (ids.LOBBY_ADMIT, ids.LOBBY_REFUSE):
            text = await click(slack, action_id, str(request), user)
            assert "Only the owners of room" in text and "Board" in text, text
        assert await audited(service, user, "room.refused") == 2
    assert spy.changes() == []
    found = await service.lobby_request(request)
    assert found is not None and found.waiting and found.decided_by is None

    reply = await slack.click(ids.LOBBY_ADMIT, str(request), user=ADMIN, channel=CHANNEL)
    assert reply.status == 200  # the control: an admin's Admit is written
    await eventually(lambda: _async(bool(spy.changes())))
    assert spy.changes() == [{"Action": "DBPut", "Family": f"conference/lobby/{board.id}",
                              "Key": "1700000001.1", "Val": "admit"}]  # fmt: skip


async def test_lobby_clicks_on_settled_gone_and_garbage_requests(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
) -> None:
    """An admin replays Admit on a caller who timed out, who hung up, who was refused, on a
    request of a deleted room, on an unknown request and on garbage values: each told why,
    each audited, nothing written to AstDB."""
    sales, board = await two_rooms(service, tracker)
    timed_out = await waiting(service, board, "1700000002.1")
    await service.lobby_finished("1700000002.1", LobbyStatus.TIMEOUT)
    left = await waiting(service, board, "1700000002.2")
    await service.lobby_finished("1700000002.2", LobbyStatus.LEFT)
    gone = await waiting(service, sales, "1700000002.3")
    await service.delete_room(sales.id, actor="t")
    expected = {
        str(timed_out): "nobody answered in time",
        str(left): "they hung up",
        str(gone): "no longer waiting",
        "987654": "no longer waiting",
        "9" * 40: "out of date",
        "²": "out of date",
        "": "out of date",
        "1; DROP TABLE rooms": "out of date",
    }
    for value, why in expected.items():
        text = await click(slack, ids.LOBBY_ADMIT, value, ADMIN)
        assert why in text, (value, text)
    assert spy.changes() == []
    refusals = [e for e in await service.audit_log(500)
                if e.actor == f"slack:{ADMIN}" and e.action == "lobby.refused"]  # fmt: skip
    assert len(refusals) == len(expected), refusals
    assert all(len(e.summary) < 400 for e in refusals)


async def test_two_admits_and_an_admit_then_refuse_write_one_decision(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
) -> None:
    """Two owners click Admit and Refuse at the same moment (or one double-clicks): one
    decision reaches AstDB, the other is told someone was quicker."""
    sales, _board = await two_rooms(service, tracker)
    request = await waiting(service, sales, "1700000003.1")
    before = len(slack.fake.calls_to("response_url"))
    replies = await asyncio.gather(
        slack.click(ids.LOBBY_ADMIT, str(request), user=ALICE, channel=CHANNEL),
        slack.click(ids.LOBBY_REFUSE, str(request), user=ADMIN, channel=CHANNEL),
        slack.click(ids.LOBBY_ADMIT, str(request), user=ADMIN, channel=CHANNEL),
    )
    assert all(r.status == 200 for r in replies)
    told = await slack.fake.wait_for("response_url", count=before + 2)
    losers = [c.args["text"] for c in slack.fake.calls_to("response_url")[before:]]
    assert len(losers) == 2 and all("already" in t for t in losers), losers

    async def decided() -> bool:
        return any(e.action in ("lobby.admit", "lobby.refuse")
                   for e in await service.audit_log(50))  # fmt: skip

    await eventually(decided)
    puts = [a for a in spy.changes() if a["Action"] == "DBPut"]
    assert len(puts) == 1, puts
    del told


# -- caller-chosen text -----------------------------------------------------------------------

# A caller ID name as a hostile trunk could send it: mentions, links, mrkdwn, a number.
EVIL = "<!channel> <@U123> <http://evil.example|click> *b* `c` &amp; 15551234567 ünï"
MENTIONS = ("<!channel>", "<@U123>", "<http://evil.example")


def unsafe(text: str) -> list[str]:
    """What a channel must never get of the caller's text: a live mention or link, or the
    whole number."""
    found = [m for m in MENTIONS if m in text]
    return found + [d for d in ("5551234567", "15551234567") if d in text]


def mrkdwn(payload: Any) -> str:
    """Every text of a payload that Slack parses for mentions and links: mrkdwn objects and
    a message's top-level ``text`` (plain_text objects, as in a confirm dialog, are not)."""
    found: list[str] = []

    def walk(node: Any, top: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" or (top and isinstance(node.get("text"), str)):
                found.append(str(node["text"]))
            for value in node.values():
                walk(value, False)
        elif isinstance(node, list):
            for value in node:
                walk(value, False)

    walk(payload, True)
    return "\n".join(found)


def person(name: str = EVIL, number: str = NUMBER) -> Participant:
    return Participant("1700000000.9", f"PJSIP/trunk-{number}", number, name, 1_700_000_000.0)


def lobby_request(name: str, number: str = NUMBER) -> LobbyRequest:
    return LobbyRequest(1, 1, "Sales <!here>", "1700000000.9", number, name, "trunk", "C1",
                        "1.1", LobbyStatus.WAITING, "2024-01-01T00:00:00Z",
                        "2024-01-01T00:02:00Z", None, None)  # fmt: skip


async def test_caller_text_is_escaped_and_numbers_masked_in_channels_and_for_members() -> None:
    """A caller's name and number reach the roster (members: masked; owners: whole but
    escaped), the join notes, the lobby message and the recording's comment: never a live
    mention or link, never a whole number where a channel or a member reads it."""
    room = Room(1, "Sales <!here>", "4242", None, 10, "en", "", "", "", "")
    line = CallerLine(person(), talking=True, moderator=False)
    member_view = roster_view(room, [line], CallState(), True, manager=False)
    member = mrkdwn(member_view)
    assert unsafe(dumps(member_view)) == [] and "…4567" in member and "&lt;!here&gt;" in member
    owner = mrkdwn(roster_view(room, [line], CallState(), True, manager=True))
    assert [m for m in MENTIONS if m in owner] == [] and NUMBER in owner

    assert unsafe(note_text(person())) == []
    # The dialplan lets letters, digits, spaces and "-_." through in a lobby name: a name
    # that spells a number is masked like the number itself.
    for name in ("Call 15551234567", "15551234567", "1 555 123 4567", EVIL):
        for message in (lobby_waiting(lobby_request(name)), lobby_settled(lobby_request(name))):
            assert unsafe(dumps(message)) == [], (name, message)
            assert "&lt;!here&gt;" in mrkdwn(message)
    odd = dumps(lobby_waiting(lobby_request("", number="<!a>")))
    assert "<!a>" not in odd

    recording = Recording(1, 1, "Sales <!here>", "/x/room-1.wav", "keypad:15551234567",
                          "2024-01-01T00:00:00Z", None, None, RecordingStatus.STOPPED, None,
                          None, None, None)  # fmt: skip
    comment = initial_comment(recording, None)
    assert unsafe(comment) == [] and "<!here>" not in comment and "…4567" in comment
    assert who("slack:U1<!channel>") == "slack:U1&lt;!channel&gt;"


async def test_a_caller_name_cannot_format_or_pass_for_a_roster_mark() -> None:
    """Bold, italics, strike, code and emoji markers in a caller's name reach Slack inert:
    "*Bob* :star: moderator" must not look like a moderator's line."""
    room = Room(1, "Sales", "4242", None, 10, "en", "", "", "", "")
    marked = "*Bob* :star: moderator _x_ ~y~ `z`"
    line = CallerLine(person(name=marked), talking=False, moderator=False)
    for manager in (True, False):
        shown = mrkdwn(roster_view(room, [line], CallState(), True, manager=manager))
        assert "Bob" in shown
        assert not any(m in shown for m in ("*Bob*", ":star:", "_x_", "~y~", "`z`")), shown
    for text in (note_text(person(name=marked)), dumps(lobby_waiting(lobby_request(marked)))):
        assert "Bob" in text and "*Bob*" not in text and ":star:" not in text, text


# -- the secrets ------------------------------------------------------------------------------


async def test_pins_never_reach_slack_the_audit_log_or_the_log(
    slack: HttpDriver,  # noqa: F811
    service: ConferenceService,
    tracker: ParticipantTracker,  # noqa: F811
    spy: SpyAmi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A room with a PIN and a moderator PIN, its card posted, its roster opened by a member
    and by an owner, the Home tab, a lobby request and a refused click, the moderator PIN
    changed: neither PIN is in anything Slack received, the audit log or the log."""
    # Our own code at DEBUG; libraries as serve runs them (aiosqlite's DEBUG lines carry
    # every SQL parameter: serve keeps it at WARNING).
    caplog.set_level("INFO")
    for name in ("bot", "commands", "telephony"):
        caplog.set_level("DEBUG", logger=name)
    room = await service.create_room(name="Vault", conference_id="7070", pin=PIN,
                                     moderator_pin=MODPIN, options={"lobby": True},
                                     actor="t")  # fmt: skip
    await service.add_owner(room.id, ALICE, actor="t")
    join(tracker, room.id, "1700000000.5", NUMBER, name="Ana", moderator=True)
    share = await open_modal(slack, "info Vault")  # the card, without the PIN
    await slack.submit(share, {"channel": CHANNEL, "include_pin": False}, user=ALICE)
    await slack.fake.wait_for("chat.postMessage")
    for user in (BOB, ALICE, GUEST):
        before = len(slack.fake.calls_to("views.open"))
        await slack.command("who Vault", user=user)
        await slack.fake.wait_for("views.open", count=before + 1)
    await slack.event(app_home_opened(ALICE))
    await slack.fake.wait_for("views.publish")
    request = await waiting(service, room, "1700000004.1")
    await click(slack, ids.LOBBY_ADMIT, str(request), BOB)
    await click(slack, ids.ROSTER_KICK, f"{room.id}:1700000000.5", BOB)
    await service.update_room(room.id, moderator_pin="86420", actor="t")

    sent = dumps([c.args for c in slack.fake.calls])
    entries = dumps([dataclasses.asdict(e) for e in await service.audit_log(500)])
    for secret in (PIN, MODPIN, "86420"):
        assert secret not in sent, secret
        assert secret not in entries, secret
        assert secret not in caplog.text, secret
        assert secret not in dumps(spy.sent), secret


# -- recordings at a real PBX -----------------------------------------------------------------


async def test_two_starts_at_once_make_one_recording(shared_pbx: Pbx, make_stack) -> None:
    """Two "Start recording" at the same moment (two owners, or a click and a moderator's
    *4): one recording, the other refused; the room's AstDB mark and the file the bot will
    upload stay those of the recording that runs."""
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Race", conference_id="6161", actor="test")
    caller = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="6161#", caller="bob", password="bob-password-1", wait_for_hangup=True,
        tag="race-caller",
    ))  # fmt: skip
    await pbx_eventually(lambda: stack.tracker.count(room.id) == 1, what="bob in")
    outcomes = await asyncio.gather(
        *(stack.service.record_call(room.id, True, calls=stack.actions, actor=f"test:{n}")
          for n in range(2)),
        return_exceptions=True,
    )  # fmt: skip
    started = [o for o in outcomes if isinstance(o, Recording)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    path = started[0].path
    listing = await stack.ami.list_action(
        {"Action": "DBGet", "Family": live_family(room.id), "Key": RECORDING_KEY}
    )
    assert [str(m.get("Val")) for m in listing if "Val" in m] == ["1"]
    assert stack.tracker.recording_file(room.id) == path

    stopped = await stack.service.record_call(room.id, False, calls=stack.actions, actor="t")
    assert stopped is not None and stopped.path == path
    assert stopped.status is RecordingStatus.STOPPED
    assert await asyncio.to_thread(Path(path).exists)
    await stack.service.end_call(room.id, calls=stack.actions, actor="t")
    await caller


# -- the lobby at a real PBX ------------------------------------------------------------------


async def test_a_deleted_room_sends_its_lobby_away_at_once(shared_pbx: Pbx, make_stack) -> None:
    """A caller waits in a room's lobby and the room is deleted: nobody can admit them any
    more, so they hear goodbye now (not after the time limit) and never join anything."""
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Doomed", conference_id="6262",
                                           options={"lobby": True}, actor="test")  # fmt: skip
    caller = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="6262#", caller="bob", password="bob-password-1", wait_for_hangup=True,
        tag="doomed-lobby",
    ))  # fmt: skip
    await pbx_eventually(lambda: bool(stack.user_events("ConferenceLobby")), what="waiting")
    await stack.service.delete_room(room.id, actor="test")
    await asyncio.wait_for(caller, 15)  # the time limit is 120 s: this is the deletion
    done = stack.user_events("ConferenceLobbyDone")
    assert [e.get("Result") for e in done] == ["refused"], done
    assert stack.tracker.count(room.id) == 0


async def test_one_phone_cannot_flood_the_owners_with_lobby_requests(
    shared_pbx: Pbx, make_stack
) -> None:
    """Callers waiting in a lobby count toward the per-caller cap of calls in the IVR
    (PBX_LOCKOUT_IVR_CALLS, 4 here): a fifth call of the same phone is refused busy before
    it is answered, so it never reaches the owners' channel."""
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Flood", conference_id="6363",
                                           options={"lobby": True}, actor="test")  # fmt: skip
    callers = [asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="6363#", caller="bob", password="bob-password-1", wait_for_hangup=True,
        tag=f"flood-{n}",
    )) for n in range(4)]  # fmt: skip
    await pbx_eventually(lambda: len(stack.user_events("ConferenceLobby")) == 4, what="4 wait")
    await shared_pbx.sipp.call("800", dtmf="6363#", caller="bob", password="bob-password-1",
                               refused="486", tag="flood-5")  # fmt: skip
    assert len(stack.user_events("ConferenceLobby")) == 4
    await stack.service.delete_room(room.id, actor="test")  # sends the four away
    await asyncio.wait_for(asyncio.gather(*callers), 15)


async def test_a_participants_star_4_records_nothing(shared_pbx: Pbx, make_stack) -> None:
    """A caller without the moderator PIN keys *4 (record) and *2 (lock): nothing is asked
    of the bot, nothing is recorded or locked; their *1, keyed right after, shows the keys
    did arrive."""
    stack = await make_stack(shared_pbx)
    await allow_go_ahead(stack.ami, shared_pbx.cfg.etc_dir)
    room = await stack.service.create_room(name="Keys", conference_id="6464", actor="test")
    caller = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="6464#!*4*2*1!,,,*#!", caller="bob", password="bob-password-1",
        wait_for_hangup=True, tag="keys-participant",
    ))  # fmt: skip
    await pbx_eventually(lambda: stack.tracker.count(room.id) == 1, what="bob in")
    (bob,) = stack.tracker.participants(room.id)
    await go_ahead(stack.ami, bob.channel)  # the keys
    await pbx_eventually(lambda: any(p.muted for p in stack.tracker.participants(room.id)),
                         what="*1 muted the caller")  # fmt: skip
    await go_ahead(stack.ami, bob.channel)  # *#: leave
    await asyncio.wait_for(caller, 20)
    assert stack.user_events("ConferenceRecordToggle") == []
    assert stack.user_events("ConferenceLockToggled") == []
    state = stack.tracker.room_state(room.id)
    assert not state.recording and not state.locked
    assert await stack.service.recordings_of(room.id) == []
