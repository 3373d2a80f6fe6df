"""Drills at the trust boundary: a request that does not verify does nothing at all.

Each drill sends what an attacker can send to ``/slack/events`` (or over a Socket Mode
connection) and checks that no Web API call, no response_url post and no listener ran, and
that the log holds one short line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode, urlsplit

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import SlackRunner, build_app
from commands.slack_settings import SlackSettings
from commands.transport import (
    Malformed,
    RefusalLog,
    envelope_problem,
    parse_body,
    signature_problem,
)
from tests.commands.conftest import (
    ALICE,
    CHANNEL,
    SECRET,
    HttpDriver,
    SocketDriver,
    environ,
    sign,
    slash_command,
)
from tests.fake_slack import FakeSlack

FORM = "application/x-www-form-urlencoded"
STARTUP = {"auth.test", "apps.connections.open"}  # what the app itself calls on start


def sent(fake: FakeSlack) -> list[str]:
    """What reached the fake Slack because of a request (Web API calls, response_url posts)."""
    return [c.method for c in fake.calls if c.method not in STARTUP]


def list_command(fake: FakeSlack) -> str:
    form = slash_command("list", user=ALICE, channel=CHANNEL, response_url=fake.response_url())
    return urlencode(form)


async def raw_post(url: str, body: bytes, headers: dict[str, bytes]) -> int:
    """POST with header bytes no HTTP client library would send (non-ASCII, say)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [
        f"POST {parts.path} HTTP/1.1".encode(),
        f"Host: {parts.hostname}".encode(),
        f"Content-Type: {FORM}".encode(),
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
        *(name.encode() + b": " + value for name, value in headers.items()),
    ]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    status = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status.split()[1])


BAD_TIMESTAMPS = ["abc", "1e9", "0x10", "", " ", "-1", "１２３"]


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS)
async def test_a_malformed_timestamp_gets_401_and_nothing_is_sent(
    slack: HttpDriver, timestamp: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = list_command(slack.fake)
    headers = {**sign(body), "X-Slack-Request-Timestamp": timestamp}
    with caplog.at_level(logging.INFO):
        reply = await slack.post(body, FORM, headers)
        await asyncio.sleep(0.2)  # anything sent after the answer would have gone by now
    assert reply.status == 401
    assert sent(slack.fake) == []
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "signature",
    [b"v0=\xff\xfe" + b"0" * 62, "v0=é".encode() + b"a" * 62, b"v1=" + b"a" * 64, b"v0="],
)
async def test_a_signature_with_odd_bytes_gets_401_and_nothing_is_sent(
    slack: HttpDriver, signature: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = list_command(slack.fake)
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())).encode()}
    headers["X-Slack-Signature"] = signature
    with caplog.at_level(logging.INFO):
        status = await raw_post(slack.url, body.encode(), headers)
        await asyncio.sleep(0.2)
    assert status == 401
    assert sent(slack.fake) == []
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{x", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"payload=not-json", FORM),
        (b"payload=%5B1%5D", FORM),
        (b"\xff\xfe", FORM),
        (b"user_id=\xff", FORM),
    ],
)
async def test_malformed_bodies_get_401_unsigned_and_400_signed(
    slack: HttpDriver, body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with slack.session.post(
            slack.url, data=body, headers={"Content-Type": content_type}
        ) as resp:
            unsigned = resp.status
        ts = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        }
        async with slack.session.post(slack.url, data=body, headers=headers) as resp:
            signed = resp.status
        await asyncio.sleep(1.1)  # the second refusal is summed up within a second
    assert (unsigned, signed) == (401, 400)
    assert sent(slack.fake) == []
    ours = [r for r in caplog.records if r.name.startswith(("commands", "bot", "slack"))]
    assert not [r for r in ours if r.exc_info], "no traceback for a malformed request"
    assert all(len(r.getMessage()) < 300 for r in ours)
    assert any("malformed" in r.getMessage() for r in ours)


async def test_a_flood_of_unsigned_requests_leaves_a_trace_not_a_flood_of_lines(
    slack: HttpDriver, caplog: pytest.LogCaptureFixture
) -> None:
    body = list_command(slack.fake)
    headers = {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=0"}
    with caplog.at_level(logging.INFO, logger="commands.transport"):
        statuses = await asyncio.gather(*(slack.post(body, FORM, headers) for _ in range(100)))
        await asyncio.sleep(1.2)  # the summary of the held-back refusals comes within a second
    assert {r.status for r in statuses} == {401}
    assert sent(slack.fake) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "commands.transport"]
    assert 2 <= len(lines) <= 4, lines
    counted = sum(
        int(line.split()[1]) for line in lines if line.startswith("refused ") and "more" in line
    )
    assert counted + 1 == 100, lines


