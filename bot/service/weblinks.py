"""One-time links to join a room from the browser (issue 12).

A Slack user clicks "Join from browser"; ``issue_web_link`` checks who they are, makes a
random token (the link) and a per-link SIP account in the PBX (``LinkCredentials``:
``telephony.weblinks.WebLinks`` writes it to AstDB), stores only the token's SHA-256, and
audits. The link works for ``LINK_TTL`` seconds and once: ``redeem_web_link`` (the bot's
web server, when the page opens) marks it used in one ``UPDATE ... WHERE used_at IS NULL
AND expires_at > now`` and hands the page its SIP settings. The SIP password is derived
from the token (an HMAC), so neither the database nor the PBX (which keeps only the digest
hash) can give it out again. ``sweep_web_links`` removes the credentials of expired and
used links from the PBX, and at start-up those no link of ours accounts for (AstDB
outlives Asterisk restarts).

Who gets a link: anyone of the workspace (guests too: they may see the room's card, and
the dialplan asks them for the PIN); the room's owners and the admins get trusted links,
which skip the PIN like a moderator. People of another Slack team are refused, audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot import errors
from bot.models import Role, Room, WebLink
from bot.service.access import AccessMixin
from bot.service.base import log

LINK_TTL = 600.0  # seconds a link works: 10 minutes
WEB_ACTOR = "web"  # the audit log's actor for what the web side did on its own (sweeps)
_LINK_ID = re.compile(r"^web-[0-9a-f]{16}$")
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f"<>\\]')

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """The one time format of ``web_links`` (fixed width, so strings compare as times)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sip_password(token: str) -> str:
    """The link's SIP password, derived from the token, so it is never stored anywhere."""
    digest = hmac.new(token.encode(), b"conference-bot sip password", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_link_id(value: str) -> bool:
    return bool(_LINK_ID.match(value))


def display_name(name: str, fallback: str) -> str:
    """A Slack name as it may go into a SIP caller ID: no quotes, angle brackets,
    backslashes or control characters; at most 40 characters."""
    cleaned = " ".join(_NAME_UNSAFE.sub(" ", name).split())[:40].strip()
    return cleaned or fallback


class LinkCredentials(Protocol):
    """The per-link SIP account in the PBX (``telephony.weblinks.WebLinks``)."""

    async def create(
        self, link_id: str, room: Room, *, name: str, user: str, password: str, trusted: bool
    ) -> None: ...

    async def revoke(self, link_id: str) -> None: ...

    async def stored(self) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link just made: ``token`` goes into the URL, to the person who asked, once."""

    link: WebLink
    token: str

    @property
    def expires_at(self) -> datetime:
        return datetime.fromisoformat(self.link.expires_at.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class JoinSettings:
    """What the page needs to join: the SIP account (user = link id) and the room."""

    link_id: str
    password: str
    display_name: str
    room_name: str
    conference_id: str
    trusted: bool
    has_pin: bool  # a PIN or a moderator PIN: the dialplan asks the untrusted for one
    expires_at: str


@dataclass(frozen=True, slots=True)
class WebJoin:
    """What the Slack side needs to hand out browser links (``Deps.web``; None there when
    ``CONFERENCE_PUBLIC_URL`` is unset: browser join is not set up)."""

    public_url: str  # no trailing slash
    credentials: LinkCredentials

    def link(self, token: str) -> str:
        return f"{self.public_url}/join/{token}"


class LinkRefused(errors.DomainError):
    """The link was used, has expired or never existed (HTTP 410 on the page)."""

    code = "link_refused"


class WebLinksMixin(AccessMixin):
    """Browser links: issue (audited), redeem once, sweep the PBX's leftovers."""

    async def issue_web_link(
        self, ref: int | str, *, user: str, name: str, role: Role, in_workspace: bool,
        credentials: LinkCredentials, actor: str, ttl: float = LINK_TTL,
        clock: Clock = utcnow,
    ) -> IssuedLink:  # fmt: skip
        """A one-time link to ``ref``'s room for Slack user ``user`` (shown as ``name``).

        ``NotAllowed`` (audited) for someone outside the workspace; ``PbxUnavailable`` when
        the PBX did not take the credentials (then no link exists)."""
        async with self.repo.read() as repo:
            room = await self._find(repo, ref)
            trusted = await self._may_manage(repo, room.id, actor, role)
        if not in_workspace:
            why = "Refused: browser link for someone outside this workspace"
            await self.record(actor, "weblink.refused", room.name, why)
            raise errors.NotAllowed(
                "Browser links are only for people of this Slack workspace. Ask someone "
                "in it for the dial-in details instead."
            )
        token = secrets.token_urlsafe(32)
        link_id = "web-" + secrets.token_hex(8)
        shown = display_name(name, user)
        try:
            await credentials.create(link_id, room, name=shown, user=user,
                                     password=sip_password(token), trusted=trusted)  # fmt: skip
        except Exception as exc:
            log.warning("browser link for room %s not created in the PBX: %s", room.id, exc)
            await self._forget_credentials(credentials, link_id)
            raise errors.PbxUnavailable(
                "The phone system (PBX) did not take the browser link, so none was made. "
                "Try again in a moment."
            ) from None
        now = clock()
        try:
            async with self.repo.write() as repo:
                link = await repo.insert_web_link(
                    link_id=link_id, token_hash=token_hash(token), room=room, slack_user=user,
                    name=shown, trusted=trusted, now=stamp(now),
                    expires_at=stamp(now + timedelta(seconds=ttl)),
                )  # fmt: skip
                kind = "trusted (skips the PIN)" if trusted else "asks for the PIN"
                if not room.has_pin:
                    kind = "trusted" if trusted else "untrusted"
                await self._audit(actor, "weblink.issue", room.name,
                                  f'Browser link {link_id} for {user} to room "{room.name}" '
                                  f"({role.value}, {kind}), valid {ttl / 60:g} min")  # fmt: skip
        except BaseException:
            await self._forget_credentials(credentials, link_id)
            raise
        return IssuedLink(link, token)

    async def redeem_web_link(self, token: str, *, clock: Clock = utcnow) -> JoinSettings:
        """The SIP settings of the link, once; ``LinkRefused`` (audited when the link
        exists) if it was used, has expired, or its room was deleted."""
        hashed = token_hash(token)
        now = stamp(clock())
        async with self.repo.write() as repo:
            link = await repo.web_link_by_token(hashed)
            if link is None:
                raise LinkRefused("This link is not valid: ask for a new one in Slack.")
            room = await repo.room_by_id(link.room_id) if link.room_id is not None else None
            used = room is not None and await repo.use_web_link(hashed, now=now)
            if used:
                assert room is not None
                await self._audit(f"slack:{link.slack_user}", "weblink.redeem", link.room_name,
                                  f"Opened browser link {link.link_id} to room "
                                  f'"{link.room_name}"')  # fmt: skip
        if room is None:
            why = "its room was deleted"
            text = "This link's room was deleted."
        elif used:
            return JoinSettings(link.link_id, sip_password(token), link.name, room.name,
                                room.conference_id, link.trusted,
                                room.has_pin or room.has_moderator_pin,
                                link.expires_at)  # fmt: skip
        elif link.used_at is not None:
            why, text = "already used", "This link was already used: ask for a new one in Slack."
        else:
            why = "expired"
            text = "This link has expired: ask for a new one in Slack (links last 10 minutes)."
        await self.record(f"slack:{link.slack_user}", "weblink.refused", link.room_name,
                          f"Refused browser link {link.link_id}: {why}")  # fmt: skip
        raise LinkRefused(text)

    async def web_link(self, link_id: str) -> WebLink | None:
        async with self.repo.read() as repo:
            return await repo.web_link(link_id)

    async def sweep_web_links(
        self, credentials: LinkCredentials, *, startup: bool = False, clock: Clock = utcnow
    ) -> list[str]:
        """Remove from the PBX the credentials of links that expired (and, with ``startup``,
        every ``web-*`` account no live link of ours accounts for). A used link's account
        stays until then, unless the join deleted it (the dialplan does): the page may
        have opened the link a while before its person clicks Join.
        Returns the link ids revoked; a revoke that fails is tried again next sweep."""
        now = clock()
        async with self.repo.read() as repo:
            due = await repo.web_links_to_revoke(now=stamp(now))
            live = await repo.live_web_link_ids()
        targets = [link.link_id for link in due]
        if startup:
            leftovers = {i for i in await credentials.stored() if is_link_id(i)} - live
            targets += sorted(leftovers)
        done: list[str] = []
        for link_id in targets:
            try:
                await credentials.revoke(link_id)
            except Exception as exc:
                log.warning("browser link %s not revoked yet: %s", link_id, exc)
                continue
            done.append(link_id)
            async with self.repo.write() as repo:
                await repo.set_web_link_revoked(link_id, now=stamp(clock()))
        if done:
            await self.record(WEB_ACTOR, "weblink.revoke", "pbx",
                              f"Removed the SIP accounts of {len(done)} browser link(s) "
                              f"(used or expired): {', '.join(done)}")  # fmt: skip
        return done

    async def _forget_credentials(self, credentials: LinkCredentials, link_id: str) -> None:
        try:
            await credentials.revoke(link_id)
        except Exception as exc:  # the start-up sweep removes it
            log.warning("browser link %s left in the PBX: %s", link_id, exc)
