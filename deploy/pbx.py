"""Configure and run the bundled Asterisk PBX.

* :class:`PbxConfig` - ports, phones and trunk addresses (``PbxConfig.from_env``).
* :func:`load_or_create_ami_credentials` - AMI login kept in ``run_dir`` (0600).
* :func:`render_config` - writes every ``.conf`` into ``run_dir/etc``.
* :class:`AsteriskProcess` - Asterisk as a child process (start waits for
  the AMI ``FullyBooted`` event).
* :func:`start_detached`, :func:`stop_detached`, :func:`status` - a detached
  daemon tracked through ``run_dir/asterisk.pid`` (for the CLI).

Everything binds ``cfg.bind_address`` (127.0.0.1).  Secrets (AMI password, SIP
passwords, PINs) are never logged; files holding them are mode 0600, and
Asterisk runs with umask 077 and verbose level 0 so its own files and logs
neither expose them.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import errno
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from deploy.ami import AmiClient, AmiCredentials, AmiError
from deploy.modules import MODULES
from deploy.prefix import AsteriskInstall, asterisk_version_of

__all__ = [
    "AmiCredentials",
    "AsteriskProcess",
    "PbxConfig",
    "PbxError",
    "asterisk_version",
    "load_or_create_ami_credentials",
    "render_config",
    "run_cli",
    "running_config",
    "start_detached",
    "status",
    "stop_detached",
]

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
CREDENTIALS_FILE = "ami-credentials.json"
PID_FILE = "asterisk.pid"
PORTS_FILE = "ports.json"  # where the running instance listens (no secrets)
CONSOLE_LOG = "console.log"
AMI_USERNAME = "conference-bot"
# Files holding secrets.
_SECRET_FILES = frozenset({"manager.conf", "pjsip.conf"})
# Section names the generated pjsip.conf uses itself.
_RESERVED_NAMES = frozenset({"trunk", "transport-udp", "global", "system"})
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PASSWORD_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
_SUN_PATH_MAX = 107


class PbxError(RuntimeError):
    """The PBX could not be configured, started or stopped."""


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def _port(name: str, value: str | int) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ValueError(
            f"{name} must be a port number between 1 and 65535, got {str(value)!r}"
        ) from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be a port number between 1 and 65535, got {port}")
    return port


def _check_rtp(start: int, end: int, sip_port: int, label: str) -> None:
    if end - start < 1:
        raise ValueError(f"{label}: range {start}-{end} must hold at least two ports (start < end)")
    if start <= sip_port <= end:
        raise ValueError(f"{label}: range {start}-{end} contains the SIP port {sip_port}")


def _check_phones(phones: list[tuple[str, str]], label: str) -> None:
    seen: set[str] = set()
    for i, (user, password) in enumerate(phones, 1):
        if not _USER_RE.match(user):
            raise ValueError(
                f"{label}: entry {i}: user name {user!r} must be 1-64 letters, digits, "
                "'_', '.' or '-' (starting with a letter or digit)"
            )
        if user in _RESERVED_NAMES:
            raise ValueError(f"{label}: entry {i}: user name {user!r} is reserved")
        if user in seen:
            raise ValueError(f"{label}: entry {i}: user name {user!r} appears twice")
        seen.add(user)
        if not _PASSWORD_RE.match(password) or any(c in password for c in ";,\"'\\"):
            raise ValueError(
                f"{label}: password of {user!r} must be 1-128 printable characters without "
                "spaces, commas, semicolons, quotes or backslashes"
            )


def _check_trunks(ips: list[str], label: str) -> None:
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            raise ValueError(f"{label}: {ip!r} is not an IP address or network") from None


@dataclass(kw_only=True)
class PbxConfig:
    """Everything needed to render the PBX configuration.

    ``phones`` holds ``(username, password)`` pairs; it is left out of ``repr``.
    Invalid values raise :class:`ValueError`.
    """

    run_dir: Path
    bind_address: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 10999
    phones: list[tuple[str, str]] = field(default_factory=list, repr=False)
    trunk_ips: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).expanduser().absolute()
        try:
            ipaddress.ip_address(self.bind_address)
        except ValueError:
            raise ValueError(
                f"bind address must be an IP address, got {self.bind_address!r}"
            ) from None
        self.sip_port = _port("SIP port", self.sip_port)
        self.ami_port = _port("AMI port", self.ami_port)
        self.rtp_start = _port("RTP start port", self.rtp_start)
        self.rtp_end = _port("RTP end port", self.rtp_end)
        _check_rtp(self.rtp_start, self.rtp_end, self.sip_port, "RTP ports")
        _check_phones(self.phones, "phones")
        _check_trunks(self.trunk_ips, "trunk_ips")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], run_dir: Path) -> PbxConfig:
        """Read ``PBX_SIP_PORT``, ``PBX_AMI_PORT``, ``PBX_RTP_PORTS`` ("10000-10999"),
        ``PBX_PHONES`` ("alice:secret1,bob:secret2") and ``PBX_TRUNK_IPS``
        ("203.0.113.5,127.0.0.2"); unset or empty means the default.  Raises
        :class:`ValueError` with a message naming the variable (never echoing a
        password)."""

        def get(name: str) -> str | None:
            v = environ.get(name)
            return v.strip() if v is not None and v.strip() else None

        kwargs: dict[str, Any] = {"run_dir": Path(run_dir)}
        sip_port = 5060
        if (v := get("PBX_SIP_PORT")) is not None:
            kwargs["sip_port"] = sip_port = _port("PBX_SIP_PORT", v)
        if (v := get("PBX_AMI_PORT")) is not None:
            kwargs["ami_port"] = _port("PBX_AMI_PORT", v)
        if (v := get("PBX_RTP_PORTS")) is not None:
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", v)
            if not m:
                raise ValueError(f"PBX_RTP_PORTS must look like 10000-10999, got {v!r}")
            start = _port("PBX_RTP_PORTS start", m.group(1))
            end = _port("PBX_RTP_PORTS end", m.group(2))
            _check_rtp(start, end, sip_port, "PBX_RTP_PORTS")
            kwargs["rtp_start"], kwargs["rtp_end"] = start, end
        else:
            _check_rtp(10000, 10999, sip_port, "PBX_SIP_PORT (default RTP ports 10000-10999)")
        if (v := get("PBX_PHONES")) is not None:
            phones: list[tuple[str, str]] = []
            for i, entry in enumerate((e.strip() for e in v.split(",")), 1):
                if not entry:
                    continue
                user, sep, password = entry.partition(":")
                if not sep or not user.strip() or not password:
                    raise ValueError(
                        f"PBX_PHONES: entry {i} must be user:password "
                        "(e.g. alice:secret1,bob:secret2)"
                    )
                phones.append((user.strip(), password))
            _check_phones(phones, "PBX_PHONES")
            kwargs["phones"] = phones
        if (v := get("PBX_TRUNK_IPS")) is not None:
            ips = [ip.strip() for ip in v.split(",") if ip.strip()]
            _check_trunks(ips, "PBX_TRUNK_IPS")
            kwargs["trunk_ips"] = ips
        return cls(**kwargs)

    # Paths inside run_dir.
    @property
    def etc_dir(self) -> Path:
        return self.run_dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "log"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc_dir / "asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / PID_FILE

    @property
    def phone_users(self) -> list[str]:
        return [u for u, _ in self.phones]


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def _write_file(path: Path, text: str, mode: int) -> None:
    """Atomically write ``text`` with ``mode`` (the file never exists with a wider mode)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _symlink(target: Path, link: Path) -> None:
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def load_or_create_ami_credentials(run_dir: Path) -> AmiCredentials:
    """AMI username and random password from ``run_dir/ami-credentials.json``,
    created (mode 0600) on first use and reused afterwards."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / CREDENTIALS_FILE
    if path.exists():
        try:
            data = json.loads(path.read_text())
            creds = AmiCredentials(username=str(data["username"]), password=str(data["password"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PbxError(
                f"{path} is unreadable ({type(exc).__name__}); "
                "delete it to generate new credentials"
            ) from None
        if not creds.username or not _PASSWORD_RE.match(creds.password):
            raise PbxError(f"{path} holds invalid credentials; delete it to generate new ones")
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return creds
    creds = AmiCredentials(username=AMI_USERNAME, password=secrets.token_urlsafe(24))
    text = json.dumps({"username": creds.username, "password": creds.password}) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        os.link(tmp, path)  # fails if another process created it meanwhile
    except FileExistsError:
        tmp.unlink()
        return load_or_create_ami_credentials(run_dir)
    tmp.unlink()
    return creds


def _endpoint_sections(cfg: PbxConfig) -> str:
    media = (
        f"media_address = {cfg.bind_address}\n"
        "bind_rtp_to_media_address = yes\n"
        "direct_media = no\n"
        "rtp_symmetric = yes\n"
        "disallow = all\n"
        "allow = ulaw,alaw,gsm\n"
        "dtmf_mode = rfc4733\n"
        "transport = transport-udp\n"
        "allow_subscribe = no\n"
    )
    out: list[str] = []
    for user, password in cfg.phones:
        out.append(
            f"[{user}]\ntype = endpoint\ncontext = from-phones\nidentify_by = username\n"
            f"auth = {user}\naors = {user}\n{media}\n"
            f"[{user}]\ntype = auth\nauth_type = userpass\n"
            f"username = {user}\npassword = {password}\n\n"
            f"[{user}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        )
    if cfg.trunk_ips:
        out.append(
            f"[trunk]\ntype = endpoint\ncontext = from-trunk\nidentify_by = ip\n{media}\n"
            f"[trunk]\ntype = identify\nendpoint = trunk\nmatch = {','.join(cfg.trunk_ips)}\n"
        )
    return "\n".join(out)


def _render_template(name: str, values: Mapping[str, str]) -> str:
    text = (TEMPLATES / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise PbxError(f"template {name}: unfilled placeholders {sorted(set(left))}")
    return text


def render_config(cfg: PbxConfig, install: AsteriskInstall, creds: AmiCredentials) -> Path:
    """Write every ``.conf`` into ``run_dir/etc`` and prepare the run dir.

    Returns the path of ``asterisk.conf`` (pass it to ``asterisk -C``).
    """
    run = cfg.run_dir
    ctl = run / "run" / "asterisk.ctl"
    if len(str(ctl)) > _SUN_PATH_MAX:
        raise PbxError(
            f"run dir {run} is too long: the control socket path {ctl} exceeds the "
            f"{_SUN_PATH_MAX}-character Unix socket limit; use a shorter run dir"
        )
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(run, 0o700)
    for sub in (
        "etc",
        "lib",
        "db",
        "keys",
        "data",
        "data/sounds",
        "agi-bin",
        "spool",
        "run",
        "log",
        "sbin",
    ):
        (run / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    # Private astdatadir: sounds/<lang> -> the install's sound sets.
    for lang, src in install.sounds_dirs.items():
        _symlink(src, run / "data" / "sounds" / lang)
    if install.data_dir is not None and (install.data_dir / "documentation").is_dir():
        _symlink(install.data_dir / "documentation", run / "data" / "documentation")

    try:
        permit_loopback = ipaddress.ip_address(cfg.bind_address).is_loopback
    except ValueError:
        permit_loopback = False
    if permit_loopback and ipaddress.ip_address(cfg.bind_address).version == 4:
        permit = "127.0.0.0/255.0.0.0"
    elif ipaddress.ip_address(cfg.bind_address).version == 4:
        permit = f"{cfg.bind_address}/255.255.255.255"
    else:
        permit = f"{cfg.bind_address}/128"
    values = {
        "RUN_DIR": str(run),
        "MODULE_DIR": str(install.module_dir),
        "MODULE_LOADS": "\n".join(f"load => {m}" for m in MODULES),
        "BIND_ADDRESS": cfg.bind_address,
        "SIP_PORT": str(cfg.sip_port),
        "AMI_PORT": str(cfg.ami_port),
        "AMI_USER": creds.username,
        "AMI_SECRET": creds.password,
        "AMI_PERMIT": permit,
        "RTP_START": str(cfg.rtp_start),
        "RTP_END": str(cfg.rtp_end),
        "ENDPOINTS": _endpoint_sections(cfg),
    }
    for tpl in sorted(TEMPLATES.glob("*.conf")):
        text = _render_template(tpl.name, values)
        mode = 0o600 if tpl.name in _SECRET_FILES else 0o644
        _write_file(cfg.etc_dir / tpl.name, text, mode)
    return cfg.asterisk_conf


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def _check_ports(cfg: PbxConfig) -> None:
    """Raise :class:`PbxError` if the SIP (UDP) or AMI (TCP) port is taken."""
    family = (
        socket.AF_INET6 if ipaddress.ip_address(cfg.bind_address).version == 6 else socket.AF_INET
    )
    checks = (
        ("SIP", socket.SOCK_DGRAM, cfg.sip_port, "UDP", False),
        ("AMI", socket.SOCK_STREAM, cfg.ami_port, "TCP", True),
    )
    for label, kind, port, proto, reuse in checks:
        s = socket.socket(family, kind)
        try:
            if reuse:  # Asterisk sets SO_REUSEADDR too: TIME_WAIT does not count
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((cfg.bind_address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PbxError(
                    f"{label} port {port} on {cfg.bind_address} is already in use ({proto}); "
                    f"stop whatever holds it or choose another port (PBX_{label}_PORT)"
                ) from None
            raise PbxError(
                f"cannot bind {label} port {port} on {cfg.bind_address}: {exc.strerror}"
            ) from None
        finally:
            s.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _log_tail(cfg: PbxConfig) -> str:
    parts = []
    for name in (CONSOLE_LOG, "messages.log"):
        t = _tail(cfg.log_dir / name)
        if t.strip():
            parts.append(f"--- {cfg.log_dir / name} (last lines) ---\n{t}")
    return "\n".join(parts) if parts else "(asterisk wrote no log)"


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


# Looked up once here: the child must not load anything between fork and exec.
_prctl: Any = _load_prctl()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: Asterisk gets SIGTERM if the
    # thread that started it dies, so a crashed bot leaves no PBX behind.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _child_env(run_dir: Path) -> dict[str, str]:
    """A minimal environment: the bot's own secrets (Slack tokens...) stay out of Asterisk."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(run_dir), "LANG": "C.UTF-8"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def _spawn(
    cfg: PbxConfig, install: AsteriskInstall, creds: AmiCredentials, *, detached: bool
) -> subprocess.Popen[bytes]:
    current = status(cfg.run_dir)
    if current["running"]:
        raise PbxError(f"Asterisk is already running for {cfg.run_dir} (pid {current['pid']})")
    _check_ports(cfg)
    conf = render_config(cfg, install, creds)
    argv = install.command("-f", "-n", "-C", str(conf))
    console = os.fdopen(
        os.open(cfg.log_dir / CONSOLE_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
    )
    try:
        console.write(f"\n=== {time.strftime('%F %T')} starting {install.version}\n".encode())
        console.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=cfg.run_dir,
            env=_child_env(cfg.run_dir),
            umask=0o077,
            start_new_session=True,
            preexec_fn=None if detached else _die_with_parent,
        )
    except OSError as exc:
        raise PbxError(f"cannot run {argv[0]}: {exc}") from exc
    finally:
        console.close()
    _write_file(cfg.pid_file, f"{proc.pid}\n", 0o644)
    ports = {
        "bind_address": cfg.bind_address,
        "sip_port": cfg.sip_port,
        "ami_port": cfg.ami_port,
        "rtp_start": cfg.rtp_start,
        "rtp_end": cfg.rtp_end,
    }
    _write_file(cfg.run_dir / PORTS_FILE, json.dumps(ports) + "\n", 0o644)
    log.info(
        "started asterisk pid %d (SIP udp %s:%d, AMI %s:%d)",
        proc.pid,
        cfg.bind_address,
        cfg.sip_port,
        cfg.bind_address,
        cfg.ami_port,
    )
    return proc


