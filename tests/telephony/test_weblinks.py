"""Browser join's PBX side (issue 12) against a real Asterisk: per-link credentials in AstDB
(telephony.weblinks), Asterisk's loopback WebSocket (http.conf, transport-ws) and the
dialplan's [from-webrtc]. The caller is tests/telephony/ws_sip.py, SIP over the WebSocket as
JsSIP sends it (no media: the browser tests in tests/web/ do that)."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
import pytest

from bot.models import Room
from telephony.errors import PbxActionFailed
from telephony.naming import (
    PJSIP_AUTH_FAMILY,
    PJSIP_ENDPOINT_FAMILY,
    WEBLINKS_FAMILY,
    bridge_name,
    is_link_id,
    link_of_channel,
    lockout_family,
    web_caller_key,
    weblink_family,
)
from telephony.weblinks import WebLinks, display_name, md5_cred
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.ws_sip import WsCall

USER = "U0WEBLINK1"


def new_link() -> tuple[str, str]:
    return "web-" + secrets.token_hex(8), secrets.token_urlsafe(24)


async def stack_with_events(make_stack: Any, pbx: Pbx) -> tuple[Stack, list[dict[str, str]]]:
    stack: Stack = await make_stack(pbx)
    joins: list[dict[str, str]] = []
    stack.ami.register_event("ConfbridgeJoin", lambda msg: joins.append(dict(msg)))
    return stack, joins


async def astdb(stack: Stack, family: str) -> dict[str, str]:
    entries = await stack.ami.list_action({"Action": "DBGetTree", "Family": family}, strict=True)
    return {str(e["Key"]): str(e.get("Val", "")) for e in entries}


async def show_endpoint(stack: Stack, link: str) -> dict[str, dict[str, str]]:
    """PJSIPShowEndpoint: event name -> its fields (EndpointDetail, AuthDetail...)."""
    events = await stack.ami.list_action({"Action": "PJSIPShowEndpoint", "Endpoint": link},
                                         strict=True)  # fmt: skip
    return {str(e["Event"]): dict(e) for e in events}


async def members(stack: Stack, room: Room) -> list[dict[str, str]]:
    found = await stack.ami.list_action(
        {"Action": "ConfbridgeList", "Conference": bridge_name(room.id)}
    )
    return [dict(m) for m in found]


def events_received(call: WsCall) -> bool:
    """Whether ConfBridge sent the browser one of its in-call JSON messages (SIP MESSAGE)."""
    return any(
        r.startswith("MESSAGE ") and "application/x-asterisk-confbridge-event+json" in r
        for r in call.requests
    )


async def test_asterisk_serves_only_the_sip_websocket_on_loopback(shared_pbx: Pbx) -> None:
    cfg = shared_pbx.cfg
    assert cfg.ws_url == f"ws://127.0.0.1:{cfg.http_port}/ws"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(cfg.ws_url, protocols=("sip",)) as ws:
            # aiohttp checked the 101 and its Sec-WebSocket-Accept; the subprotocol is sip.
            assert ws.protocol == "sip"
        # No status page, no static files, nothing else.
        for path in ("/httpstatus", "/static/index.html", "/ari/api-docs/resources.json"):
            async with session.get(f"http://127.0.0.1:{cfg.http_port}{path}") as page:
                assert page.status == 404, path
    http_conf = (cfg.etc_dir / "http.conf").read_text()
    assert "bindaddr = 127.0.0.1\n" in http_conf and "tlsenable" not in http_conf


async def test_create_makes_the_endpoint_revoke_refuses_it(shared_pbx: Pbx, make_stack) -> None:
    stack, _ = await stack_with_events(make_stack, shared_pbx)
    room = await stack.service.create_room(name="Web A", conference_id="6101", actor="t")
    links = WebLinks(stack.ami)
    link, password = new_link()
    await links.create(link, room, name='Ana "Bobby" <Tables>', user=USER, password=password,
                       trusted=False)  # fmt: skip

    shown = await show_endpoint(stack, link)
    endpoint = shown["EndpointDetail"]
    assert (endpoint["Context"], endpoint["Transport"]) == ("from-webrtc", "transport-ws")
    # webrtc=yes expanded: ICE, AVPF, DTLS-SRTP, rtcp-mux.
    assert (endpoint["IceSupport"], endpoint["UseAvpf"], endpoint["MediaEncryption"]) == (
        "true",
        "true",
        "dtls",
    )
    assert endpoint["RtcpMux"] == "true" and endpoint["AllowTransfer"] == "false"
    assert endpoint["Callerid"] == f'"Ana Bobby Tables" <{USER}>'
    assert shown["AuthDetail"]["Username"] == link
    assert await links.stored() >= {link}

    # AstDB holds the digest hash, never the password.
    stored = {**await astdb(stack, "pjsip"), **await astdb(stack, WEBLINKS_FAMILY)}
    mine = {k: v for k, v in stored.items() if link in k}
    assert set(mine) == {f"/{PJSIP_AUTH_FAMILY}/{link}", f"/{PJSIP_ENDPOINT_FAMILY}/{link}",
                         *(f"/{WEBLINKS_FAMILY}/{link}/{k}"
                           for k in ("room", "confid", "trusted", "user"))}  # fmt: skip
    assert all(password not in v for v in stored.values())
    assert md5_cred(link, password) in mine[f"/{PJSIP_AUTH_FAMILY}/{link}"]
    assert mine[f"/{WEBLINKS_FAMILY}/{link}/room"] == str(room.id)

    await links.revoke(link)
    with pytest.raises(PbxActionFailed, match="Unable to retrieve endpoint"):
        await show_endpoint(stack, link)
    assert link not in await links.stored()
    await links.revoke(link)  # gone already: still fine
    # The browser that held the link is refused by Asterisk itself.
    call = WsCall(shared_pbx.cfg.ws_url, link, password)
    await call.connect()
    try:
        assert await call.invite() in (401, 403)
    finally:
        await call.close()


async def test_a_trusted_link_joins_once_as_a_moderator(shared_pbx: Pbx, make_stack) -> None:
    stack, joins = await stack_with_events(make_stack, shared_pbx)
    room = await stack.service.create_room(name="Web B", conference_id="6102", actor="t",
                                           pin="2468")  # fmt: skip
    links = WebLinks(stack.ami)
    link, password = new_link()
    await links.create(link, room, name="Ana Example", user=USER, password=password,
                       trusted=True)  # fmt: skip
    call = WsCall(shared_pbx.cfg.ws_url, link, password)
    assert await call.connect() == "sip"
    try:
        assert await call.invite() == 200  # no PIN asked: straight in
        await eventually(lambda: any(j.get("Conference") == bridge_name(room.id) for j in joins),
                         what="ConfbridgeJoin")  # fmt: skip
        [join] = [j for j in joins if j.get("Conference") == bridge_name(room.id)]
        assert join["Channel"].startswith(f"PJSIP/{link}-")
        assert (join["CallerIDName"], join["CallerIDNum"]) == ("Ana Example", USER)
        [member] = await members(stack, room)
        assert (member["Admin"], member["MarkedUser"]) == ("Yes", "Yes")
        # The webrtc-moderator profile: ConfBridge's in-call messages reach the browser.
        await eventually(lambda: events_received(call), what="a ConfBridge event MESSAGE")
        # One use: the link's keys, endpoint and auth went at the join.
        assert link not in await links.stored()
        again = WsCall(shared_pbx.cfg.ws_url, link, password)
        await again.connect()
        try:
            assert await again.invite() in (401, 403)
        finally:
            await again.close()
        # Kicked from Slack (ConfbridgeKick): the browser is hung up.
        await stack.ami.action({"Action": "ConfbridgeKick", "Conference": bridge_name(room.id),
                                "Channel": join["Channel"]})  # fmt: skip
        await eventually(call.hung_up_by_pbx, what="the BYE of the kick")
    finally:
        await call.close()


async def test_an_untrusted_link_asks_the_pin_and_counts_per_slack_user(
    shared_pbx: Pbx, make_stack
) -> None:
    stack, joins = await stack_with_events(make_stack, shared_pbx)
    room = await stack.service.create_room(name="Web C", conference_id="6103", actor="t",
                                           pin="1357")  # fmt: skip
    links = WebLinks(stack.ami)
    link, password = new_link()
    await links.create(link, room, name="Guest", user=USER, password=password, trusted=False)
    call = WsCall(shared_pbx.cfg.ws_url, link, password)
    await call.connect()
    fails = f"{lockout_family('pin', room_id=room.id, caller=web_caller_key(USER))}/fails"
    family, _, key = fails.rpartition("/")

    async def counted() -> bool:
        try:
            await stack.ami.action({"Action": "DBGet", "Family": family, "Key": key})
        except PbxActionFailed:
            return False
        return True

    try:
        assert await call.invite() == 200
        await call.dtmf("9999#")  # a wrong PIN: counted for this Slack user, not the link
        await eventually(counted, what="the wrong PIN counted under web~" + USER)
        assert not joins
        await call.dtmf("1357#")
        await eventually(lambda: any(j.get("Conference") == bridge_name(room.id) for j in joins),
                         what="ConfbridgeJoin after the PIN")  # fmt: skip
        [member] = await members(stack, room)
        assert (member["Admin"], member["MarkedUser"]) == ("No", "No")
        await eventually(lambda: events_received(call), what="a ConfBridge event MESSAGE")
        assert not await counted()  # the right PIN starts the count again, as for phones
        assert await call.bye() == 200
    finally:
        await call.close()


async def test_a_link_for_a_renumbered_room_is_refused(shared_pbx: Pbx, make_stack) -> None:
    stack, joins = await stack_with_events(make_stack, shared_pbx)
    room = await stack.service.create_room(name="Web D", conference_id="6104", actor="t")
    links = WebLinks(stack.ami)
    link, password = new_link()
    await links.create(link, room, name="Ana", user=USER, password=password, trusted=True)
    await stack.service.update_room(room.conference_id, actor="t", conference_id="6105")
    call = WsCall(shared_pbx.cfg.ws_url, link, password)
    await call.connect()
    try:
        assert await call.invite() == 403  # the dialplan's Hangup(21), before answer
        assert not joins and link not in await links.stored()  # and the link is used up
    finally:
        await call.close()


def test_names_are_safe_in_a_caller_id() -> None:
    assert display_name('  Ana\t"Bob" <x@y>\\ ${EXTEN}; (1)\n') == "Ana Bob x@y EXTEN 1"
    assert display_name("José Müller-Lüdenscheidt") == "José Müller-Lüdenscheidt"
    assert display_name('""') == "Browser" and len(display_name("x" * 100)) == 40


async def test_create_refuses_bad_input(shared_pbx: Pbx, make_stack) -> None:
    stack, _ = await stack_with_events(make_stack, shared_pbx)
    room = await stack.service.create_room(name="Web E", conference_id="6106", actor="t")
    links = WebLinks(stack.ami)
    good = "web-" + secrets.token_hex(8)
    for link, user, password in (("web-XYZ", USER, "p" * 24), (good, "U1;x", "p" * 24),
                                 (good, USER, "short")):  # fmt: skip
        with pytest.raises(ValueError):
            await links.create(link, room, name="A", user=user, password=password, trusted=False)
    assert good not in await links.stored()


def test_link_names() -> None:
    link = "web-0123456789abcdef"
    assert is_link_id(link) and not is_link_id("web-0123") and not is_link_id("alice")
    assert weblink_family(link) == f"conference/weblinks/{link}"
    with pytest.raises(ValueError):
        weblink_family("web-../../x")
    assert link_of_channel(f"PJSIP/{link}-0000001a") == link
    assert link_of_channel("PJSIP/alice-0000001a") is None
    assert web_caller_key("U0123ABCD") == "web~U0123ABCD"
