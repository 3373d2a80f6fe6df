"""Glue between settings, the bundled Asterisk (deploy/) and the AMI layer (telephony/)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError
from bot.service import ConferenceService
from bot.wiring import Telephony, build_telephony
from deploy.credentials import load_or_create_ami_credentials
from deploy.daemon import start_detached, stop_detached
from deploy.pidfile import running_config
from deploy.pidfile import status as process_status
from deploy.prefix import ensure_prefix
from deploy.settings import PbxConfig
from telephony.errors import PbxUnavailable

log = logging.getLogger(__name__)


def run_dir(settings: Settings) -> Path:
    return Path(settings.environ.get("PBX_RUN_DIR") or settings.data_dir / "pbx")


def pbx_config(settings: Settings) -> PbxConfig:
    """The PBX settings; where an Asterisk already runs, the addresses it really uses."""
    try:
        return running_config(PbxConfig.from_env(settings.environ, run_dir(settings)))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def is_running(settings: Settings) -> bool:
    return bool(process_status(run_dir(settings)).get("running"))


@asynccontextmanager
async def live_pbx(
    settings: Settings, service: ConferenceService, *, timeout: float = 5.0
) -> AsyncIterator[Telephony | None]:
    """Connect to a running PBX for the duration of a command; ``None`` when it is not up.

    Changes made through ``service`` meanwhile reach Asterisk's AstDB at once.
    """
    if not is_running(settings):
        yield None
        return
    cfg = pbx_config(settings)
    creds = load_or_create_ami_credentials(cfg.run_dir)
    tel = build_telephony(service, host=cfg.bind_address, port=cfg.ami_port,
                          username=creds.username, secret=creds.password)  # fmt: skip
    ami = tel.ami
    await ami.start()
    try:
        if not await ami.wait_ready(timeout):
            log.warning("PBX process is up but AMI did not become ready in %.0f s", timeout)
            yield None
            return
        await _settled(tel)
        yield tel
    finally:
        await ami.close()
        await tel.sync.close()


async def _settled(tel: Telephony, timeout: float = 3.0) -> None:
    """Wait for the first reconcile and resync, so counts are real and AstDB is current."""
    try:
        async with asyncio.timeout(timeout):
            while not (tel.tracker.online and tel.sync.synced):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        log.warning("tracker did not reconcile within %.0f s", timeout)


async def status_dict(settings: Settings, service: ConferenceService) -> dict[str, Any]:
    cfg = pbx_config(settings)
    proc = process_status(cfg.run_dir)
    server = await service.get_server()
    info: dict[str, Any] = {
        "running": bool(proc.get("running")),
        "pid": proc.get("pid"),
        "bind_address": cfg.bind_address,
        "sip_port": cfg.sip_port,
        "ami_port": cfg.ami_port,
        "rtp_ports": f"{cfg.rtp_start}-{cfg.rtp_end}",
        "extension": server.extension if server else None,
        "phone_number": server.phone_number if server else None,
        "asterisk_version": proc.get("asterisk_version"),
        "ami": "down",
        "active_rooms": {},
    }
    if info["running"]:
        async with live_pbx(settings, service, timeout=3.0) as live:
            if live is not None:
                info["ami"] = "ready"
                core = await live.ami.action({"Action": "CoreSettings"})
                info["asterisk_version"] = (
                    str(core.get("AsteriskVersion", "")) or info["asterisk_version"]
                )
                ids = {r.id: r.conference_id for r in await service.list_rooms()}
                info["active_rooms"] = {  # conference ID -> callers in it now
                    ids.get(room, f"room-{room}"): count
                    for room, count in live.tracker.counts().items()
                }
    return info


async def start_pbx(
    settings: Settings, service: ConferenceService, say: Callable[[str], object]
) -> dict[str, Any]:
    """Start Asterisk in the background (unless it runs already) and sync the rooms to it."""
    cfg = pbx_config(settings)
    if not is_running(settings):
        install = await asyncio.to_thread(ensure_prefix, None)
        say(f"Starting {install.version} on {cfg.bind_address} ...")
        await asyncio.to_thread(start_detached, cfg, install)
    else:
        say("The PBX is already running.")
    async with live_pbx(settings, service) as live:
        if live is None:
            raise PbxUnavailable(
                f"Asterisk started but its AMI did not answer; see {cfg.log_dir}/messages"
            )
        # connecting resynced AstDB (live_pbx waits for that)
    info = await status_dict(settings, service)
    return info


async def stop_pbx(settings: Settings) -> bool:
    return await asyncio.to_thread(stop_detached, run_dir(settings))
