"""A phone provider for tests: a second, real Asterisk from the same bundled install, on its
own loopback address, with a hand-written configuration of its own.

It is the registrar for one account (the trunk user our PBX registers as, with digest
auth), and it places calls to whatever contact that account registered, over AMI
``Originate``: once our PBX answers, the provider's dialplan keys in the digits (RFC 4733,
``SendDTMF``) and keeps the call up. Nothing of ``deploy``'s rendering is reused: the
provider must not follow the product's configuration, or a mistake there would show on
both sides of the test and cancel out.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.credentials import AmiCredentials
from deploy.install import AsteriskInstall
from deploy.probe import NotReady, wait_fully_booted
from telephony.ami import AmiClient
from tests.ports import LISTEN_PORTS, rtp_range

ADDRESS = "127.0.0.4"  # 127.0.0.1 is our PBX, 127.0.0.2 the IP trunk of the other tests
TRUNK_USER = "conference-trunk"
TRUNK_PASSWORD = "provider-secret-1"
CALLER_ID = "15550001111"  # the number the provider's callers call from
_AMI_USER = "provider"
_SECURITY_EVENTS = (
    "ChallengeSent",
    "SuccessfulAuth",
    "InvalidPassword",
    "ChallengeResponseFailed",
    "InvalidAccountID",
)
_SUN_PATH_MAX = 107

_MODULES = (
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",  # the registrar keeps contacts in AstDB
    "res_timing_timerfd.so",
    "res_pjproject.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_pubsub.so",
    "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_sdp_rtp.so",
    "res_rtp_asterisk.so",
    "codec_ulaw.so",
    "pbx_config.so",
    "app_senddtmf.so",
    "app_exec.so",
)


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((ADDRESS, port))
        except OSError:
            return False
    return True


def _free_port(*kinds: int) -> int:
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)
        if all(_bindable(port, kind) for kind in kinds):
            return port
    raise RuntimeError(f"no free port on {ADDRESS}")


def _conf(cfg: ProviderConfig, run: Path, install: AsteriskInstall) -> dict[str, str]:
    """Every file of the provider's etc dir."""
    a = cfg.address
    return {
        "asterisk.conf": (
            "[directories]\n"
            f"astetcdir => {run}/etc\nastmoddir => {install.module_dir}\n"
            f"astvarlibdir => {run}/lib\nastdbdir => {run}/db\nastkeydir => {run}/keys\n"
            f"astdatadir => {run}/data\nastagidir => {run}/agi-bin\n"
            f"astspooldir => {run}/spool\nastrundir => {run}/run\nastlogdir => {run}/log\n"
            f"astsbindir => {run}/sbin\n"
            "[options]\nverbose = 0\ndebug = 0\nnocolor = yes\nlockconfdir = no\n"
            "entityid = 02:00:00:00:00:04\n"
            "[files]\nastctl = asterisk.ctl\nastctlpermissions = 0600\n"
        ),
        "modules.conf": "[modules]\nautoload = no\n" + "".join(f"load => {m}\n" for m in _MODULES),
        "logger.conf": (
            "[general]\ndateformat = %F %T.%3q\nqueue_log = no\n"
            "[logfiles]\nmessages.log => notice,warning,error\n"
        ),
        "stasis.conf": "[threadpool]\ninitial_size = 2\nidle_timeout_sec = 20\nmax_size = 10\n",
        "rtp.conf": f"[general]\nrtpstart = {cfg.rtp_start}\nrtpend = {cfg.rtp_start + 99}\n",
        "manager.conf": (
            f"[general]\nenabled = yes\nbindaddr = {a}\nport = {cfg.ami_port}\n"
            "displayconnects = no\ntimestampevents = yes\n"
            f"[{_AMI_USER}]\nsecret = {cfg.ami_secret}\n"
            f"deny = 0.0.0.0/0.0.0.0\npermit = {a}/255.255.255.255\n"
            "permit = 127.0.0.1/255.255.255.255\n"
            "read = system,call,command,reporting,originate,security\n"
            "write = system,call,command,reporting,originate\n"
        ),
        "pjsip.conf": (
            f"[transport-udp]\ntype = transport\nprotocol = udp\nbind = {a}:{cfg.sip_port}\n\n"
            f"[transport-tcp]\ntype = transport\nprotocol = tcp\nbind = {a}:{cfg.sip_port}\n\n"
            # The customer's account: our PBX registers as it, and calls go to its contact.
            f"[{cfg.user}]\ntype = endpoint\ncontext = from-customer\n"
            f"identify_by = username\nauth = {cfg.user}\naors = {cfg.user}\n"
            f"media_address = {a}\nbind_rtp_to_media_address = yes\ndirect_media = no\n"
            "disallow = all\nallow = ulaw\ndtmf_mode = rfc4733\n\n"
            f"[{cfg.user}]\ntype = auth\nauth_type = userpass\n"
            f"username = {cfg.user}\npassword = {cfg.password}\n\n"
            f"[{cfg.user}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
            f"minimum_expiration = {cfg.minimum_expiration}\n"
            # A registrar may grant less than asked: this sets how often we refresh.
            f"maximum_expiration = {cfg.maximum_expiration}\n"
        ),
        "extensions.conf": (
            "[general]\nstatic = yes\nwriteprotect = yes\nautofallthrough = yes\n\n"
            # The customer never places calls through us.
            "[from-customer]\nexten => _X.,1,Hangup(21)\n\n"
            # A caller: wait for the far end's IVR, key in DIGITS, stay HOLD seconds.
            "[provider-call]\n"
            "exten => s,1,Wait(${LEAD})\n"
            ' same => n,ExecIf($["x${DIGITS}" != "x"]?SendDTMF(${DIGITS},300,150))\n'
            " same => n,Wait(${HOLD})\n"
            " same => n,Hangup()\n"
        ),
    }


