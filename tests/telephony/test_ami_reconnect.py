"""The AMI client's reconnects against a scripted AMI server: backoff while the PBX is away,
``retry_now`` when it is known to be back, and nothing at all after ``close``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from telephony.ami import AmiClient
from tests.pbx_fixtures import eventually, free_port

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


async def read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while (line := (await reader.readline()).decode().rstrip("\r\n")) or not fields:
        if not line and reader.at_eof():
            return fields
        if line:
            key, _, value = line.partition(": ")
            fields[key] = value
    return fields


class FakeAmi:
    """Accepts logins on ``port`` once started, says ``FullyBooted``, counts connections."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            writer.write(BANNER)
            login = await read_action(reader)
            writer.write(
                f"Response: Success\r\nActionID: {login.get('ActionID', '')}\r\n\r\n".encode()
            )
            writer.write(
                b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
            )
            while await read_action(reader):
                pass
        finally:
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(free_port(socket.SOCK_STREAM))
    yield server
    await server.close()


def client(port: int) -> AmiClient:
    return AmiClient(host="127.0.0.1", port=port, username="bot", secret="secret")


async def test_retry_now_cuts_a_long_backoff_short(fake: FakeAmi) -> None:
    ami = client(fake.port)
    await ami.start()  # nothing listens: refused, then 0.25, 0.5, 1 s... between tries
    try:
        await asyncio.sleep(2.0)  # tries at about 0, 0.25, 0.75 and 1.75 s; next at 3.75 s
        await fake.start()
        await asyncio.sleep(0.3)
        assert not ami.connected and fake.connections == 0  # the backoff alone waits
        loop = asyncio.get_running_loop()
        told = loop.time()
        ami.retry_now()  # the PBX is known to be back
        await eventually(lambda: ami.connected, timeout=2, what="AMI ready")
        assert loop.time() - told < 0.2
        ami.retry_now()  # connected: nothing happens
        await asyncio.sleep(0.2)
        assert fake.connections == 1
    finally:
        await ami.close()


async def test_nothing_reconnects_after_close(fake: FakeAmi) -> None:
    ami = client(fake.port)
    await ami.start()  # refused: a retry is pending
    await asyncio.sleep(0.1)
    await ami.close()
    await fake.start()
    ami.retry_now()
    await asyncio.sleep(1.0)  # past the pending retry's time
    assert fake.connections == 0 and not ami.connected

    again = client(fake.port)
    await again.start()
    assert await again.wait_ready(2)
    await again.close()
    await fake.close()  # the server goes away: the closed client does not come back
    await fake.start()
    await asyncio.sleep(1.0)
    assert fake.connections == 1
