"""Fixtures: a real Asterisk from the bundled prefix on free loopback ports, and the bot's
AMI stack wired to it. Loaded for every test package through ``pytest_plugins``.

The suite runs as root in CI, and Asterisk started by root runs as ``PBX_RUN_USER``
(``deploy.ownership``), which must pass through every parent of its run dir: pytest's own
temp dirs (under ``/tmp/pytest-of-root``, 0700) are out of its reach, so run dirs live in
:func:`reachable_dir` instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import build_telephony
from deploy.credentials import AmiCredentials, load_or_create_ami_credentials
from deploy.daemon import start_detached, stop_detached
from deploy.install import AsteriskInstall
from deploy.lockout_settings import MAX_IVR_CALLS, LockoutSettings
from deploy.ownership import DEFAULT_RUN_USER
from deploy.pidfile import status as pbx_status
from deploy.prefix import ensure_prefix
from deploy.settings import PbxConfig
from telephony.ami import AmiClient
from telephony.astdb import AstDbSync
from telephony.errors import PbxActionFailed
from telephony.naming import LOCKOUTS_FAMILY, bridge_name
from telephony.pbx_actions import PbxActions
from telephony.tracker import ParticipantTracker, Update
from tests.ports import LISTEN_PORTS, rtp_range, sipp_base
from tests.telephony.sipp import Sipp

PHONES = [("alice", "alice-password-1"), ("bob", "bob-password-1")]
TRUNK_IP = "127.0.0.2"


def _bindable(port: int, kinds: tuple[int, ...]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _free(kinds: tuple[int, ...]) -> int:
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)
        if _bindable(port, kinds):
            return port
    raise RuntimeError("no free port")


def free_port(kind: int) -> int:
    return _free((kind,))


def free_both() -> int:
    """A port free for UDP and TCP both (SIP listens on both)."""
    return _free((socket.SOCK_DGRAM, socket.SOCK_STREAM))


@pytest.fixture(scope="session")
def install() -> AsteriskInstall:
    return ensure_prefix()


@dataclass
class Pbx:
    cfg: PbxConfig
    install: AsteriskInstall
    creds: AmiCredentials
    sipp: Sipp

    def start(self) -> int:
        return start_detached(self.cfg, self.install)

    def stop(self) -> None:
        stop_detached(self.cfg.run_dir)

    @property
    def pid(self) -> int | None:
        pid = pbx_status(self.cfg.run_dir)["pid"]
        return int(pid) if pid else None


_reachable_base: list[Path] = []


def reachable_dir(prefix: str = "pbx-") -> Path:
    """A fresh directory (0711) that the user a root test run starts Asterisk as can pass
    through: under one base in /tmp (0711), removed when the test process exits."""
    if not _reachable_base:
        base = Path(tempfile.mkdtemp(prefix="conference-bot-tests-", dir="/tmp"))
        base.chmod(0o711)
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        _reachable_base.append(base)
    made = Path(tempfile.mkdtemp(prefix=prefix, dir=_reachable_base[0]))
    made.chmod(0o711)
    return made


@pytest.fixture(scope="session", autouse=True)
def _no_pbx_of_this_machine() -> Iterator[None]:
    """CLI commands run by a test never reach a PBX this machine runs for real: as root,
    the default run dir is a fixed path (/var/lib/conference-bot/pbx).  A test that starts
    a PBX names its own run dir."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PBX_RUN_DIR", str(reachable_dir("no-pbx-") / "pbx"))
        yield


