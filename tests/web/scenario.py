"""Issue 12's browser scenario, run inside the test's network namespace
(``python -m tests.web.scenario REPORT``; tests/web/harness.py starts it).

The real parts, wired as ``serve`` wires them: Asterisk from the bundled prefix with its
WebSocket transport, the bot's telephony stack over AMI, the Bolt app answering signed
requests with tests.fake_slack.FakeSlack as Slack's Web API, and the bot's web server. A
sipp caller (its RTP counted in Python) sits in the room; Debian's Chromium with fake media
devices joins from a link it got by clicking "Join from browser" on a dial-in card. Every
check lands in the JSON report by name, so a failure says exactly which promise broke.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.models import Role
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps, Telephony, build_telephony
from commands import ids
from commands.app import start_slack
from commands.slack_settings import EVENTS_PATH, SlackSettings
from deploy.prefix import ensure_prefix
from telephony.errors import PbxActionFailed
from telephony.naming import LOCKOUTS_FAMILY, bridge_name
from telephony.weblinks import WebLinks
from tests.commands.conftest import ADMIN, ALICE, CHANNEL, HttpDriver, block_actions, environ
from tests.fake_slack import FakeSlack
from tests.pbx_fixtures import Pbx, make_pbx, reachable_dir
from tests.web.harness import ARTIFACTS, Report, chromium, exit_on_sigterm
from tests.web.rtp_listener import listener
from web.run import start_web
from web.settings import WebSettings

PHONE_ROOM = ("Web room", "4711")  # no PIN: the sipp listener and the browser meet here
PIN_ROOM = ("PIN room", "4712", "2468")  # a PIN: a guest's link asks for it
WRONG_PIN = "1111"
# The bot's web server (and Asterisk's ports: make_pbx's): the namespace is the scenario's
# alone, so a fixed port cannot clash with a parallel test.
WEB_PORT = 8089

LINK = re.compile(r"https?://[^\s|>\"']+/join/[A-Za-z0-9_\-]+")


async def until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """The first truthy result of ``check`` (sync or async), or AssertionError naming it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.03)


async def holds(check: Callable[[], Any], timeout: float, what: str) -> bool:
    """Whether ``check`` turns truthy within ``timeout`` (for a check, not a precondition)."""
    try:
        await until(check, timeout, what)
    except AssertionError:
        return False
    return True


@dataclass
class World:
    """The running parts, for the checks."""

    out: Path
    pbx: Pbx
    tel: Telephony
    deps: Deps
    fake: FakeSlack
    slack: HttpDriver
    browser: Any = None
    events: list[dict[str, str]] = field(default_factory=list)

    def browser_joins(self) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == "ConfbridgeJoin"
                and e.get("Channel", "").startswith("PJSIP/web-")]  # fmt: skip

    def event_for(self, name: str, channel: str) -> dict[str, str] | None:
        return next((e for e in self.events
                     if e.get("Event") == name and e.get("Channel") == channel), None)  # fmt: skip


