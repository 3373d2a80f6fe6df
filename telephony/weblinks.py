"""Per-link SIP credentials for browser join (issue 12), kept in Asterisk's AstDB.

Each "Join from browser" link gets its own PJSIP endpoint and auth, named by the link's id
(``web-<16 hex>``), which exist only while the link may be used: created here when the bot
issues the link, deleted by the dialplan (``[from-webrtc]``) the moment the link joins, or
here when it expires (the bot's sweeper; and at start, for leftovers: AstDB survives an
Asterisk restart). So no shared browser password exists, and a used or expired link gets
401 from Asterisk whatever the bot's web server says.

Why AstDB (sorcery's astdb wizard, ``sorcery.conf``) and not pjsip.conf: an object written
there over AMI (``DBPut``, which the bot's AMI account may already do) exists at once, with
no reload (a reload of res_pjsip would re-read every phone and trunk), and is gone at once
when deleted (the wizard has no cache). The auth holds ``md5_cred``, the digest hash of
user, realm and password, never the password itself: only the browser holding the link
gets that.

Write order fails closed: auth, endpoint, then the link's keys with the room key last
(the dialplan needs it to join); ``revoke`` removes the room key first. Every ``DBPut`` and
``DBDel`` is confirmed (``AmiClient.action`` raises unless Asterisk answered ``Success``).
The key layout is ``telephony.naming``'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

from bot.models import Room
from deploy.pjsip import WS_TRANSPORT
from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed
from telephony.naming import (
    PJSIP_AUTH_FAMILY,
    PJSIP_ENDPOINT_FAMILY,
    WEBLINK_CONFID_KEY,
    WEBLINK_KEYS,
    WEBLINK_ROOM_KEY,
    WEBLINK_TRUSTED_KEY,
    WEBLINK_USER_KEY,
    WEBLINKS_FAMILY,
    WEBRTC_CONTEXT,
    is_link_id,
    weblink_family,
)

log = logging.getLogger(__name__)

REALM = "conference-bot"  # pjsip.conf [global] default_realm: the digest realm
# Browsers speak Opus; G.711 (ulaw) for those that prefer it (less CPU: no transcoding).
CODECS = "opus,ulaw"
NAME_MAX = 40
_SLACK_USER = re.compile(r"[0-9A-Za-z]{1,32}")
# Kept out of a display name: controls, and what SIP's quoted string, a caller ID
# "Name" <number>, or the dialplan's function arguments would read as syntax.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\<>()\[\]{}$;,|`]')


def display_name(name: str) -> str:
    """A Slack name as the endpoint's caller ID carries it: no quotes, brackets, backslashes
    or control characters, spaces collapsed, at most :data:`NAME_MAX` characters."""
    cleaned = " ".join(_UNSAFE.sub(" ", name).split())[:NAME_MAX].strip()
    return cleaned or "Browser"


def md5_cred(link_id: str, password: str) -> str:
    """The digest hash AstDB keeps instead of the password: md5(user:realm:password)."""
    return hashlib.md5(f"{link_id}:{REALM}:{password}".encode()).hexdigest()  # noqa: S324


def auth_object(link_id: str, password: str) -> dict[str, str]:
    """The link's ``auth`` (sorcery fields), as stored in AstDB."""
    return {
        "type": "auth",
        "auth_type": "md5",
        "username": link_id,
        "realm": REALM,
        "md5_cred": md5_cred(link_id, password),
    }


def endpoint_object(link_id: str, *, name: str, user: str) -> dict[str, str]:
    """The link's ``endpoint`` (sorcery fields). ``webrtc = yes`` expands to ICE, AVPF,
    DTLS-SRTP (certificate made by Asterisk), rtcp-mux and bundle. Calls land in
    ``[from-webrtc]``; no transfer, no subscriptions; DTMF (the PIN) as RFC 4733."""
    return {
        "type": "endpoint",
        "transport": WS_TRANSPORT,
        "context": WEBRTC_CONTEXT,
        "auth": link_id,
        "webrtc": "yes",
        "dtls_auto_generate_cert": "yes",
        "disallow": "all",
        "allow": CODECS,
        "callerid": f'"{display_name(name)}" <{user}>',
        "direct_media": "no",
        "allow_subscribe": "no",
        "allow_transfer": "no",
        "dtmf_mode": "rfc4733",
        # A browser gone without a BYE (tab killed, network lost) leaves its seat in time.
        "rtp_timeout": "60",
    }


