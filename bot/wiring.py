"""The one composition root: each part is built here once and handed only what it needs.

The entry points (``bot.serve``, ``bot.cli``) call it; nothing in the core does. It is the
one place that knows the bundled PBX's settings and AMI credentials (``deploy``), the AMI
stack (``telephony``) and the service, and joins them:

- ``pbx_config``, ``run_dir``, ``is_running``: the PBX as this bot's settings describe it;
- ``build_telephony``: AMI connection, participant tracker, AstDB sync (told of every
  service change), PBX actions, and the registration trunk's monitor when one is set;
  ``telephony_for`` the same with the PBX's own credentials and settings;
- ``live_pbx``: that, connected to a running PBX for the duration of one CLI command;
  ``call_control`` its actions, as the service's ``CallControl`` for a live call;
- ``pbx_defences``: what only ``serve`` runs: login bans (audited) and log rotation;
- ``watch_lockouts``: also only ``serve``'s: the dialplan's lockouts audited, room alerts out;
- ``watch_lobby``: also only ``serve``'s: callers waiting in lobbies, for Slack to ask about;
- ``Deps``: the typed bundle the Slack front end (``commands``) receives.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from bot.call_control import CallControl
from bot.config import Settings
from bot.errors import DomainError, SettingsError
from bot.models import Role
from bot.service import ConferenceService
from bot.service.weblinks import WebJoin
from deploy.bans import BanFile, ban_keyer
from deploy.credentials import load_or_create_ami_credentials
from deploy.lockout_settings import LockoutSettings
from deploy.logfiles import AsteriskLogs
from deploy.ownership import ROOT_RUN_DIR
from deploy.pidfile import running_config
from deploy.pidfile import status as process_status
from deploy.pjsip import REGISTRATION
from deploy.settings import PbxConfig
from telephony.ami import AmiClient
from telephony.astdb import UPDATE_BUDGET, AstDbSync
from telephony.bans import BanNotice, LoginBans
from telephony.keypad import KeypadListener
from telephony.lobby import PbxLobby
from telephony.lockout_monitor import LockoutMonitor
from telephony.lockouts import LockoutStore
from telephony.log_rotation import LogRotation
from telephony.pbx_actions import PbxActions
from telephony.registration import RegistrationMonitor, TrunkStatus
from telephony.registration_log import AsteriskLog
from telephony.tracker import ParticipantTracker, RecordingStopped, Update

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Telephony:
    """The live side: one AMI connection, the tracker it feeds, the AstDB sync, actions,
    and the registration trunk's monitor (None without a registration trunk)."""

    ami: AmiClient
    tracker: ParticipantTracker
    sync: AstDbSync
    actions: PbxActions
    trunk: RegistrationMonitor | None = None
    # The lockout entries the dialplan keeps (read, cleared, a room's PIN entry locked).
    lockouts: LockoutStore = field(kw_only=True)


def build_telephony(
    service: ConferenceService,
    *,
    host: str,
    port: int,
    username: str,
    secret: str,
    trunk: RegistrationMonitor | None = None,
    confirm_within: float = UPDATE_BUDGET,
    lockouts: LockoutSettings | None = None,
    recordings_dir: Path | None = None,
) -> Telephony:
    """Wire AMI, tracker, AstDB sync and the ``trunk`` monitor if any; service changes
    reach Asterisk from now on, each confirmed within ``confirm_within`` seconds or reported
    as not applied (``bot.errors.ChangeNotApplied``).

    Nothing connects until ``ami.start()``.
    """
    ami = AmiClient(host=host, port=port, username=username, secret=secret)
    tracker = ParticipantTracker()
    tracker.subscribe(ami)
    sync = AstDbSync(ami, service, confirm_within=confirm_within)
    sync.subscribe()
    service.add_observer(sync)
    if trunk is not None:
        trunk.subscribe(ami)
    policy = lockouts or LockoutSettings()
    store = LockoutStore(ami, room_lock=policy.room_lock, forget_after=policy.longest_window)
    actions = PbxActions(ami, tracker, recordings_dir=recordings_dir)  # None: no recording
    return Telephony(ami, tracker, sync, actions, trunk, lockouts=store)


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    service: ConferenceService
    ami: AmiClient
    tracker: ParticipantTracker
    pbx: PbxActions
    trunk: RegistrationMonitor | None = None
    bans: LoginBans | None = None
    lockouts: LockoutMonitor | None = None
    lobby: PbxLobby | None = None  # callers waiting in lobbies (watch_lobby; serve only)
    web: WebJoin | None = None  # browser links (serve with CONFERENCE_PUBLIC_URL only)