@asynccontextmanager
async def world(out: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        pbx = make_pbx(ensure_prefix(), reachable_dir("web-") / "run", out / "sipp")
        pbx.start()
        stack.callback(pbx.stop)
        repo = await Repository.open(out / "conference.db")
        stack.push_async_callback(repo.close)
        service = ConferenceService(repo)
        await service.setup_server("800", "test")
        fake = await FakeSlack(admins={ADMIN}).start()
        stack.push_async_callback(fake.close)
        env = environ(fake, CONFERENCE_PUBLIC_URL=f"http://127.0.0.1:{WEB_PORT}",
                      CONFERENCE_WEB_HOST="127.0.0.1", CONFERENCE_WEB_PORT=str(WEB_PORT),
                      PBX_HTTP_PORT=str(pbx.cfg.http_port))  # fmt: skip
        tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                              username=pbx.creds.username, secret=pbx.creds.password,
                              recordings_dir=pbx.cfg.recordings_dir)  # fmt: skip
        events: list[dict[str, str]] = []
        tel.ami.register_event("Confbridge*", lambda m: events.append(dict(m)))
        await tel.ami.start()
        stack.push_async_callback(tel.sync.close)
        stack.push_async_callback(tel.ami.close)
        assert await tel.ami.wait_ready(20), "AMI did not become ready"
        await until(lambda: tel.tracker.online and tel.sync.synced, 20, "first AstDB sync")
        # The web side as serve starts it: the server, the sweeper, Deps.web for the button.
        side = await start_web(service, WebSettings.from_environ(env),  # type: ignore[arg-type]
                               WebLinks(tel.ami),
                               pbx_ws_url=pbx.cfg.ws_url)  # fmt: skip
        stack.push_async_callback(side.close)
        deps = Deps(Settings.from_environ(env, cwd=out), service, tel.ami, tel.tracker,
                    tel.actions, web=side.join)  # fmt: skip
        runner = await start_slack(deps, SlackSettings.from_environ(env))
        stack.push_async_callback(runner.stop)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        slack = HttpDriver(fake, f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}", session)
        w = World(out, pbx, tel, deps, fake, slack, events=events)
        yield w


async def main(report: Report, out: Path) -> None:
    t0 = time.monotonic()
    async with world(out) as w:
        report.figure("setup_s", round(time.monotonic() - t0, 2))
        async with chromium() as browser:
            w.browser = browser
            report.figure("chromium", browser.version)
            await Checks(w, report).run()
    report.figure("total_s", round(time.monotonic() - t0, 2))


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button of a message's blocks (accessories and actions blocks)."""
    found: list[dict[str, Any]] = []
    for block in blocks:
        for element in [block.get("accessory") or {}, *block.get("elements", [])]:
            if element.get("type") == "button":
                found.append(element)
    return found