def _json(fields: dict[str, str]) -> str:
    return json.dumps(fields, separators=(",", ":"))


class WebLinks:
    """Creates and removes browser links' credentials and keys over the bot's AMI."""

    def __init__(self, ami: AmiClient) -> None:
        self._ami = ami

    async def create(
        self, link_id: str, room: Room, *, name: str, user: str, password: str, trusted: bool
    ) -> None:
        """Let ``link_id`` (SIP user) with ``password`` join ``room`` once, as Slack user
        ``user`` named ``name``; ``trusted`` (an owner or admin of the room) skips the PIN
        and joins as a moderator. Returns once Asterisk confirmed every write; on any
        failure what was written is removed (best effort) and the error raised
        (``PbxUnavailable``, ``PbxActionFailed``)."""
        family = weblink_family(link_id)
        if not _SLACK_USER.fullmatch(user):
            raise ValueError(f"not a Slack user id: {user!r}")
        if len(password) < 16:
            raise ValueError("a link's password must have at least 16 characters")
        values = {
            WEBLINK_CONFID_KEY: room.conference_id,
            WEBLINK_TRUSTED_KEY: "1" if trusted else "0",
            WEBLINK_USER_KEY: user,
            WEBLINK_ROOM_KEY: str(room.id),
        }
        writes = [
            (PJSIP_AUTH_FAMILY, link_id, _json(auth_object(link_id, password))),
            (PJSIP_ENDPOINT_FAMILY, link_id, _json(endpoint_object(link_id, name=name, user=user))),
            *((family, key, values[key]) for key in WEBLINK_KEYS),
        ]
        try:
            for fam, key, value in writes:
                await self._put(fam, key, value)
        except BaseException:
            try:
                await self.revoke(link_id)
            except Exception as exc:  # noqa: BLE001 - the first error is the one to report
                log.warning("could not undo the half-written browser link %s: %s", link_id, exc)
            raise
        log.info("browser link %s created for room %s", link_id, room.id)

    async def revoke(self, link_id: str) -> None:
        """Remove ``link_id``'s keys (the room key first), endpoint and auth; absent ones
        are fine (the dialplan deletes them on join). Returns once Asterisk confirmed."""
        family = weblink_family(link_id)
        for fam, key in (
            *((family, k) for k in reversed(WEBLINK_KEYS)),
            (PJSIP_ENDPOINT_FAMILY, link_id),
            (PJSIP_AUTH_FAMILY, link_id),
        ):
            await self._del(fam, key)

    async def stored(self) -> set[str]:
        """The link ids AstDB holds anything of (keys, endpoint or auth): what a bot that
        starts checks against its own records, as AstDB outlives Asterisk restarts."""
        found: set[str] = set()
        for fam in (WEBLINKS_FAMILY, PJSIP_ENDPOINT_FAMILY, PJSIP_AUTH_FAMILY):
            entries = await self._ami.list_action(
                {"Action": "DBGetTree", "Family": fam}, strict=True
            )
            prefix = f"/{fam}/"
            for entry in entries:  # DBGetTreeResponse: Key /<family>/<id>[/<key>], Val
                key = str(entry.get("Key", ""))
                if key.startswith(prefix):
                    link = key[len(prefix) :].split("/", 1)[0]
                    if is_link_id(link):
                        found.add(link)
        return found

    async def _put(self, family: str, key: str, value: str) -> None:
        await self._ami.action({"Action": "DBPut", "Family": family, "Key": key, "Val": value})

    async def _del(self, family: str, key: str) -> None:
        try:
            await self._ami.action({"Action": "DBDel", "Family": family, "Key": key})
        except PbxActionFailed as refused:
            # Asterisk answers a key already gone (the dialplan deletes them on join) with
            # the same error as a delete that failed: absent is confirmed by a DBGet that
            # finds nothing; anything else is the failure to report.
            try:
                await self._ami.action({"Action": "DBGet", "Family": family, "Key": key})
            except PbxActionFailed as exc:
                if "not found" in str(exc).lower():
                    return
            raise refused from None
