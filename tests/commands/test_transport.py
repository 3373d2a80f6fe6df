"""How requests reach the app: signed HTTP, Socket Mode, and what happens on failures."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.errors import SettingsError
from bot.service import ConferenceService
from bot.wiring import Deps
from commands import ids
from commands.app import start_slack
from commands.blocks.modals import room_form
from commands.slack_settings import SlackSettings
from tests.commands.conftest import (
    ADMIN,
    ADMIN_CHANNEL,
    ALICE,
    HttpDriver,
    SocketDriver,
    app_home_opened,
    sign,
    view_submission,
)
from tests.fake_slack import FakeSlack


def create_view() -> dict[str, Any]:
    return room_form(
        callback_id=ids.CREATE_VIEW, title="Create a room", submit="Create", suggested_id="4242"
    )


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "stale timestamp", "tampered"])
async def test_badly_signed_requests_are_rejected_and_change_nothing(
    slack: HttpDriver, service: ConferenceService, how: str
) -> None:
    payload = view_submission(create_view(), {"name": "Sneaky"}, user=ALICE)
    body = urlencode({"payload": json.dumps(payload)})
    headers = {
        "unsigned": {},
        "wrong secret": sign(body, secret="not-the-secret"),
        "stale timestamp": sign(body, timestamp=int(time.time()) - 6 * 60),
        "tampered": sign(body.replace("Sneaky", "Sneakz")),
    }[how]
    calls_before = len(slack.fake.calls)
    reply = await slack.post(body, "application/x-www-form-urlencoded", headers)
    assert reply.status == 401
    assert await service.list_rooms() == []
    assert [e.action for e in await service.audit_log()] == ["server.create"]
    assert len(slack.fake.calls) == calls_before

    # The same request, signed properly, does create the room.
    reply = await slack.signed(body, "application/x-www-form-urlencoded")
    assert reply.status == 200
    assert [r.name for r in await service.list_rooms()] == ["Sneaky"]


async def test_unexpected_errors_get_an_apology_with_the_logged_id(
    slack: HttpDriver,
    service: ConferenceService,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(service, "get_room", broken)  # after the acknowledgement
    with caplog.at_level(logging.ERROR, logger="commands.error_handler"):
        reply = await slack.command("info Board")
        assert (reply.status, reply.body) == (200, "")
        told = await slack.fake.wait_for("response_url")
    text = told.args["text"]
    assert "disk on fire" not in text and "Traceback" not in text
    incident = re.search(r"error id ([0-9a-f]{8})", text)
    assert incident is not None
    (record,) = [r for r in caplog.records if incident.group(1) in r.getMessage()]
    assert (
        record.getMessage() == f"unexpected error [{incident.group(1)}] handling /conference info"
    )
    assert record.exc_info is not None


async def test_unexpected_error_before_ack_answers_in_the_ack(
    slack: HttpDriver, service: ConferenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "create_room", broken)
    reply = await slack.submit(create_view(), {"name": "X"}, user=ALICE)
    assert reply.status == 200
    assert reply.body["response_action"] == "update"
    assert "error id" in reply.body["view"]["blocks"][0]["text"]["text"]
    assert "boom" not in json.dumps(reply.body)


async def test_socket_mode_end_to_end(
    socket_slack: SocketDriver, service: ConferenceService
) -> None:
    fake = socket_slack.fake
    assert fake.calls_to("apps.connections.open")[0].token == "xapp-1-test"

    reply = await socket_slack.command("bogus")
    assert "There is no subcommand" in reply.body["text"]

    await socket_slack.command("create")
    opened = await fake.wait_for("views.open")
    view = opened.args["view"]
    reply = await socket_slack.submit(view, {"name": "Team", "conference_id": "12"}, user=ALICE)
    assert reply.body["response_action"] == "errors"
    assert set(reply.body["errors"]) == {"conference_id"}
    assert await service.list_rooms() == []
    reply = await socket_slack.submit(view, {"name": "Team", "conference_id": "4242"}, user=ALICE)
    assert reply.body == ""
    room = await service.get_room("4242")

    await socket_slack.command("delete Team", user=ALICE)
    confirm = await fake.wait_for("views.open", count=2)
    await socket_slack.submit(confirm.args["view"], {"reason": "done"}, user=ALICE)
    request_message = await fake.wait_for("chat.postMessage")
    assert request_message.args["channel"] == ADMIN_CHANNEL
    (request,) = await service.list_requests()
    await socket_slack.click("deletion_approve", str(request.id), user=ADMIN, channel=ADMIN_CHANNEL)
    await fake.wait_for("chat.update")
    assert await service.list_rooms() == []
    decided = await service.get_request(request.id)
    assert (decided.status.value, decided.decided_by, decided.room_name) == (
        "approved",
        f"slack:{ADMIN}",
        room.name,
    )

    await socket_slack.event(app_home_opened(ALICE))
    published = await fake.wait_for("views.publish")
    assert published.args["user_id"] == ALICE


def test_settings_from_environ_and_what_is_missing() -> None:
    settings = SlackSettings.from_environ(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_ADMIN_USERS": " U1, U2 ,,U3",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
        }
    )
    assert settings.mode == "socket" and settings.missing() == []
    assert settings.admin_users == {"U1", "U2", "U3"}
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 3000)
    assert settings.api_url == "http://127.0.0.1:9/api/"

    http = SlackSettings.from_environ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert http.mode == "http" and http.missing() == []
    assert http.api_url == "https://slack.com/api/"

    nothing = SlackSettings.from_environ({})
    problems = nothing.missing()
    assert len(problems) == 2
    assert problems[0].startswith("SLACK_BOT_TOKEN is not set; it is the Bot User OAuth Token")
    assert "SLACK_APP_TOKEN for Socket Mode" in problems[1]
    assert "SLACK_SIGNING_SECRET" in problems[1] and "/slack/events" in problems[1]

    wrong = SlackSettings.from_environ({"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_APP_TOKEN": "xoxb-2"})
    assert [p.split(" ")[0] for p in wrong.missing()] == ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"]

    with pytest.raises(SettingsError, match="SLACK_HTTP_PORT"):
        SlackSettings.from_environ({"SLACK_HTTP_PORT": "http"})


async def test_start_slack_refuses_incomplete_or_rejected_settings(
    deps: Deps, fake: FakeSlack
) -> None:
    with pytest.raises(SettingsError, match="Slack is not configured"):
        await start_slack(deps, SlackSettings.from_environ({}))
    fake.fail("auth.test", "invalid_auth")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bad",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": fake.api_url,
    }
    with pytest.raises(SettingsError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)"):
        await start_slack(deps, SlackSettings.from_environ(env))
    assert fake.calls_to("apps.connections.open") == []