@dataclass
class ProviderConfig:
    """Where the provider listens and whom it accepts."""

    sip_port: int
    ami_port: int
    rtp_start: int
    user: str = TRUNK_USER
    password: str = TRUNK_PASSWORD
    address: str = ADDRESS
    ami_secret: str = "provider-ami-secret"
    minimum_expiration: int = 10
    maximum_expiration: int = 7200  # Asterisk's default

    @property
    def registrar_uri(self) -> str:
        """What PBX_TRUNK_REGISTRAR names: the provider's registrar (over UDP)."""
        return f"sip:{self.address}:{self.sip_port}"

    @property
    def registrar_uri_tcp(self) -> str:
        return f"{self.registrar_uri};transport=tcp"


class ProviderPbx:
    """A second Asterisk playing the phone provider. ``start``/``stop``/``restart`` it from
    a test; ``contacts()`` is what it has registered, ``call()`` places a call to us."""

    def __init__(self, install: AsteriskInstall, base: Path, cfg: ProviderConfig) -> None:
        self.install = install
        self.cfg = cfg
        self.run_dir = _short_run_dir(base)
        self._proc: subprocess.Popen[bytes] | None = None
        self.ami: AmiClient | None = None
        self.boot_seconds: float | None = None
        self.started_at: float | None = None  # time.monotonic() when it last finished booting
        self.events: list[dict[str, str]] = []  # its security events: how it authenticated us

    @property
    def creds(self) -> AmiCredentials:
        return AmiCredentials(username=_AMI_USER, password=self.cfg.ami_secret)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_file(self) -> Path:
        return self.run_dir / "log" / "messages.log"

    def _write_config(self) -> Path:
        run = self.run_dir
        for sub in ("etc", "lib", "db", "keys", "data", "agi-bin", "spool", "run", "log", "sbin"):
            (run / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        data = run / "data"
        for lang, src in self.install.sounds_dirs.items():
            (data / "sounds").mkdir(exist_ok=True)
            with suppress(FileExistsError):
                (data / "sounds" / lang).symlink_to(src)
        # Stasis does not start without its documentation dir.
        docs = self.install.data_dir / "documentation" if self.install.data_dir else None
        if docs is not None and docs.is_dir():
            with suppress(FileExistsError):
                (data / "documentation").symlink_to(docs)
        else:
            (data / "documentation").mkdir(exist_ok=True)
        for name, text in _conf(self.cfg, run, self.install).items():
            path = run / "etc" / name
            path.write_text(text)
            path.chmod(0o600)
        return run / "etc" / "asterisk.conf"

    def _spawn(self) -> subprocess.Popen[bytes]:
        conf = self._write_config()
        with open(self.run_dir / "log" / "console.log", "ab") as console:
            return subprocess.Popen(
                self.install.command("-f", "-n", "-C", str(conf)),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self.run_dir)},
                start_new_session=True,
            )

    async def start(self, timeout: float = 15.0) -> None:
        """Start it and return once it has booted and our AMI connection to it is ready."""
        if self.running:
            raise RuntimeError("the provider is already running")
        t0 = time.monotonic()
        self._proc = proc = self._spawn()
        deadline = t0 + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the provider exited during start-up\n{self._tail()}")
            try:
                await wait_fully_booted(self.cfg.address, self.cfg.ami_port, self.creds,
                                        timeout=max(0.5, deadline - time.monotonic()))  # fmt: skip
                break
            except NotReady:
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"the provider did not boot\n{self._tail()}") from None
                await asyncio.sleep(0.02)
        self.started_at = time.monotonic()
        self.boot_seconds = self.started_at - t0
        ami = AmiClient(host=self.cfg.address, port=self.cfg.ami_port,
                        username=_AMI_USER, secret=self.cfg.ami_secret)  # fmt: skip
        for name in _SECURITY_EVENTS:
            ami.register_event(name, lambda msg: self.events.append(dict(msg)))
        await ami.start()
        if not await ami.wait_ready(10):
            await ami.close()
            raise RuntimeError("the provider's AMI did not become ready")
        self.ami = ami

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``) and wait until it and its sockets are gone."""
        if self.ami is not None:
            ami, self.ami = self.ami, None
            await ami.close()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    async def restart(self, *, forget: bool = True, down: float = 0.0) -> None:
        """Stop, stay down ``down`` seconds, start. ``forget``: lose every registration, as
        a provider whose registrar keeps them in memory does (ours keeps them in AstDB)."""
        await self.stop()
        if forget:
            self.forget()
        if down:
            await asyncio.sleep(down)
        await self.start()

    def forget(self) -> None:
        """Drop every registration it holds (while stopped)."""
        if self.running:
            raise RuntimeError("stop the provider first")
        shutil.rmtree(self.run_dir / "db", ignore_errors=True)

    def _tail(self, lines: int = 30) -> str:
        out = []
        for name in ("console.log", "messages.log"):
            path = self.run_dir / "log" / name
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def _ami(self) -> AmiClient:
        if self.ami is None:
            raise RuntimeError("the provider is not running")
        return self.ami

    # -- what it knows ------------------------------------------------------------------

    async def contacts(self) -> list[dict[str, str]]:
        """The contacts registered to the customer's AOR (``PJSIPShowContacts``)."""
        listed = await self._ami().list_action({"Action": "PJSIPShowContacts"}, timeout=5)
        # ObjectName is "<aor>;@<hash>".
        return [dict(m) for m in listed
                if str(m.get("ObjectName", "")).partition(";@")[0] == self.cfg.user]  # fmt: skip

    async def contact_uris(self) -> list[str]:
        return [str(c.get("Uri", "")) for c in await self.contacts()]

    async def channels(self) -> list[dict[str, str]]:
        return [dict(m) for m in await self._ami().list_action({"Action": "CoreShowChannels"})]

    # -- calls --------------------------------------------------------------------------

    async def call(
        self,
        number: str,
        *,
        digits: str = "",
        hold: float = 30.0,
        lead: float = 1.5,
        caller_id: str = CALLER_ID,
        timeout: float = 15.0,
    ) -> None:
        """Call ``number`` at the customer's registered contact; once answered, wait
        ``lead`` s, key in ``digits`` (``w`` pauses 0.5 s), hold ``hold`` s, hang up.

        Returns once the call is placed (AMI ``Originate`` answers when the far end picks
        up, or fails when it refuses).
        """
        variables = {"DIGITS": digits, "HOLD": f"{hold:g}", "LEAD": f"{lead:g}"}
        await self._ami().action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{number}@{self.cfg.user}",
                "Context": "provider-call",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"Carrier caller" <{caller_id}>',
                "Timeout": str(int(timeout * 1000)),
                "Variable": _variables(variables),
            },
            timeout=timeout + 5,
        )

    async def hang_up_all(self) -> None:
        for channel in await self.channels():
            with suppress(Exception):
                await self._ami().action({"Action": "Hangup", "Channel": channel["Channel"]})


