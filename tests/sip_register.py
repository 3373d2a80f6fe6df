"""A raw SIP REGISTER client over UDP, for the login-ban tests and bench: it can log in
with the right password, guess wrong ones, or claim a user that does not exist, from any
loopback address (``127.0.0.5`` plays the attacker).

One :class:`Registrar` socket per source address; each :meth:`Registrar.register` sends a
REGISTER, answers a 401 challenge with an MD5 digest (RFC 2617, ``qop=auth`` when offered)
and returns the final status code, or ``None`` when nothing came back in time (what a
silent drop looks like).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
import socket
from dataclasses import dataclass

_counter = itertools.count(1)
_CHALLENGE = re.compile(r'(\w+)="?([^",]*)"?')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]


def _parse(data: bytes) -> Reply | None:
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3})", head[0])
    if m is None:
        return None
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return Reply(int(m.group(1)), headers)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[Reply] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = _parse(data)
        if reply is not None and reply.status >= 200:  # provisional replies are not answers
            self.replies.put_nowait(reply)


class Registrar:
    """REGISTERs from ``local_ip`` (a loopback address) to the PBX at ``host:port``."""

    def __init__(self, host: str, port: int, local_ip: str) -> None:
        self.host, self.port, self.local_ip = host, port, local_ip
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol = _Protocol()
        self.local_port = 0

    async def __aenter__(self) -> Registrar:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.local_ip, 0))
        self.local_port = sock.getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(lambda: self._protocol, sock=sock)
        self._transport = transport
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()

    def _request(self, user: str, call_id: str, cseq: int, auth: str | None) -> bytes:
        uri = f"sip:{self.host}:{self.port}"
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        lines = [
            f"REGISTER {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_ip}:{self.local_port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{self.host}>;tag={call_id[:8]}",
            f"To: <sip:{user}@{self.host}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{user}@{self.local_ip}:{self.local_port}>",
            "Expires: 60",
            "User-Agent: conference-bot-tests",
        ]
        if auth is not None:
            lines.append(f"Authorization: {auth}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def _digest(self, challenge: str, user: str, password: str, auth_user: str) -> str:
        params = dict(_CHALLENGE.findall(challenge.removeprefix("Digest").strip()))
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        uri = f"sip:{self.host}:{self.port}"
        ha1 = _md5(f"{auth_user}:{realm}:{password}")
        ha2 = _md5(f"REGISTER:{uri}")
        fields = [f'username="{auth_user}"', f'realm="{realm}"', f'nonce="{nonce}"',
                  f'uri="{uri}"', 'algorithm=MD5']  # fmt: skip
        if "auth" in params.get("qop", "").split(","):
            cnonce, nc = f"{random.getrandbits(32):08x}", "00000001"
            response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += [f'cnonce="{cnonce}"', f"nc={nc}", "qop=auth"]
        else:
            response = _md5(f"{ha1}:{nonce}:{ha2}")
        if "opaque" in params:
            fields.append(f'opaque="{params["opaque"]}"')
        fields.append(f'response="{response}"')
        return "Digest " + ", ".join(fields)

    async def _send(self, data: bytes, timeout: float) -> Reply | None:
        assert self._transport is not None, "use 'async with Registrar(...)'"
        while not self._protocol.replies.empty():  # late answers to an earlier request
            self._protocol.replies.get_nowait()
        self._transport.sendto(data, (self.host, self.port))
        try:
            return await asyncio.wait_for(self._protocol.replies.get(), timeout)
        except TimeoutError:
            return None

    async def register(
        self, user: str, password: str, *, auth_user: str | None = None, timeout: float = 2.0
    ) -> int | None:
        """The final status of one REGISTER (answering one challenge), None if no answer.
        ``auth_user`` is the digest user name (default ``user``): text the client chooses."""
        call_id = f"{random.getrandbits(64):x}-{next(_counter)}@{self.local_ip}"
        first = await self._send(self._request(user, call_id, 1, None), timeout)
        if first is None or first.status != 401 or "www-authenticate" not in first.headers:
            return None if first is None else first.status
        auth = self._digest(first.headers["www-authenticate"], user, password, auth_user or user)
        second = await self._send(self._request(user, call_id, 2, auth), timeout)
        return None if second is None else second.status