def join_button(blocks: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((b for b in buttons(blocks)
                 if b["text"]["text"].lower() == "join from browser"), None)  # fmt: skip


class Checks:
    """The checks, in an order that reuses what the earlier ones set up."""

    def __init__(self, w: World, report: Report) -> None:
        self.w = w
        self.report = report
        self.console: list[str] = []
        self.page: Any = None

    # -- helpers ---------------------------------------------------------------------------

    async def card(self, room_name: str, user: str) -> list[dict[str, Any]]:
        """A dial-in card posted by ``/conference info`` (its blocks)."""
        before = len(self.w.fake.calls_to("chat.postMessage"))
        await self.w.slack.command(f"info {room_name}", user=user)
        posted = await self.w.fake.wait_for("chat.postMessage", count=before + 1, timeout=10)
        blocks: Any = posted.args["blocks"]
        return json.loads(blocks) if isinstance(blocks, str) else blocks  # type: ignore[no-any-return]

    async def link_from(self, button: dict[str, Any], user: str) -> tuple[str, str]:
        """Click "Join from browser" as ``user``: (the link, the text of the reply)."""
        seen = len(self.w.fake.calls)
        reply = await self.w.slack.click(button["action_id"], button["value"], user=user,
                                         channel=CHANNEL)  # fmt: skip

        def found() -> tuple[str, str] | None:
            texts = [json.dumps(reply.body)] + [json.dumps(c.args)
                                                 for c in self.w.fake.calls[seen:]]  # fmt: skip
            for text in texts:
                if m := LINK.search(text):
                    return m.group(0), text
            return None

        result: tuple[str, str] = await until(found, 10, "the reply with the link")
        return result

    async def open_page(self, link: str) -> Any:
        """The link in a fresh browser context; waits for the page to redeem it."""
        context = await self.w.browser.new_context()
        # What the page asks the browser to send as RFC 4733 DTMF (the report's detail).
        await context.add_init_script("""(() => {
          window.__dtmf = [];
          const orig = RTCDTMFSender.prototype.insertDTMF;
          RTCDTMFSender.prototype.insertDTMF = function (t, d, g) {
            window.__dtmf.push([t, d, g, this.canInsertDTMF]);
            this.addEventListener('tonechange', (e) => window.__dtmf.push(['tone', e.tone]));
            return orig.call(this, t, d, g); };
        })();""")
        page = await context.new_page()
        self.page = page
        page.on("console", lambda m: self.console.append(m.text[:300]))
        await page.goto(link)
        await self.page_state(page, lambda st: st != "loading", "the page to load")
        return page

    async def state(self, page: Any) -> dict[str, Any]:
        result: dict[str, Any] = await page.evaluate(
            "({state: conference.state, error: conference.error, ended: conference.ended,"
            " muted: conference.muted, people: Object.values(conference.people)})"
        )
        return result

    async def stats(self, page: Any) -> dict[str, Any]:
        result: dict[str, Any] = await page.evaluate("conference.stats()") or {}
        return result

    async def join(self, page: Any, before: int) -> dict[str, str]:
        """Click Join; the ConfbridgeJoin of the browser that follows ``before`` joins
        (AssertionError at once if the page's call fails instead)."""
        await page.click("#join")

        async def joined() -> list[dict[str, str]] | None:
            if len(self.w.browser_joins()) > before:
                return self.w.browser_joins()
            st = await self.state(page)
            if st["state"] in ("failed", "ended", "refused", "broken", "error"):
                raise AssertionError(f"the page's call did not join: {st}")
            return None

        joins: list[dict[str, str]] = await until(joined, 20, "the browser's ConfbridgeJoin")
        return joins[before]

    async def page_now(self, page: Any) -> str:
        """The page's ``conference.state``. (Polled with ``evaluate``: Playwright's
        wait_for_function needs eval, which the page's CSP forbids, rightly.)"""
        return str(await page.evaluate("window.conference ? conference.state : 'loading'"))

    async def page_state(self, page: Any, ok: Callable[[str], bool], what: str,
                         timeout: float = 20) -> None:  # fmt: skip
        """Wait for the page's state to satisfy ``ok``."""

        async def check() -> bool:
            return ok(await self.page_now(page))

        await until(check, timeout, what)

    async def in_call(self, page: Any) -> None:
        await self.page_state(page, lambda st: st == "in-call", "the page in the call")

    def mute_events(self, name: str, channel: str) -> int:
        return sum(1 for e in self.w.events
                   if e.get("Event") == name and e.get("Channel") == channel)  # fmt: skip

    async def lockout_entries(self, room_id: int) -> dict[str, str]:
        """The lockout keys AstDB holds for ``room_id`` (key -> value)."""
        try:
            listing = await self.w.tel.ami.list_action(
                {"Action": "DBGetTree", "Family": LOCKOUTS_FAMILY})  # fmt: skip
        except PbxActionFailed:
            return {}
        return {str(m["Key"]): str(m.get("Val", "")) for m in listing
                if "Key" in m and f"/{room_id}/" in f"{m['Key']}/"}  # fmt: skip

    # -- the checks ------------------------------------------------------------------------

    async def run(self) -> None:
        w = self.w
        w.fake.profiles[ALICE] = {"real_name": "Ana Example",
                                  "profile": {"real_name": "Ana Example",
                                              "display_name": "Ana Example"}}  # fmt: skip
        service = w.deps.service
        name, cid = PHONE_ROOM
        self.room = await service.create_room(name=name, conference_id=cid, actor="test")
        pname, pcid, pin = PIN_ROOM
        self.pin_room = await service.create_room(name=pname, conference_id=pcid, pin=pin,
                                                  actor="test")  # fmt: skip
        self.listener = await listener(w.pbx, w.out, f"{cid}#")
        try:
            await until(lambda: w.tel.tracker.count(self.room.id) == 1, 20, "sipp joined")
            page, link = await self.join_from_slack()
            await self.audio(page)
            await self.mutes(page)
            await self.kick(page)
            await self.reuse(link)
            await self.expired()
            await self.wrong_pin()
        except BaseException:
            await self.diagnose()
            raise
        finally:
            await self.listener.stop()

    async def diagnose(self) -> None:
        """What the page and Asterisk said, for a failure's report."""
        r = self.report
        r.figure("console_tail", self.console[-15:])
        try:
            st = await self.state(self.page)
            st["status"] = await self.page.text_content("#status")
            r.figure("page_at_failure", st)
        except Exception as exc:
            r.figure("page_at_failure", repr(exc))
        log = self.w.pbx.cfg.run_dir / "log" / "messages.log"
        if log.exists():
            r.figure("asterisk_log_tail", log.read_text(errors="replace").splitlines()[-25:])

    async def join_from_slack(self) -> tuple[Any, str]:
        w, r = self.w, self.report
        blocks = await self.card(PHONE_ROOM[0], ALICE)
        button = join_button(blocks)
        r.check("card_has_join_button", button is not None,
                buttons=[b["text"]["text"] for b in buttons(blocks)])  # fmt: skip
        assert button is not None
        self.button = button
        t_click = time.time()
        link, reply = await self.link_from(button, ALICE)
        r.check(
            "link_in_reply_with_expiry", "10 min" in reply, reply=LINK.sub("<link>", reply)[:400]
        )
        page = await self.open_page(link)
        t_page = time.time()
        joined = await self.join(page, 0)
        at = float(joined.get("Timestamp") or time.time())
        r.figure("slack_click_to_confbridgejoin_ms", round((at - t_click) * 1000))
        r.figure("page_join_click_to_confbridgejoin_ms", round((at - t_page) * 1000))
        r.check("confbridge_join",
                joined.get("Conference") == bridge_name(self.room.id)
                and joined.get("CallerIDName") == "Ana Example",
                channel=joined.get("Channel"), caller=joined.get("CallerIDName"),
                conference=joined.get("Conference"))  # fmt: skip
        self.channel = joined["Channel"]
        self.uniqueid = joined["Uniqueid"]
        await self.in_call(page)
        # The Slack roster names the browser participant after the Slack user.
        await w.slack.command(f"who {PHONE_ROOM[0]}", user=ADMIN)
        opened = await w.fake.wait_for("views.open", timeout=10)
        self.roster_view = opened.args.get("view_id") or json.loads(
            json.dumps(opened.args["view"])).get("id")  # fmt: skip
        shown = json.dumps(opened.args["view"], ensure_ascii=False)
        r.check("roster_shows_slack_name", "Ana Example" in shown and "2 people" in shown,
                roster=shown[:600])  # fmt: skip
        people = await until(lambda: self._page_names(page), 10, "the page's participant list")
        r.check("page_lists_participants", len(people) >= 2, people=people)
        return page, link

    async def _page_names(self, page: Any) -> list[str] | None:
        names = [p.get("name") for p in (await self.state(page))["people"]]
        return names if len(names) >= 2 else None

    async def audio(self, page: Any) -> None:
        """getStats() counts rising both ways, and the phone in the room getting loud packets
        (the fake microphone's beeps: the room sends the phone nothing loud before)."""
        r, peer = self.report, self.listener.peer
        s0, loud0 = await self.stats(page), peer.loud
        ok = await holds(lambda: self._flowing(page, s0), 8, "packets both ways")
        r.check("browser_getstats_both_ways", ok, before=s0, after=await self.stats(page))
        heard = await holds(lambda: peer.loud - loud0 >= 25, 8, "the phone hearing the browser")
        r.check("sipp_caller_receives_browser_rtp", heard, loud_before=loud0,
                loud_after=peer.loud, received=peer.received)  # fmt: skip

    async def _flowing(self, page: Any, s0: dict[str, Any]) -> bool:
        s = await self.stats(page)
        return bool(s) and s["sent"] - s0.get("sent", 0) >= 50 and \
            s["received"] - s0.get("received", 0) >= 50  # fmt: skip

    async def roster_click(self, action_id: str) -> None:
        """An admin clicks ``action_id`` on the browser participant's line of the roster."""
        payload = block_actions(action_id, f"{self.room.id}:{self.uniqueid}", user=ADMIN,
                                response_url=None)  # fmt: skip
        payload["container"] = {"type": "view", "view_id": self.roster_view}
        payload["view"] = {"id": self.roster_view, "type": "modal", "callback_id": ids.ROSTER_VIEW}
        await self.w.slack.interact(payload)

    async def mutes(self, page: Any) -> None:
        w, r, ch, peer = self.w, self.report, self.channel, self.listener.peer

        def tracked_muted() -> bool | None:
            return next((p.muted for p in w.tel.tracker.participants(self.room.id)
                         if p.channel == ch), None)  # fmt: skip

        # From the page: ConfBridge mutes the channel (DTMF *1) and the roster follows.
        await page.click("#mute")
        ok = await holds(lambda: self.mute_events("ConfbridgeMute", ch) >= 1
                         and tracked_muted() is True, 8, "the page's mute")  # fmt: skip
        sent = await page.evaluate("window.__dtmf")
        r.check("mute_from_page", ok, mutes=self.mute_events("ConfbridgeMute", ch), dtmf=sent)
        if ok:
            await page.click("#mute")
            ok = await holds(lambda: self.mute_events("ConfbridgeUnmute", ch) >= 1
                             and tracked_muted() is False, 8, "the page's unmute")  # fmt: skip
            r.check("unmute_from_page", ok, unmutes=self.mute_events("ConfbridgeUnmute", ch),
                    page_muted=await page.evaluate("conference.muted"))  # fmt: skip
        mutes, unmutes = (self.mute_events(e, ch) for e in ("ConfbridgeMute", "ConfbridgeUnmute"))
        # From Slack: the roster's Mute; the page hears of it (ConfBridge's in-call message).
        await self.roster_click(ids.ROSTER_MUTE)
        ok = await holds(lambda: self.mute_events("ConfbridgeMute", ch) > mutes, 8, "mute")
        r.check("mute_from_slack", ok, mutes=self.mute_events("ConfbridgeMute", ch))
        shown = ok and await holds(lambda: page.evaluate("conference.muted"), 5, "page muted")
        r.check("page_shows_slack_mute", shown)
        # Muted, the phone hears nothing from the browser (a window of 2 s, in which the fake
        # microphone's beeps gave it loud packets before); unmuted from Slack, it does again.
        quiet0 = peer.loud
        await asyncio.sleep(2.0)  # a measurement window, not a wait for a condition
        while_muted = peer.loud - quiet0
        await self.roster_click(ids.ROSTER_UNMUTE)
        ok = await holds(lambda: self.mute_events("ConfbridgeUnmute", ch) > unmutes, 8, "unmute")
        loud0 = peer.loud
        heard = ok and await holds(lambda: peer.loud - loud0 >= 10, 8, "the phone hearing again")
        r.check("sipp_hears_browser_only_unmuted", ok and while_muted <= 3 and heard,
                loud_while_muted_2s=while_muted, loud_after_unmute=peer.loud - loud0)  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "browser-in-call.png"
        await page.screenshot(path=str(shot), full_page=True)
        r.check("screenshot", shot.stat().st_size > 1000, path=str(shot))

    async def kick(self, page: Any) -> None:
        await self.roster_click(ids.ROSTER_KICK)

        async def ended_on_page() -> bool:
            return await self.page_now(page) == "ended"

        ended = await holds(ended_on_page, 10, "the page's call to end")
        left = self.w.event_for("ConfbridgeLeave", self.channel) is not None
        self.report.check("kick_from_slack_ends_page_call", ended and left, left=left,
                          page=await self.state(page))  # fmt: skip
        await page.context.close()

    async def reuse(self, link: str) -> None:
        page = await self.open_page(link)
        st = await self.state(page)
        self.report.check("second_use_refused",
                          st["state"] == "refused" and "already used" in (st["error"] or ""),
                          page=st)  # fmt: skip
        await page.context.close()

    async def expired(self) -> None:
        """A link issued with a one-second lifetime (the button's is ten minutes), opened
        once it has run out; a sweep (what serve's sweeper runs every 30 s) then removes its
        SIP account from the PBX."""
        w, r, web = self.w, self.report, self.w.deps.web
        assert web is not None
        issued = await w.deps.service.issue_web_link(
            self.room.id, user=ALICE, name="Ana Example", role=Role.MEMBER, in_workspace=True,
            credentials=web.credentials, actor=f"slack:{ALICE}", ttl=1.0)  # fmt: skip
        await until(lambda: datetime.now(UTC) > issued.expires_at, 5, "the link's expiry")
        page = await self.open_page(web.link(issued.token))
        st = await self.state(page)
        refused = st["state"] == "refused" and "expired" in (st["error"] or "")
        r.check("expired_link_refused", refused, page=st)
        await page.context.close()
        revoked = await w.deps.service.sweep_web_links(web.credentials)
        stored = await web.credentials.stored()
        r.check("expired_link_pbx_account_removed",
                issued.link.link_id in revoked and issued.link.link_id not in stored)  # fmt: skip

    async def wrong_pin(self) -> None:
        """A member's link to a room with a PIN: the page asks for it, a wrong one counts
        in the lockout counters of that Slack user, the right one joins. An admin's link
        to the same room joins without a PIN."""
        w, r = self.w, self.report
        button = join_button(await self.card(PIN_ROOM[0], ALICE))
        assert button is not None
        link, _ = await self.link_from(button, ALICE)
        page = await self.open_page(link)
        before_entries = await self.lockout_entries(self.pin_room.id)
        await page.click("#join")
        await self.in_call(page)
        await page.wait_for_selector("#pin-box:not([hidden])", timeout=5000)
        r.check("page_asks_for_pin", await page.is_visible("#pin"))
        await page.fill("#pin", WRONG_PIN)
        await page.click("#send-pin")

        async def counted() -> dict[str, str] | None:
            now = await self.lockout_entries(self.pin_room.id)
            grew = {k: v for k, v in now.items() if before_entries.get(k) != v and "fails" in k}
            return grew or None

        grew: dict[str, str] = {}
        if await holds(counted, 15, "the wrong PIN in the lockout counters"):
            grew = await counted() or {}
        r.check("wrong_pin_counted_by_lockout", any(ALICE in k for k in grew), keys=grew)
        before = len(w.browser_joins())
        await page.fill("#pin", PIN_ROOM[2])
        await page.click("#send-pin")
        r.check("right_pin_joins", await self.joined_room(before, self.pin_room.id))
        await page.context.close()
        # An admin's link skips the PIN: in the room without the page asking.
        link, _ = await self.link_from(button, ADMIN)
        page = await self.open_page(link)
        before = len(w.browser_joins())
        await page.click("#join")
        joined = await self.joined_room(before, self.pin_room.id)
        r.check("trusted_link_skips_pin", joined and not await page.is_visible("#pin"))
        await page.context.close()

    async def joined_room(self, before: int, room_id: int) -> bool:
        """Whether a browser's ConfbridgeJoin after the first ``before`` comes, into
        ``room_id``."""
        joins = self.w.browser_joins
        if not await holds(lambda: len(joins()) > before, 15, "a browser's ConfbridgeJoin"):
            return False
        return joins()[before].get("Conference") == bridge_name(room_id)


if __name__ == "__main__":
    exit_on_sigterm()
    rep = Report(Path(sys.argv[1]))
    parent = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(sys.argv[1]).parent
    parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="browser-", dir=parent))  # a fresh database each run
    try:
        asyncio.run(asyncio.wait_for(main(rep, base), 60))
    except BaseException as exc:
        rep.fail("".join(traceback.format_exception(exc))[-4000:])
        raise
