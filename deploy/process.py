"""Asterisk as a process: check the ports, render the configuration, spawn
``asterisk -f -n -C run_dir/etc/asterisk.conf`` and wait until it has booted.

:mod:`deploy.daemon` uses :func:`spawn` and :func:`wait_booted` for a detached one, which
outlives whoever started it (``pbx start``, ``serve`` through :mod:`deploy.keeper`, the
tests); :class:`AsteriskProcess` keeps one that dies with this process (the benchmarks).

SIP and RTP bind ``cfg.bind_address`` (PBX_SIP_BIND, 127.0.0.1 by default); AMI always
binds loopback.  Asterisk runs with umask 077, verbose level 0 and a minimal environment,
so its own files and logs expose no secret and the bot's secrets (Slack tokens...) never
reach it.  It never runs as root: started by root, it drops to ``PBX_RUN_USER``
(:mod:`deploy.ownership`).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import ipaddress
import logging
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from deploy import pidfile
from deploy.credentials import AmiCredentials, load_or_create_ami_credentials
from deploy.install import AsteriskInstall
from deploy.ownership import RunUser, check_access, hand_over, prepare_run_dir
from deploy.probe import LoginRefused, NotReady, wait_fully_booted
from deploy.render import render_config
from deploy.settings import PbxConfig, PbxError

log = logging.getLogger(__name__)

CONSOLE_LOG = "console.log"


def _check_ports(cfg: PbxConfig) -> None:
    """Raise :class:`PbxError` if a port Asterisk will listen on is taken: SIP over UDP
    and TCP, TLS, and AMI (TCP, on loopback)."""
    checks = [
        ("SIP", socket.SOCK_DGRAM, cfg.bind_address, cfg.sip_port, "UDP", "PBX_SIP_PORT"),
        ("SIP", socket.SOCK_STREAM, cfg.bind_address, cfg.sip_port, "TCP", "PBX_SIP_PORT"),
        ("AMI", socket.SOCK_STREAM, cfg.ami_address, cfg.ami_port, "TCP", "PBX_AMI_PORT"),
    ]
    if cfg.tls:
        checks.append(
            ("TLS", socket.SOCK_STREAM, cfg.bind_address, cfg.tls_port, "TCP", "PBX_TLS_PORT")
        )
    for label, kind, address, port, proto, setting in checks:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        s = socket.socket(family, kind)
        try:
            if kind == socket.SOCK_STREAM:  # Asterisk sets SO_REUSEADDR: TIME_WAIT is no clash
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PbxError(
                    f"{label} port {port} on {address} is already in use ({proto}); "
                    f"stop whatever holds it or choose another port ({setting})"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise PbxError(
                    f"{address} is not an address of this machine (PBX_SIP_BIND); use one "
                    "of its own addresses, or 0.0.0.0 for all of them"
                ) from None
            raise PbxError(
                f"cannot bind {label} port {port} on {address}: {exc.strerror}"
            ) from None
        finally:
            s.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        # The log dir is the run user's when the bot is root: no link, and nothing but a
        # plain file with one name (a FIFO would block the bot; a second name could be a
        # file of root's).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            return ""
        with os.fdopen(fd, "rb") as fh:
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
    # thread that started it dies, so a crashed bot leaves no PBX behind.  Started by
    # root, Asterisk changes its user (-U) and the kernel clears this setting then: a
    # crashed root bot leaves its Asterisk running (calls go on; the next start finds it).
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def child_env(run_dir: Path) -> dict[str, str]:
    """A minimal environment: the bot's own secrets (Slack tokens...) stay out of Asterisk."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(run_dir), "LANG": "C.UTF-8"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def _open_console(path: Path, user: RunUser | None) -> BinaryIO:
    # Never through a link, nor into a file with other names, nor a FIFO (opening one
    # blocks until someone reads it): when the bot is root, the log dir is the run user's.
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise PbxError(f"cannot open {path}: {exc.strerror}; remove it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise PbxError(f"{path} is not a plain file with one name; remove it")
    os.set_blocking(fd, True)
    if user is not None:
        os.fchown(fd, user.uid, user.gid)
    return os.fdopen(fd, "ab")


def spawn(
    cfg: PbxConfig,
    install: AsteriskInstall,
    creds: AmiCredentials,
    *,
    detached: bool,
    environ: Mapping[str, str] | None = None,
    started_by: str = pidfile.STARTED_BY_CLI,
) -> subprocess.Popen[bytes]:
    """Start Asterisk and record it in the run dir's PID file, without waiting for it to boot.

    Refuses (:class:`PbxError`) when one already runs from the run dir or a port is taken.
    Asterisk always gets a session of its own (no signal meant for this process's terminal
    or group reaches it); a ``detached`` one outlives this process, any other gets SIGTERM
    when the thread that started it dies.  When this process is root, Asterisk drops to
    ``PBX_RUN_USER`` (read from ``environ``, default ``os.environ``), which must reach the
    run dir and the install (:mod:`deploy.ownership`).  ``started_by`` is recorded beside
    the PID (:mod:`deploy.pidfile`).
    """
    current = pidfile.status(cfg.run_dir)
    if current["running"]:
        raise PbxError(f"Asterisk is already running for {cfg.run_dir} (pid {current['pid']})")
    user = prepare_run_dir(cfg.run_dir, environ)
    if user is not None:
        check_access(user, cfg.run_dir, install)
    _check_ports(cfg)
    conf = render_config(cfg, install, creds)
    if user is not None:
        hand_over(cfg.run_dir, user)
    drop = user.asterisk_args() if user is not None else ()
    argv = install.command(*drop, "-f", "-n", "-C", str(conf))
    console = _open_console(cfg.log_dir / CONSOLE_LOG, user)
    try:
        console.write(f"\n=== {time.strftime('%F %T')} starting {install.version}\n".encode())
        console.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=cfg.run_dir,
            env=child_env(cfg.run_dir),
            umask=0o077,
            start_new_session=True,
            preexec_fn=None if detached else _die_with_parent,
        )
    except OSError as exc:
        raise PbxError(f"cannot run {argv[0]}: {exc}") from exc
    finally:
        console.close()
    pidfile.record(cfg, proc.pid, started_by)
    log.info(
        "started asterisk pid %d (SIP udp+tcp %s:%d%s, AMI %s:%d)",
        proc.pid,
        cfg.bind_address,
        cfg.sip_port,
        f", TLS {cfg.tls_port}" if cfg.tls else "",
        cfg.ami_address,
        cfg.ami_port,
    )
    return proc


