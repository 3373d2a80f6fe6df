"""The boot probe (deploy.probe) against a scripted AMI server: ready only after a good login
and ``FullyBooted``; a refused login is final; the password never shows in an error."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from deploy.credentials import AmiCredentials
from deploy.probe import LoginRefused, NotReady, wait_fully_booted

CREDS = AmiCredentials(username="conference-bot", password="s3cret-pw")
BANNER = b"Asterisk Call Manager/9.0.0\r\n"

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while (line := (await reader.readline()).decode().rstrip("\r\n")) or not fields:
        if line:
            key, _, value = line.partition(": ")
            fields[key] = value
    return fields


@pytest.fixture
async def ami() -> AsyncIterator[Callable[[Script], Awaitable[int]]]:
    """Start a one-script AMI server on a free loopback port; returns its port."""
    servers: list[asyncio.Server] = []

    async def serve(script: Script) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield serve
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_ready_after_login_and_fully_booted(ami) -> None:
    seen: list[dict[str, str]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        login = await read_action(reader)
        seen.append(login)
        writer.write(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
        seen.append(await read_action(reader))

    port = await ami(script)
    await wait_fully_booted("127.0.0.1", port, CREDS, timeout=5)
    login, logoff = seen
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == (
        "Login",
        CREDS.username,
        CREDS.password,
        "system",  # FullyBooted is a system event
    )
    assert logoff["Action"] == "Logoff"


async def test_refused_login_is_final_and_keeps_the_password_out(ami) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        login = await read_action(reader)
        writer.write(
            f"Response: Error\r\nActionID: {login['ActionID']}\r\n"
            "Message: Authentication failed\r\n\r\n".encode()
        )
        await reader.read()

    port = await ami(script)
    with pytest.raises(LoginRefused, match="Authentication failed") as caught:
        await wait_fully_booted("127.0.0.1", port, CREDS, timeout=5)
    assert "conference-bot" in str(caught.value) and CREDS.password not in str(caught.value)


async def test_not_ready_until_asterisk_says_so(ami) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        login = await read_action(reader)
        writer.write(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        await reader.read()

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        await read_action(reader)

    async def not_ami(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await reader.read()

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cases = {
        "did not report FullyBooted": await ami(silent),
        "closed the connection": await ami(hangs_up),
        "unexpected AMI banner": await ami(not_ami),
        str(closed): closed,  # the OS error names the address
    }
    for reason, port in cases.items():
        with pytest.raises(NotReady, match=reason) as caught:
            await wait_fully_booted("127.0.0.1", port, CREDS, timeout=0.3)
        assert CREDS.password not in str(caught.value)