async def test_refusal_log_sums_up_a_flood_once_a_second() -> None:
    now = [100.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.refusals")
    logger.addHandler(Collect())
    logger.propagate = False
    refusals = RefusalLog(logger, interval=0.05, clock=lambda: now[0])
    for _ in range(10):
        refusals.refused("request", "wrong signature")
    assert records == ["refused request: wrong signature"]
    await asyncio.sleep(0.1)
    assert records[1] == "refused 9 more Slack requests in the last second (9 wrong signature)"


def test_signature_problem_names_each_reason() -> None:
    now = 1_700_000_000.0
    raw = b"a=b"
    good = sign("a=b", secret="s", timestamp=int(now))
    ts, sig = good["X-Slack-Request-Timestamp"], good["X-Slack-Signature"]
    assert signature_problem("s", raw, ts, sig, now) is None
    assert signature_problem("", raw, ts, sig, now) == "no signing secret is configured"
    assert signature_problem("s", raw, None, sig, now) == "missing signature headers"
    assert signature_problem("s", raw, "1e9", sig, now) == "malformed timestamp"
    assert signature_problem("s", raw, ts, sig, now + 301) == "stale timestamp"
    assert signature_problem("s", raw, ts, sig.upper(), now) == "malformed signature"
    assert signature_problem("s", b"a=c", ts, sig, now) == "wrong signature"


def test_parse_body_reads_what_slack_sends_and_nothing_else() -> None:
    assert parse_body(b"a=1&b=", FORM) == ("a=1&b=", {"a": "1", "b": ""})
    assert parse_body(b'{"type": "e"}', "application/json")[1] == {"type": "e"}
    payload = urlencode({"payload": json.dumps({"type": "block_actions"})}).encode()
    assert parse_body(payload, FORM)[1] == {"type": "block_actions"}
    # A slash command whose text says "payload" is still a slash command.
    assert parse_body(b"text=payload+room", FORM)[1] == {"text": "payload room"}
    for body, kind in [
        (b"payload=%7B%7D&payload=notjson", FORM),  # which payload would Bolt read?
        (b"a=1", "text/plain"),
        (b"payload=%7B%7D&user=U1", FORM),
    ]:
        with pytest.raises(Malformed):
            parse_body(body, kind)


async def test_a_command_whose_text_says_payload_is_answered(slack: HttpDriver) -> None:
    form = slash_command(
        "create payload room", user=ALICE, channel=CHANNEL, response_url=slack.fake.response_url()
    )
    reply = await slack.signed(urlencode(form), FORM)
    assert reply.status == 200
    await slack.fake.wait_for("views.open")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"Content-Length: 1000\r\n\r\nabc",
        b"Content-Encoding: deflate\r\nContent-Length: 4\r\n\r\njunk",
        b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"X-Big: " + b"a" * 20000 + b"\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["bad chunk", "cut off", "compressed", "two lengths", "huge header"],
)
async def test_unreadable_requests_leave_no_traceback(
    slack: HttpDriver, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(slack.url)
    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\n".encode() + request_bytes)
        await writer.drain()
        writer.write_eof()
        status = await reader.read(100)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)
    assert not status or int(status.split()[1]) in (400, 401, 413, 431)
    assert sent(slack.fake) == []
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


async def test_the_error_handler_sends_nothing_for_an_unverified_request(
    deps: Deps, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: even a request that reaches Bolt without our transport (and makes
    Bolt's own verification raise) gets no apology, no ephemeral message and no DM."""
    app = build_app(deps, SlackSettings.from_environ(environ(fake)))
    payload = {
        "type": "block_actions",
        "user": {"id": ALICE, "team_id": "T0TEST"},
        "team": {"id": "T0TEST"},
        "channel": {"id": CHANNEL},
        "response_url": fake.response_url("attack"),
        "actions": [{"action_id": "x", "value": "1", "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    with caplog.at_level(logging.INFO):
        response = await app.async_dispatch(
            AsyncBoltRequest(
                body=body,
                headers={
                    "content-type": FORM,
                    "x-slack-request-timestamp": "abc",
                    "x-slack-signature": "v0=0",
                },
            )
        )
        await asyncio.sleep(0.2)
    assert response.status == 401
    assert sent(fake) == []
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


async def test_malformed_socket_mode_frames_are_dropped_and_the_connection_still_works(
    socket_slack: SocketDriver, service: ConferenceService, caplog: pytest.LogCaptureFixture
) -> None:
    fake = socket_slack.fake
    frames = [
        "not json",
        "[1, 2]",
        '{"type": "slash_commands"}',
        '{"type": "interactive", "envelope_id": "e1", "payload": "x"}',
        '{"type": "mystery", "envelope_id": "e2", "payload": {}}',
        "\x1b[31m" * 10,
        '{"type": ["x"], "envelope_id": "e3", "payload": {}}',
    ]
    with caplog.at_level(logging.INFO):
        for frame in frames:
            await fake.sockets[-1].send_str(frame)
        await asyncio.sleep(1.3)
        reply = await socket_slack.command("help")
    assert reply.status == 200 and "Conference" in json.dumps(reply.body)
    assert sent(fake) == []
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]
    assert 1 <= len(ours) <= 3, [r.getMessage() for r in ours]
    assert all("\x1b" not in r.getMessage() for r in ours)


def test_envelope_problem_names_what_is_wrong() -> None:
    assert envelope_problem('{"type": "hello"}') is None
    assert envelope_problem('{"type":"events_api","envelope_id":"e","payload":{}}') is None
    assert envelope_problem("nope") == "not JSON"
    assert envelope_problem('"x"') == "not a JSON object"
    assert envelope_problem('{"type": "events_api", "payload": {}}') == "no envelope_id"


async def test_the_running_app_still_answers_signed_requests(
    runner: SlackRunner, slack: HttpDriver
) -> None:
    reply = await slack.command("help")
    assert reply.status == 200
    assert "Conference" in json.dumps(reply.body)