# -- the bundled PBX, as the bot's settings describe it ----------------------------------------


def run_dir(settings: Settings) -> Path:
    """``PBX_RUN_DIR``, else ``DATA_DIR/pbx``, or for root ``/var/lib/conference-bot/pbx``:
    Asterisk then runs as another user (``deploy.ownership``), who must reach its run dir,
    and neither root's home (0700) nor a data dir the bot made (0700, it holds the
    database) lets it through."""
    if settings.environ.get("PBX_RUN_DIR"):
        return Path(settings.environ["PBX_RUN_DIR"])
    if os.geteuid() == 0:
        return ROOT_RUN_DIR
    return settings.data_dir / "pbx"


def pbx_config(settings: Settings) -> PbxConfig:
    """The PBX settings; where an Asterisk already runs, the addresses it really uses."""
    try:
        return running_config(PbxConfig.from_env(settings.environ, run_dir(settings)))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def is_running(settings: Settings) -> bool:
    return bool(process_status(run_dir(settings)).get("running"))


def trunk_monitor(cfg: PbxConfig) -> RegistrationMonitor | None:
    """A monitor of the registration trunk ``cfg`` sets (None without one); failures are
    explained from the PBX's log."""
    if cfg.registration is None:
        return None
    return RegistrationMonitor(REGISTRATION, failures=AsteriskLog(cfg.log_dir / "messages.log"))


def telephony_for(
    cfg: PbxConfig, service: ConferenceService, *, confirm_within: float = UPDATE_BUDGET
) -> Telephony:
    """``build_telephony`` for the PBX of ``cfg``, logging in with its AMI credentials
    (created on first use)."""
    creds = load_or_create_ami_credentials(cfg.run_dir)
    return build_telephony(service, host=cfg.ami_address, port=cfg.ami_port,
                           username=creds.username, secret=creds.password,
                           trunk=trunk_monitor(cfg), confirm_within=confirm_within,
                           lockouts=cfg.lockouts,
                           recordings_dir=cfg.recordings_dir)  # fmt: skip


def watch_lockouts(tel: Telephony, service: ConferenceService) -> LockoutMonitor:
    """``serve``'s follower of the lockouts the dialplan sets: each audited, room alerts
    to its listeners (the admins' channel), what happened while the bot was away caught up
    at every connect. (Only ``serve``: a CLI command connected meanwhile would audit twice.)"""
    monitor = LockoutMonitor(tel.lockouts, service, service)
    monitor.subscribe(tel.ami)
    return monitor


def follow_recordings(tracker: ParticipantTracker, service: ConferenceService) -> None:
    """Each recording that ends (stopped, or with its call) is marked stopped in the
    database, ready to upload, whether or not Slack is connected."""

    async def stopped(update: Update) -> None:
        if isinstance(update, RecordingStopped):
            await service.recording_stopped(update.path, None)

    tracker.add_listener(stopped)


def watch_keypad(
    ami: AmiClient, tracker: ParticipantTracker, calls: CallControl, service: ConferenceService
) -> KeypadListener:
    """``serve``'s follower of moderators' keypad requests: ``*4`` starts or stops the
    room's recording through the service, audited as ``keypad:<caller's number>`` (the
    dialplan offers ``*4`` to moderators only). Only ``serve``: a CLI command connected
    meanwhile would act twice."""

    async def toggle(room_id: int, caller: str) -> None:
        start = not tracker.room_state(room_id).recording
        try:
            await service.record_call(room_id, start, calls=calls, actor=f"keypad:{caller}",
                                      role=Role.ADMIN)  # fmt: skip
        except DomainError as exc:
            log.warning("room %s: keypad *4 from %s: %s", room_id, caller, exc)

    keypad = KeypadListener(toggle)
    keypad.subscribe(ami)
    return keypad


