"""`conference-bot serve` with browser join set up (issue 12): it serves the join page on
CONFERENCE_WEB_PORT and relays /ws to its own Asterisk; plain HTTP off loopback is refused
at start with what to set."""

from __future__ import annotations

import asyncio
import secrets
import socket

import aiohttp
import pytest

from tests.bot.test_serve import Served, serve  # noqa: F401 - the fixture
from tests.pbx_fixtures import free_port
from tests.webserver.test_server import assert_strict


async def test_serve_serves_the_page_and_relays_to_its_pbx(serve) -> None:  # noqa: F811
    port = free_port(socket.SOCK_STREAM)
    base = f"http://127.0.0.1:{port}"
    served: Served = await serve(CONFERENCE_PUBLIC_URL=base, CONFERENCE_WEB_PORT=str(port))
    await served.wait_log("Ready:")
    assert f"Browser join: links at {base}/join/" in served.log
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/join/{secrets.token_urlsafe(32)}") as page:
            assert page.status == 200
            assert_strict(page.headers)
        async with http.post(f"{base}/api/link/{secrets.token_urlsafe(32)}") as bogus:
            assert bogus.status == 410
        # Its /ws relays only for a redeemed link's page (tests/webserver/test_server.py
        # follows a relay through); without a ticket: refused.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{port}/ws/{secrets.token_urlsafe(24)}",
                                  protocols=("sip",))  # fmt: skip
        assert refused.value.status == 403
    assert await served.stop() == 0


async def test_plain_http_off_loopback_is_refused_at_start(serve) -> None:  # noqa: F811
    served: Served = await serve(
        CONFERENCE_PUBLIC_URL="https://conf.example.com", CONFERENCE_WEB_HOST="0.0.0.0"
    )
    assert await asyncio.wait_for(served.proc.wait(), 30) == 1  # exits by itself
    await served.stop()
    assert "needs HTTPS: set PBX_TLS_CERT and PBX_TLS_KEY" in served.log