def _variables(values: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def _short_run_dir(base: Path) -> Path:
    """``base/provider`` unless its control socket path would be too long for a Unix
    socket; then a short directory in the system's temp dir."""
    run = base / "provider"
    if len(str(run / "run" / "asterisk.ctl")) <= _SUN_PATH_MAX:
        return run
    return Path(tempfile.mkdtemp(prefix="prov-"))


def make_provider(install: AsteriskInstall, base: Path, **overrides: object) -> ProviderPbx:
    cfg = ProviderConfig(
        sip_port=_free_port(socket.SOCK_DGRAM, socket.SOCK_STREAM),
        ami_port=_free_port(socket.SOCK_STREAM),
        rtp_start=rtp_range(100)[0],
        **overrides,  # type: ignore[arg-type]
    )
    return ProviderPbx(install, base, cfg)


@pytest.fixture
async def provider(install: AsteriskInstall, tmp_path: Path) -> AsyncIterator[ProviderPbx]:
    """A running provider for one test; stopped afterwards whatever the test did to it."""
    pbx = make_provider(install, tmp_path)
    await pbx.start()
    yield pbx
    await pbx.stop()


async def wait_for(
    check: Callable[[], object], timeout: float = 15.0, what: str = "condition"
) -> float:
    """Poll ``check`` (sync or async) until truthy; return the seconds it took."""
    t0 = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