def watch_lobby(tel: Telephony) -> PbxLobby:
    """``serve``'s follower of the rooms' lobbies: callers waiting for an owner's decision
    (the Slack side asks and decides: ``commands.lobby``). Only ``serve``: the dialplan
    holds waiting callers on its own while no bot runs."""
    lobby = PbxLobby(tel.ami)
    lobby.subscribe()
    return lobby


# -- what only serve runs: bans on bad logins, log rotation -------------------------------------

BAN_ACTOR = "pbx:login-bans"  # the audit log's actor for bans made and run out


@dataclass(frozen=True, slots=True)
class Defences:
    """``serve``'s guards on the PBX: login bans from its security events, and its log kept
    to size. Both start when AMI is first ready."""

    bans: LoginBans
    logs: LogRotation

    async def close(self) -> None:
        await self.bans.close()
        await self.logs.close()


def never_banned(cfg: PbxConfig) -> list[str]:
    """Networks no failed login can get banned: ``PBX_BAN_EXEMPT``, the IP trunk's
    addresses, and the registrar when it is given as an address (one given by name is
    not resolved here: add its addresses to ``PBX_BAN_EXEMPT``)."""
    nets = [*cfg.bans.exempt, *cfg.trunk_ips]
    reg = cfg.registration
    if reg is not None:
        with suppress(ValueError):
            nets.append(str(ipaddress.ip_address(reg.host.strip("[]"))))
    return nets


def pbx_defences(cfg: PbxConfig, service: ConferenceService, ami: AmiClient) -> Defences:
    """Bans on bad logins (``PBX_BAN_*``; the trunk's addresses are never banned), each
    audited, and Asterisk's log rotation (``PBX_LOG_*``), fed by ``ami``."""
    policy = cfg.bans
    bans = LoginBans(BanFile(cfg.run_dir), ban_keyer(never_banned(cfg)),
                     failures=policy.failures, window=policy.window,
                     seconds=policy.seconds)  # fmt: skip
    bans.subscribe(ami)

    async def audit(notice: BanNotice) -> None:
        if notice.kind == "added":
            summary = (f"Banned for {notice.until - notice.since:.0f} s after "
                       f"{notice.failures} failed logins within {notice.window:.0f} s")  # fmt: skip
            await service.record(BAN_ACTOR, "ban.add", notice.address, summary)
        else:
            await service.record(BAN_ACTOR, "ban.expire", notice.address, "Ban ran out")

    bans.add_listener(audit)
    logs = LogRotation(AsteriskLogs(cfg.log_dir, cfg.logs))
    logs.subscribe(ami)
    return Defences(bans, logs)


@asynccontextmanager
async def live_pbx(
    settings: Settings,
    service: ConferenceService,
    *,
    timeout: float = 5.0,
    confirm_within: float = UPDATE_BUDGET,
) -> AsyncIterator[Telephony | None]:
    """Connect to a running PBX for the duration of a command; ``None`` when it is not up.

    Changes made through ``service`` meanwhile reach Asterisk's AstDB at once, each confirmed
    within ``confirm_within`` seconds or reported as not applied: also when the process runs
    but its AMI did not answer within ``timeout`` (``None`` then too; it keeps trying).
    """
    if not is_running(settings):
        yield None
        return
    tel = telephony_for(pbx_config(settings), service, confirm_within=confirm_within)
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
        if tel.trunk is not None:
            await tel.trunk.close()


def call_control(tel: Telephony | None) -> CallControl | None:
    """What the service acts on a live call through (``None``: the PBX is not running)."""
    return tel.actions if tel is not None else None


async def _settled(tel: Telephony, timeout: float = 3.0) -> None:
    """Wait for the first reconcile and resync, so counts are real and AstDB is current,
    and for the trunk's first status."""
    trunk = tel.trunk

    def settled() -> bool:
        known = trunk is None or trunk.state.status is not TrunkStatus.UNKNOWN
        return tel.tracker.online and tel.sync.synced and known

    try:
        async with asyncio.timeout(timeout):
            while not settled():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        log.warning("tracker did not reconcile within %.0f s", timeout)