def asterisk_uids(pid: int) -> tuple[int, ...]:
    """Real, effective, saved and filesystem user IDs of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return tuple(int(n) for n in line.split()[1:])
    raise AssertionError(f"no Uid line for pid {pid}")


def assert_not_root(pid: int) -> None:
    """Asterisk never runs as root: as the tests' own user, or as the run user
    (``PBX_RUN_USER``, default conference-bot) when the tests run as root."""
    if os.geteuid() == 0:
        expected = pwd.getpwnam(os.environ.get("PBX_RUN_USER") or DEFAULT_RUN_USER).pw_uid
    else:
        expected = os.geteuid()
    uids = asterisk_uids(pid)
    assert 0 not in uids and set(uids) == {expected}, f"asterisk pid {pid} runs as {uids}"


def make_pbx(install: AsteriskInstall, run_dir: Path, logs: Path) -> Pbx:
    """A PBX (not started) with its run dir at ``run_dir``; when the tests run as root, at
    a directory of that name in :func:`reachable_dir` instead."""
    if os.geteuid() == 0:
        run_dir = reachable_dir() / run_dir.name
    rtp_start, rtp_end = rtp_range()
    cfg = PbxConfig(
        run_dir=run_dir, sip_port=free_both(), ami_port=free_port(socket.SOCK_STREAM),
        http_port=free_port(socket.SOCK_STREAM), rtp_start=rtp_start, rtp_end=rtp_end,
        phones=PHONES, trunk_ips=[TRUNK_IP],
        # Load tests put up to 100 calls of one phone in the IVR at once; the cap (4 a
        # caller) is tested with the product's setting in tests/telephony/test_lockouts.py.
        lockouts=LockoutSettings(ivr_calls=MAX_IVR_CALLS),
    )  # fmt: skip
    creds = load_or_create_ami_credentials(run_dir)
    logs.mkdir(parents=True, exist_ok=True)
    return Pbx(cfg, install, creds, Sipp(cfg.sip_port, sipp_base(), logs))


@pytest.fixture(scope="module")
def shared_pbx(install: AsteriskInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    """One Asterisk per test module; every test wires a fresh bot stack to it."""
    base = tmp_path_factory.mktemp("pbx")
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.start()
    yield pbx
    pbx.stop()


@pytest.fixture
def own_pbx(install: AsteriskInstall, tmp_path: Path) -> Iterator[Pbx]:
    """An Asterisk for one test that stops or kills it."""
    pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    pbx.start()
    yield pbx
    pbx.stop()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Stack:
    pbx: Pbx
    service: ConferenceService
    ami: AmiClient
    tracker: ParticipantTracker
    sync: AstDbSync
    actions: PbxActions
    updates: list[Update] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)

    async def list_rooms(self) -> dict[str, int]:
        """ConfbridgeListRooms as Asterisk reports it: bridge -> parties."""
        rooms = await self.ami.list_action({"Action": "ConfbridgeListRooms"})
        return {str(m["Conference"]): int(m["Parties"]) for m in rooms}

    async def counts_agree(self) -> bool:
        listed = await self.list_rooms()
        tracked = {bridge_name(k): v for k, v in self.tracker.counts().items()}
        return listed == tracked

    def user_events(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("UserEvent") == name]

    async def ready(self) -> None:
        assert await self.ami.wait_ready(20), "AMI did not become ready"
        await eventually(lambda: self.tracker.online and self.sync.synced, what="first sync")


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[Callable[[Pbx], Awaitable[Stack]]]:
    made: list[tuple[Stack, Repository]] = []

    async def build(pbx: Pbx) -> Stack:
        repo = await Repository.open(tmp_path / f"conference-{len(made)}.db")
        service = ConferenceService(repo)
        await service.setup_server("800", "test")
        tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                              username=pbx.creds.username, secret=pbx.creds.password,
                              recordings_dir=pbx.cfg.recordings_dir)  # fmt: skip
        ami, tracker = tel.ami, tel.tracker
        stack = Stack(pbx, service, ami, tracker, tel.sync, tel.actions)

        async def record(update: Update) -> None:
            stack.updates.append(update)

        tracker.add_listener(record)
        ami.register_event("UserEvent", lambda msg: stack.events.append(dict(msg)))
        await ami.start()
        made.append((stack, repo))
        await stack.ready()
        # Room ids start again with each test's database: no lockout counts carry over.
        with contextlib.suppress(PbxActionFailed):
            await ami.action({"Action": "DBDelTree", "Family": LOCKOUTS_FAMILY})
        return stack

    yield build
    for stack, repo in made:
        await stack.ami.close()
        await repo.close()
