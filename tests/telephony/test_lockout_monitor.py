"""The lockout monitor and store on an AstDB held in a dict: an alert or lockout is handled
once (live or at a catch-up), and old counters are forgotten, never pending ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from bot.service import ConferenceService
from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed
from telephony.lockout_monitor import LockoutMonitor, RoomAlert
from telephony.lockouts import LockoutStore

NOW = 1_800_000_000


class FakeAstDb:
    """What the store uses of the AMI client, over a dict of AstDB keys."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self.db = {f"/{k}": v for k, v in entries.items()}
        self.events: dict[str, Any] = {}

    async def list_action(
        self, action: Mapping[str, Any], *, strict: bool = False
    ) -> list[dict[str, str]]:
        assert action["Action"] == "DBGetTree" and strict
        prefix = f"/{action['Family']}/"
        return [{"Event": "DBGetTreeResponse", "Key": k, "Val": v}
                for k, v in sorted(self.db.items()) if k.startswith(prefix)]  # fmt: skip

    async def action(self, action: Mapping[str, Any]) -> dict[str, str]:
        family = f"/{action['Family']}"
        if action["Action"] == "DBPut":
            self.db[f"{family}/{action['Key']}"] = str(action["Val"])
        elif action["Action"] == "DBDel":
            self.db.pop(f"{family}/{action['Key']}")
        elif action["Action"] == "DBDelTree":
            gone = [k for k in self.db if k.startswith(f"{family}/")]
            if not gone:
                raise PbxActionFailed("Database entry not found")
            for key in gone:
                del self.db[key]
        return {"Response": "Success"}

    def register_event(self, pattern: str, handler: Any) -> None:
        self.events[pattern] = handler

    def on_ready(self, handler: Any) -> None:
        pass


def store_on(db: FakeAstDb) -> LockoutStore:
    return LockoutStore(cast(AmiClient, db), room_lock=3600, forget_after=3600,
                        clock=lambda: NOW)  # fmt: skip


async def test_catch_up_once_and_forget_only_what_nobody_needs(
    service: ConferenceService,
) -> None:
    room = await service.create_room(name="Board", conference_id="4321", pin="5678", actor="t")
    old, recent = NOW - 7200, NOW - 60
    db = FakeAstDb({
        # alerted while the bot was away: pending
        f"conference/lockouts/room/{room.id}/alerted": str(recent),
        f"conference/lockouts/room/{room.id}/callers": "+1555-alice",
        f"conference/lockouts/room/{room.id}/fails": f"{recent}",
        # a lockout that ran out long ago, audited: forgotten
        "conference/lockouts/pin/9/bob~bob/since": str(old),
        "conference/lockouts/pin/9/bob~bob/until": str(old + 900),
        "conference/lockouts/pin/9/bob~bob/reported": str(old),
        # old failures of a caller who changes numbers: forgotten
        "conference/lockouts/id/trunk~+1999/fails": f"{old}-{old + 5}",
        # a lockout that ran out but nobody audited yet: kept until audited
        "conference/lockouts/id/trunk~+1888/since": str(old),
        "conference/lockouts/id/trunk~+1888/until": str(old + 900),
    })  # fmt: skip
    monitor = LockoutMonitor(store_on(db), service, service)
    alerts: list[RoomAlert] = []

    async def heard(alert: RoomAlert) -> None:
        alerts.append(alert)

    monitor.add_listener(heard)
    await monitor.catch_up()
    [alert] = alerts
    assert (alert.room, alert.callers, alert.at, alert.late) == (room, ("+1555", "alice"),
                                                                  recent, True)  # fmt: skip
    assert db.db[f"/conference/lockouts/room/{room.id}/reported"] == str(recent)
    assert db.db["/conference/lockouts/id/trunk~+1888/reported"] == str(old)
    assert not any("bob~bob" in k or "+1999" in k for k in db.db)
    rows = {(e.actor, e.action, e.target) for e in await service.audit_log()
            if e.action.startswith("lockout.")}  # fmt: skip
    assert rows == {("pbx", "lockout.room_alert", 'room "Board" (ID 4321)'),
                    ("pbx", "lockout.id", "caller +1888 (trunk)")}  # fmt: skip
    # Nothing twice; and audited now, and long over, the lockout is forgotten.
    await monitor.catch_up()
    assert len(alerts) == 1 and len(await service.audit_log()) == len(rows) + 2
    assert not any("+1888" in k for k in db.db)
    assert f"/conference/lockouts/room/{room.id}/alerted" in db.db  # within the window


async def test_a_live_event_is_handled_once_even_when_a_catch_up_sees_it_too(
    service: ConferenceService,
) -> None:
    db = FakeAstDb({
        "conference/lockouts/pin/77/alice~alice/since": str(NOW),
        "conference/lockouts/pin/77/alice~alice/until": str(NOW + 900),
    })  # fmt: skip
    monitor = LockoutMonitor(store_on(db), service, service)
    monitor.subscribe(cast(AmiClient, db))
    event = {"Event": "UserEvent", "UserEvent": "ConferenceLockout", "Stage": "locked",
             "Scope": "pin", "Room": "77", "ConferenceID": "4321", "Caller": "alice",
             "Endpoint": "alice", "Address": "10.0.0.7", "Count": "5", "Window": "900",
             "Since": str(NOW), "Until": str(NOW + 900)}  # fmt: skip
    db.events["UserEvent"](event)
    db.events["UserEvent"](event)  # the same event again
    await monitor.wait_idle()
    await monitor.catch_up()
    [row] = [e for e in await service.audit_log() if e.action == "lockout.pin"]
    assert row.summary == (
        "Caller alice from 10.0.0.7 locked out of room #77 (deleted) for 15 min after 5 "
        "wrong PINs within 15 min"
    )
    assert db.db["/conference/lockouts/pin/77/alice~alice/reported"] == str(NOW)
    await monitor.close()