async def _wait_fully_booted(
    cfg: PbxConfig, creds: AmiCredentials, alive: Callable[[], bool], timeout: float
) -> None:
    """Log in to AMI and wait for ``FullyBooted``; PbxError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last_error = "AMI never answered"
    while True:
        if not alive():
            raise PbxError(f"asterisk exited during start-up\n{_log_tail(cfg)}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PbxError(
                f"asterisk did not finish booting within {timeout:.0f} s ({last_error})\n"
                f"{_log_tail(cfg)}"
            )
        try:
            client = await AmiClient.connect(
                cfg.bind_address, cfg.ami_port, timeout=min(2.0, remaining)
            )
        except (OSError, TimeoutError, AmiError) as exc:
            last_error = f"AMI: {exc}"
            await asyncio.sleep(0.02)
            continue
        try:
            await client.login(
                creds, events="system", timeout=max(0.5, deadline - time.monotonic())
            )
            await client.wait_event(
                lambda m: m.event == "FullyBooted", timeout=max(0.1, deadline - time.monotonic())
            )
            return
        except AmiError as exc:
            last_error = f"AMI: {exc}"
            if "login" in str(exc):
                raise PbxError(f"{exc}\n{_log_tail(cfg)}") from None
        finally:
            await client.close()


class AsteriskProcess:
    """Asterisk as a child of this process.

    ``await start()`` renders the configuration, checks the ports, spawns
    ``asterisk -f -n -C run_dir/etc/asterisk.conf`` and returns once AMI reports
    ``FullyBooted``.  The child gets SIGTERM if the thread that started it
    exits (``PR_SET_PDEATHSIG``): start it from the event loop thread.
    """

    def __init__(
        self, cfg: PbxConfig, install: AsteriskInstall, creds: AmiCredentials | None = None
    ) -> None:
        self.cfg = cfg
        self.install = install
        self._creds = creds
        self._proc: subprocess.Popen[bytes] | None = None
        self.boot_seconds: float | None = None

    @property
    def credentials(self) -> AmiCredentials:
        if self._creds is None:
            self._creds = load_or_create_ami_credentials(self.cfg.run_dir)
        return self._creds

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    async def start(self, timeout: float = 15.0) -> None:
        if self.running:
            raise PbxError(f"asterisk already running (pid {self.pid})")
        t0 = time.monotonic()
        proc = _spawn(self.cfg, self.install, self.credentials, detached=False)
        self._proc = proc
        try:
            await _wait_fully_booted(
                self.cfg, self.credentials, lambda: proc.poll() is None, timeout
            )
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait)
            self.cfg.pid_file.unlink(missing_ok=True)
            raise
        self.boot_seconds = time.monotonic() - t0
        log.info("asterisk fully booted in %.2f s", self.boot_seconds)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                await asyncio.to_thread(proc.wait, timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "asterisk pid %d ignored SIGTERM for %.0f s; killing it", proc.pid, timeout
                )
                proc.kill()
                await asyncio.to_thread(proc.wait)
        self.cfg.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL (simulates a crash; the PID file is left behind, as after a real one)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# Detached daemon (CLI)
# --------------------------------------------------------------------------

_T = TypeVar("_T")


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop: run in a helper thread with its own loop.
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=runner, name="deploy-pbx-wait")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    result: _T = box["result"]
    return result


def start_detached(cfg: PbxConfig, install: AsteriskInstall, timeout: float = 15.0) -> int:
    """Start Asterisk in its own session (survives this process), wait for
    ``FullyBooted`` and return its PID.  Output goes to ``run_dir/log``."""
    creds = load_or_create_ami_credentials(cfg.run_dir)
    proc = _spawn(cfg, install, creds, detached=True)
    # Keep the handle: a Popen collected while its process runs warns, and a daemon
    # started by this process (tests, ``serve``) is reaped through it when stopped.
    _DETACHED[proc.pid] = proc
    try:
        _run_sync(_wait_fully_booted(cfg, creds, lambda: proc.poll() is None, timeout))
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cfg.pid_file.unlink(missing_ok=True)
        raise
    return proc.pid


_DETACHED: dict[int, subprocess.Popen[bytes]] = {}


def _read_pid(run_dir: Path) -> int | None:
    try:
        text = (Path(run_dir) / PID_FILE).read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _is_our_asterisk(pid: int, run_dir: Path) -> bool:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    conf = str(Path(run_dir).absolute() / "etc" / "asterisk.conf")
    return any(a.endswith("asterisk") or "/asterisk" in a for a in args) and conf in args


def status(run_dir: Path) -> dict[str, Any]:
    """``{"running": bool, "pid": int | None, "pid_file": str, "stale": bool}``.

    ``running`` is true only if the PID file names a live process that is the
    asterisk started with this run dir's ``asterisk.conf``; ``stale`` means a
    PID file exists but does not describe such a process."""
    run_dir = Path(run_dir).absolute()
    pid = _read_pid(run_dir)
    running = pid is not None and _is_our_asterisk(pid, run_dir)
    pid_file = run_dir / PID_FILE
    return {
        "running": running,
        "pid": pid if running else None,
        "pid_file": str(pid_file),
        "stale": pid_file.exists() and not running,
    }


def running_config(cfg: PbxConfig) -> PbxConfig:
    """``cfg`` with the addresses of the Asterisk running from its run dir, if one is.

    Commands run from another shell may not have the settings it was started with; they
    must still reach it where it really listens.
    """
    if not status(cfg.run_dir)["running"]:
        return cfg
    try:
        ports = json.loads((cfg.run_dir / PORTS_FILE).read_text())
        return dataclasses.replace(
            cfg,
            bind_address=str(ports["bind_address"]),
            sip_port=int(ports["sip_port"]),
            ami_port=int(ports["ami_port"]),
            rtp_start=int(ports["rtp_start"]),
            rtp_end=int(ports["rtp_end"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return cfg


def _starttime(pid: int) -> int | None:
    """Kernel start time of ``pid``; None once it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def stop_detached(run_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the daemon named by ``run_dir``'s PID file (SIGTERM, then SIGKILL)
    and wait until the process is gone.  Returns whether it was running; the
    PID file is removed either way."""
    run_dir = Path(run_dir).absolute()
    st = status(run_dir)
    pid = st["pid"]
    start = _starttime(pid) if st["running"] and pid is not None else None
    if pid is not None and start is not None:

        def alive() -> bool:
            _reap(pid)
            return _starttime(pid) == start

        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if sig == signal.SIGKILL:
                log.warning("asterisk pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not alive():
                break
    (run_dir / PID_FILE).unlink(missing_ok=True)
    return start is not None


def _reap(pid: int) -> None:
    # If the daemon is our own child (started in this process), collect it.
    proc = _DETACHED.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _DETACHED[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def asterisk_version(install: AsteriskInstall) -> str:
    """``asterisk -V`` of the installation, e.g. ``Asterisk 22.10.1...``."""
    try:
        return asterisk_version_of(install.argv)
    except Exception as exc:  # PrefixError
        raise PbxError(str(exc)) from exc


def run_cli(install: AsteriskInstall, run_dir: Path, command: str, timeout: float = 10.0) -> str:
    """Run one CLI command on the running instance (``asterisk -rx``) and return its output."""
    conf = Path(run_dir).absolute() / "etc" / "asterisk.conf"
    try:
        res = subprocess.run(
            install.command("-C", str(conf), "-rx", command),
            env=_child_env(Path(run_dir).absolute()),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PbxError(f"asterisk -rx {command!r} timed out") from exc
    if res.returncode != 0:
        raise PbxError(
            f"asterisk -rx {command!r} failed: {(res.stdout + res.stderr).strip()[-500:]}"
        )
    return res.stdout
