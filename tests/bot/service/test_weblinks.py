"""One-time browser links (issue 12) through the service, against a real Asterisk's AstDB:
who gets a link and whether it skips the PIN, single use, expiry, the token stored only
hashed, every step audited, and the PBX's credentials swept when used or expired."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from bot import errors
from bot.models import Role, Room
from bot.service.weblinks import LinkRefused, sip_password, token_hash, utcnow
from telephony.ami import AmiClient
from telephony.naming import weblink_family
from telephony.weblinks import REALM, WebLinks
from tests.pbx_fixtures import Pbx, Stack

OWNER, MEMBER, GUEST, ADMIN = "UOWNER", "UMEMBER", "UGUEST", "UADMIN"


async def db_get(stack: Stack, family: str, key: str) -> str | None:
    msgs = await stack.ami.list_action({"Action": "DBGet", "Family": family, "Key": key})
    return str(msgs[0]["Val"]) if msgs else None


async def db_has(stack: Stack, family: str, key: str) -> bool:
    try:
        return await db_get(stack, family, key) is not None
    except Exception:  # DBGet of a missing key is an error answer
        return False


@pytest.fixture
async def stack(shared_pbx: Pbx, make_stack: Callable[[Pbx], Awaitable[Stack]]) -> Stack:
    return await make_stack(shared_pbx)


@pytest.fixture
async def room(stack: Stack) -> Room:
    made = await stack.service.create_room(
        name="Board", conference_id="4242", pin="1234", actor="test"
    )
    await stack.service.add_owner(made.id, OWNER, actor="test")
    return made


async def issue(stack: Stack, room: Room, user: str, role: Role, *, in_workspace: bool = True,
                **kw):  # fmt: skip
    return await stack.service.issue_web_link(
        room.id, user=user, name=f"Person {user}", role=role, in_workspace=in_workspace,
        credentials=WebLinks(stack.ami), actor=f"slack:{user}", **kw,
    )  # fmt: skip


async def test_owner_link_is_trusted_single_use_and_stored_hashed(stack: Stack, room: Room) -> None:
    issued = await issue(stack, room, OWNER, Role.MEMBER)
    link = issued.link
    assert link.trusted and link.room_id == room.id and link.slack_user == OWNER
    family = weblink_family(link.link_id)
    # The PBX has the account (md5 of the password derived from the token) and the room.
    assert await db_get(stack, family, "room") == str(room.id)
    assert await db_get(stack, family, "trusted") == "1"
    assert link.link_id in await WebLinks(stack.ami).stored()
    auth = await db_get(stack, "pjsip/auth", link.link_id)
    password = sip_password(issued.token)
    ha1 = hashlib.md5(f"{link.link_id}:{REALM}:{password}".encode()).hexdigest()
    assert auth is not None and ha1 in auth and password not in auth
    # SQLite holds the token's SHA-256, never the token or the password.
    async with stack.service.repo.read() as repo:
        rows = await repo._all("SELECT * FROM web_links")
    dumped = repr(rows)
    assert token_hash(issued.token) in dumped
    assert issued.token not in dumped and password not in dumped

    join = await stack.service.redeem_web_link(issued.token)
    assert (join.link_id, join.password, join.room_name) == (link.link_id, password, "Board")
    assert join.trusted and join.display_name == f"Person {OWNER}"
    with pytest.raises(LinkRefused, match="already used"):
        await stack.service.redeem_web_link(issued.token)

    actions = [(e.actor, e.action) for e in await stack.service.audit_log()]
    assert (f"slack:{OWNER}", "weblink.issue") in actions
    assert (f"slack:{OWNER}", "weblink.redeem") in actions
    assert (f"slack:{OWNER}", "weblink.refused") in actions
    assert all(issued.token not in e.summary for e in await stack.service.audit_log())


async def test_who_gets_a_trusted_link(stack: Stack, room: Room) -> None:
    """Owners and admins skip the PIN; members who own nothing and guests are asked."""
    cases = [(OWNER, Role.MEMBER, True), (ADMIN, Role.ADMIN, True),
             (MEMBER, Role.MEMBER, False), (GUEST, Role.GUEST, False)]  # fmt: skip
    for user, role, trusted in cases:
        issued = await issue(stack, room, user, role)
        assert issued.link.trusted is trusted, user
        family = weblink_family(issued.link.link_id)
        assert await db_get(stack, family, "trusted") == ("1" if trusted else "0")
        assert await db_get(stack, family, "user") == user
        join = await stack.service.redeem_web_link(issued.token)
        assert join.trusted is trusted and join.has_pin


async def test_someone_of_another_team_gets_no_link(stack: Stack, room: Room) -> None:
    before = await WebLinks(stack.ami).stored()
    with pytest.raises(errors.NotAllowed, match="only for people of this Slack workspace"):
        await issue(stack, room, "UOTHER", Role.GUEST, in_workspace=False)
    assert await WebLinks(stack.ami).stored() == before
    async with stack.service.repo.read() as repo:
        assert await repo._all("SELECT id FROM web_links") == []
    refused = (await stack.service.audit_log())[0]
    assert (refused.actor, refused.action) == ("slack:UOTHER", "weblink.refused")


async def test_expired_link_is_refused_and_swept_from_the_pbx(stack: Stack, room: Room) -> None:
    issued = await issue(stack, room, MEMBER, Role.MEMBER)
    link_id = issued.link.link_id
    later = utcnow() + timedelta(minutes=11)
    with pytest.raises(LinkRefused, match="expired"):
        await stack.service.redeem_web_link(issued.token, clock=lambda: later)
    # A link opened but not yet joined keeps its account (the person may click Join a
    # while later); nothing is swept before its time; after it, the accounts leave the PBX.
    opened = await issue(stack, room, OWNER, Role.MEMBER)
    await stack.service.redeem_web_link(opened.token)
    creds = WebLinks(stack.ami)
    assert await stack.service.sweep_web_links(creds) == []
    assert opened.link.link_id in await creds.stored()
    swept_ids = await stack.service.sweep_web_links(creds, clock=lambda: later)
    assert swept_ids == [link_id, opened.link.link_id]
    assert not {link_id, opened.link.link_id} & await creds.stored()
    assert not await db_has(stack, "pjsip/endpoint", link_id)
    swept = (await stack.service.audit_log())[0]
    assert swept.action == "weblink.revoke" and link_id in swept.summary
    assert (await stack.service.web_link(link_id)).revoked_at is not None  # type: ignore[union-attr]


async def test_start_up_sweep_removes_accounts_no_link_accounts_for(
    stack: Stack, room: Room
) -> None:
    """AstDB outlives Asterisk: a bot starting finds accounts of links it does not know."""
    creds = WebLinks(stack.ami)
    stray = "web-00000000deadbeef"
    await creds.create(stray, room, name="Left over", user=MEMBER, password="x" * 24,
                       trusted=False)  # fmt: skip
    live = await issue(stack, room, OWNER, Role.MEMBER)
    assert await stack.service.sweep_web_links(creds) == []  # only expired/used ones
    assert stray in await stack.service.sweep_web_links(creds, startup=True)
    stored = await creds.stored()
    assert stray not in stored and live.link.link_id in stored


async def test_no_link_when_the_pbx_is_down(stack: Stack, room: Room) -> None:
    down = AmiClient(host="127.0.0.1", port=1, username="bot", secret="unused")  # never started
    with pytest.raises(errors.PbxUnavailable, match="none was made"):
        await stack.service.issue_web_link(
            room.id, user=MEMBER, name="M", role=Role.MEMBER, in_workspace=True,
            credentials=WebLinks(down), actor=f"slack:{MEMBER}",
        )  # fmt: skip
    async with stack.service.repo.read() as repo:
        assert await repo._all("SELECT id FROM web_links") == []


async def test_a_deleted_rooms_link_is_refused(stack: Stack, room: Room) -> None:
    issued = await issue(stack, room, OWNER, Role.MEMBER)
    await stack.service.delete_room(room.id, actor="test")
    with pytest.raises(LinkRefused, match="deleted"):
        await stack.service.redeem_web_link(issued.token)
