"""``conference-bot serve``: the PBX, the AMI connection and the Slack bot, together.

An entry point: it adopts the Asterisk running from the run dir or starts one in a session of
its own (``deploy.keeper``), builds the parts through ``bot.wiring`` and runs the Slack front
end (``commands``) until SIGINT or SIGTERM, restarting Asterisk whenever it dies.

Asterisk outlives ``serve``: killed or crashed, ``serve`` leaves every call up, and the next
``serve`` adopts the PBX and counts its callers (the tracker reconciles on connecting).  Only
a clean stop (SIGINT, SIGTERM) stops the PBX, and only one that a ``serve`` started: one
started by ``conference-bot pbx start`` keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import suppress

from bot import exits
from bot.config import Settings
from bot.errors import SettingsError
from bot.logs import safe_handler
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import (
    Deps,
    follow_recordings,
    pbx_config,
    pbx_defences,
    telephony_for,
    watch_keypad,
    watch_lobby,
    watch_lockouts,
)
from commands.app import SlackRunner, SlackUnreachable, start_slack
from commands.slack_settings import SlackSettings
from deploy.keeper import PbxKeeper
from telephony.registration import RegistrationMonitor
from telephony.weblinks import WebLinks
from web.run import WebSide, start_web
from web.settings import WebSettings

log = logging.getLogger("conference_bot")

TRUNK_WAIT = 5.0  # seconds the startup line waits for the trunk's first outcome


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        handlers=[
            safe_handler(
                logging.StreamHandler(sys.stderr),
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
            )
        ],
    )
    # panoramisk logs whole actions at INFO/DEBUG (a DBPut carries a PIN): keep it quiet.
    logging.getLogger("panoramisk").setLevel(logging.ERROR)
    # aiosqlite logs every statement with its parameters (PINs among them) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)


async def connect_slack(deps: Deps, slack: SlackSettings) -> SlackRunner | None:
    """Connect to Slack, retrying while it cannot be reached; the PBX runs meanwhile."""
    delay = 2.0
    while True:
        try:
            return await start_slack(deps, slack)
        except SlackUnreachable as exc:
            log.warning("%s; trying again in %.0f s (the PBX keeps working)", exc, delay)
        except SettingsError as exc:
            log.error("Slack is not connected: %s The PBX and the CLI keep working.", exc)
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)


async def trunk_line(trunk: RegistrationMonitor | None, wait: float = TRUNK_WAIT) -> str:
    """The registration trunk for the startup line, once its first attempt has an outcome
    (the first REGISTER leaves about a second after Asterisk boots)."""
    if trunk is None:
        return "registration trunk: none (PBX_TRUNK_REGISTRAR)"
    state = await trunk.wait_settled(wait)
    return f"trunk: {state.summary()}"


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM. Without Slack tokens the PBX and the CLI still work.

    On SIGINT/SIGTERM the PBX is stopped if a ``serve`` started it; on any other way out
    (killed, crashed) it keeps running with its calls."""
    slack_settings = SlackSettings.from_environ(settings.environ)
    cfg = pbx_config(settings)
    web_settings = WebSettings.from_environ(settings.environ)  # None: browser join off
    repo = await Repository.open(settings.db_path)
    service = ConferenceService(repo, max_rooms=settings.max_rooms)
    keeper = PbxKeeper(cfg, environ=settings.environ)
    slack: SlackRunner | None = None
    slack_task: asyncio.Task[SlackRunner | None] | None = None
    watchdog: asyncio.Task[None] | None = None
    web_side: WebSide | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if await keeper.ensure() and keeper.install is not None:
            log.info(
                "Started %s in %.2f s, in a session of its own: calls go on if serve dies",
                keeper.install.version,
                keeper.boot_seconds or 0.0,
            )

        tel = telephony_for(cfg, service)
        ami = tel.ami
        defences = pbx_defences(cfg, service, ami)  # login bans, log rotation
        lockouts = watch_lockouts(tel, service)  # audited, room alerts to the admins
        lobby = watch_lobby(tel)  # callers waiting for an owner (asked in Slack)
        # A moderator's *4 starts or stops recording.
        keypad = watch_keypad(tel.ami, tel.tracker, tel.actions, service)
        follow_recordings(tel.tracker, service)  # ended recordings: ready to upload
        await ami.start()
        tel.sync.watch()  # and apply what a CLI committed but could not get the PBX to take
        # The watchdog restarts a dead Asterisk, and the AMI client retries at once when
        # one is back, instead of at the end of its backoff.
        watchdog = asyncio.create_task(keeper.watch(stop, on_alive=ami.retry_now))
        if not await ami.wait_ready(15):
            log.error("AMI did not become ready; still trying in the background")
        if web_settings is not None:  # the page, the /ws proxy and the links' sweeper
            web_side = await start_web(service, web_settings, WebLinks(ami),
                                       pbx_ws_url=cfg.ws_url)  # fmt: skip
        deps = Deps(settings, service, ami, tel.tracker, tel.actions, tel.trunk, defences.bans,
                    lockouts, lobby=lobby,
                    web=web_side.join if web_side is not None else None)  # fmt: skip

        problems = slack_settings.missing()
        if problems:
            log.warning(
                "Slack is not connected. The PBX and the CLI work without it.\n  - %s",
                "\n  - ".join(problems),
            )
        else:
            slack_task = asyncio.create_task(connect_slack(deps, slack_settings))

        server = await service.get_server()
        dial = (
            f"callers dial {server.extension}"
            + (f" or {server.phone_number}" if server.phone_number else "")
            if server
            else "no conference server yet (conference-bot server setup --extension 800)"
        )
        phones = ", ".join(user for user, _ in cfg.phones) or "none (set PBX_PHONES=user:password)"
        trunks = ", ".join(cfg.trunk_ips) or "none (PBX_TRUNK_IPS)"
        sip = f"SIP on {cfg.bind_address}:{cfg.sip_port} (udp, tcp)"
        if cfg.tls:
            sip += f", TLS on {cfg.tls_port} (SRTP {cfg.srtp})"
        if cfg.external_address:
            sip += f", seen from outside as {cfg.external_address}"
        log.info(
            "Ready: %s, %s; %d rooms; phones: %s; trunk addresses: %s; %s. Ctrl-C stops.",
            sip, dial, len(await service.list_rooms()), phones, trunks,
            await trunk_line(tel.trunk),
        )  # fmt: skip

        await watchdog  # until SIGINT/SIGTERM (a bug in it ends serve; the PBX stays up)
        log.info("Stopping")
        if slack_task is not None:
            if slack_task.done():
                slack = slack_task.result()
            else:
                slack_task.cancel()
                with suppress(asyncio.CancelledError):
                    await slack_task
        if slack is not None:
            await slack.stop()
        if web_side is not None:
            await web_side.close()
            web_side = None
        await ami.close()
        await tel.sync.close()
        if tel.trunk is not None:
            await tel.trunk.close()
        await defences.close()
        await lockouts.close()
        await lobby.close()
        await keypad.close()
        await keeper.close()  # a clean stop: the PBX goes too if a serve started it
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if web_side is not None:
            await web_side.close()
        if watchdog is not None and not watchdog.done():
            watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await watchdog
        await repo.close()


def run_serve(settings: Settings) -> int:
    setup_logging()
    try:
        return asyncio.run(serve(settings))
    except exits.FIXABLE as exc:
        log.error("%s", exc)  # exit codes as the CLI's (bot/exits.py): 1 for these
        return exits.FAILED