async def wait_booted(
    cfg: PbxConfig, creds: AmiCredentials, alive: Callable[[], bool], timeout: float
) -> None:
    """Wait until AMI reports ``FullyBooted``; PbxError if the process dies or time runs out."""
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
            await wait_fully_booted(
                cfg.ami_address, cfg.ami_port, creds, timeout=max(0.5, remaining)
            )
            return
        except LoginRefused as exc:
            raise PbxError(f"{exc}\n{_log_tail(cfg)}") from None
        except NotReady as exc:
            last_error = f"AMI: {exc}"
        await asyncio.sleep(0.02)


class AsteriskProcess:
    """Asterisk as a child of this process.

    ``await start()`` renders the configuration, checks the ports, spawns
    ``asterisk -f -n -C run_dir/etc/asterisk.conf`` and returns once AMI reports
    ``FullyBooted``.  The child gets SIGTERM if the thread that started it
    exits (``PR_SET_PDEATHSIG``; not once a root bot's Asterisk has dropped to its run
    user): start it from the event loop thread.  ``environ`` holds ``PBX_RUN_USER``
    (default ``os.environ``).
    """

    def __init__(
        self,
        cfg: PbxConfig,
        install: AsteriskInstall,
        creds: AmiCredentials | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.install = install
        self.environ = environ
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
        prepare_run_dir(self.cfg.run_dir, self.environ)  # before the credentials are made
        proc = spawn(self.cfg, self.install, self.credentials, detached=False, environ=self.environ)
        self._proc = proc
        try:
            await wait_booted(self.cfg, self.credentials, lambda: proc.poll() is None, timeout)
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
