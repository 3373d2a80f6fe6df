"""A minimal SIP-over-WebSocket caller (RFC 7118) for the tests: what JsSIP in a browser
sends to Asterisk's ``/ws``, without a browser. It places one INVITE with a WebRTC-shaped
offer (DTLS-SRTP, ICE, rtcp-mux), answers the digest challenge with the link's password,
ACKs, can send DTMF as SIP INFO (Asterisk takes INFO digits whatever the endpoint's
dtmf_mode), and hangs up. Media never flows (no ICE or DTLS peer): the tests look at
signalling, the dialplan and ConfBridge. The browser tests (tests/web/) cover media.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field

import aiohttp

HOST = "127.0.0.1"
_FINGERPRINT = ":".join(f"{b:02X}" for b in secrets.token_bytes(32))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


def offer() -> str:
    """An SDP offer as a browser makes it (the parts Asterisk's webrtc=yes checks)."""
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0 101", "c=IN IP4 127.0.0.1",
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
        "a=sendrecv", "a=rtcp-mux", "a=mid:0", "a=setup:actpass",
        f"a=fingerprint:sha-256 {_FINGERPRINT}",
        f"a=ice-ufrag:{secrets.token_hex(4)}", f"a=ice-pwd:{secrets.token_hex(12)}",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]]

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), [""])[0]


def parse(text: str) -> Response | None:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", head[0])
    if not m:
        return None
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(m.group(1)), m.group(2), headers)


@dataclass
class WsCall:
    """One call from SIP user ``user`` (a link id) with ``password`` to ``uri_user``."""

    url: str
    user: str
    password: str
    uri_user: str = "join"
    statuses: list[int] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # requests Asterisk sent (BYE...)
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _session: aiohttp.ClientSession | None = None
    _cseq: int = 0
    _call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    _tag: str = field(default_factory=lambda: secrets.token_hex(4))
    _to_tag: str = ""
    _remote_target: str = ""
    _responses: asyncio.Queue[Response] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None

    async def connect(self) -> str:
        """Open the WebSocket (subprotocol sip); returns the subprotocol Asterisk chose."""
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, protocols=("sip",))
        self._reader = asyncio.create_task(self._read())
        return self._ws.protocol or ""

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            text = str(msg.data)
            response = parse(text)
            if response is not None:
                self.statuses.append(response.status)
                await self._responses.put(response)
            else:
                self.requests.append(text)
                await self._answer_request(text)

    async def _answer_request(self, text: str) -> None:
        """200 OK to what Asterisk sends in the dialog (BYE, INFO, MESSAGE, OPTIONS)."""
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in head[1:] if h.split(":", 1)[0].strip().lower()
                in ("via", "from", "to", "call-id", "cseq")]  # fmt: skip
        await self._send("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""]))

    async def _send(self, text: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(text)

    def _request(self, method: str, uri: str, cseq: int, extra: list[str], body: str = "") -> str:
        branch = "z9hG4bK" + secrets.token_hex(6)
        to = f"<sip:{self.uri_user}@{HOST}>" + (f";tag={self._to_tag}" if self._to_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/WS client.invalid;branch={branch}",
            "Max-Forwards: 70",
            f'From: "Browser" <sip:{self.user}@{HOST}>;tag={self._tag}',
            f"To: {to}",
            f"Call-ID: {self._call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{self.user}@client.invalid;transport=ws>",
            *extra,
            f"Content-Length: {len(body.encode())}",
            "",
            body,
        ]
        return "\r\n".join(lines)

    async def _final(self, timeout: float) -> Response:
        while True:
            response = await asyncio.wait_for(self._responses.get(), timeout)
            if response.status >= 200:
                return response

    def _authorization(self, challenge: str, method: str, uri: str) -> str:
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = params["realm"], params["nonce"]
        ha1 = _md5(f"{self.user}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        cnonce, nc = secrets.token_hex(4), "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
        return (
            f'Authorization: Digest username="{self.user}", realm="{realm}", '
            f'nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5, '
            f'qop=auth, nc={nc}, cnonce="{cnonce}"{opaque}'
        )

    async def invite(self, timeout: float = 10.0) -> int:
        """INVITE, answering one digest challenge; returns the final status (200: in the
        call, ACKed; 401/403/404...: refused)."""
        uri = f"sip:{self.uri_user}@{HOST}"
        sdp = ["Content-Type: application/sdp"]
        self._cseq += 1
        await self._send(self._request("INVITE", uri, self._cseq, sdp, offer()))
        final = await self._final(timeout)
        if final.status in (401, 407):
            await self._ack_error(uri, final)
            challenges = final.headers.get("www-authenticate", [])
            md5 = [c for c in challenges if "SHA" not in c.upper()] or challenges
            if not md5:
                return final.status
            self._cseq += 1
            auth = self._authorization(md5[0], "INVITE", uri)
            await self._send(self._request("INVITE", uri, self._cseq, [*sdp, auth], offer()))
            final = await self._final(timeout)
        if final.status == 200:
            self._to_tag = re.search(r";tag=([^;>\s]+)", final.header("to")).group(1)  # type: ignore[union-attr]
            contact = re.search(r"<([^>]+)>", final.header("contact"))
            self._remote_target = contact.group(1) if contact else uri
            await self._send(self._request("ACK", self._remote_target, self._cseq, []))
        elif final.status >= 300:
            await self._ack_error(uri, final)
        return final.status

    async def _ack_error(self, uri: str, final: Response) -> None:
        m = re.search(r";tag=([^;>\s]+)", final.header("to"))
        saved, self._to_tag = self._to_tag, (m.group(1) if m else "")
        await self._send(self._request("ACK", uri, self._cseq, []))
        self._to_tag = saved

    async def dtmf(self, digits: str, timeout: float = 5.0) -> None:
        """Each digit as SIP INFO (application/dtmf-relay), one after the other."""
        for digit in digits:
            self._cseq += 1
            body = f"Signal={digit}\r\nDuration=160\r\n"
            extra = ["Content-Type: application/dtmf-relay"]
            await self._send(self._request("INFO", self._remote_target, self._cseq, extra, body))
            await self._final(timeout)
            await asyncio.sleep(0.1)  # keys pressed one after the other, as a person does

    def hung_up_by_pbx(self) -> bool:
        return any(r.startswith("BYE ") for r in self.requests)

    async def bye(self, timeout: float = 5.0) -> int:
        self._cseq += 1
        await self._send(self._request("BYE", self._remote_target, self._cseq, []))
        return (await self._final(timeout)).status
