"""Asterisk as a detached daemon, for the CLI (``conference-bot pbx start|stop``) and
``serve`` (:mod:`deploy.keeper`): start it in its own session so it outlives whoever started
it, stop it by its PID file from any later process, and run one of its CLI commands
(``asterisk -rx``).

Whether it runs, and where it listens, is :mod:`deploy.pidfile`'s business.  A root
process stops an Asterisk that runs as its run user (:mod:`deploy.ownership`) the same way:
root may signal it, and reach its control socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from deploy import pidfile
from deploy.credentials import load_or_create_ami_credentials
from deploy.install import AsteriskInstall
from deploy.ownership import prepare_run_dir
from deploy.process import child_env, spawn, wait_booted
from deploy.settings import PID_FILE, PbxConfig, PbxError

log = logging.getLogger(__name__)

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


def start_detached(
    cfg: PbxConfig,
    install: AsteriskInstall,
    timeout: float = 15.0,
    *,
    environ: Mapping[str, str] | None = None,
    started_by: str = pidfile.STARTED_BY_CLI,
) -> int:
    """Start Asterisk in its own session (survives this process), wait for
    ``FullyBooted`` and return its PID.  Output goes to ``run_dir/log``.  When this
    process is root, Asterisk runs as ``PBX_RUN_USER`` from ``environ`` (default
    ``os.environ``).  ``started_by`` is recorded beside the PID (:mod:`deploy.pidfile`)."""
    prepare_run_dir(cfg.run_dir, environ)  # before the credentials are made
    creds = load_or_create_ami_credentials(cfg.run_dir)
    proc = spawn(cfg, install, creds, detached=True, environ=environ, started_by=started_by)
    # Keep the handle: a Popen collected while its process runs warns, and a daemon
    # started by this process (tests, ``serve``) is reaped through it when stopped.
    _DETACHED[proc.pid] = proc
    try:
        _run_sync(wait_booted(cfg, creds, lambda: proc.poll() is None, timeout))
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cfg.pid_file.unlink(missing_ok=True)
        raise
    return proc.pid


_DETACHED: dict[int, subprocess.Popen[bytes]] = {}


def _starttime(pid: int) -> int | None:
    """Kernel start time of ``pid``; None once it is gone or a zombie whose threads are
    all gone too.

    Asterisk is multi-threaded: its main thread can be a zombie while other threads are
    still exiting, and until the last one has, its sockets stay open (a restart on the same
    ports then fails with "already in use").
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None
    if fields[0] in ("Z", "X") and threads <= 1:
        return None
    return int(fields[19])


def stop_detached(run_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the daemon named by ``run_dir``'s PID file (SIGTERM, then SIGKILL)
    and wait until the process is gone.  Returns whether it was running.

    The PID file goes first, so that a watcher (``serve``'s, :mod:`deploy.keeper`) never
    takes this stop for a crash: a PID file left behind by an Asterisk that is gone means
    that it died."""
    run_dir = Path(run_dir).absolute()
    st = pidfile.status(run_dir)
    pid = st["pid"]
    start = _starttime(pid) if st["running"] and pid is not None else None
    (run_dir / PID_FILE).unlink(missing_ok=True)
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
    return start is not None


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """Wait until ``pid`` has exited with all its threads (its ports are free again),
    collecting it if it is this process's child.  Returns whether it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if _starttime(pid) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


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


def run_cli(install: AsteriskInstall, run_dir: Path, command: str, timeout: float = 10.0) -> str:
    """Run one CLI command on the running instance (``asterisk -rx``) and return its output."""
    conf = Path(run_dir).absolute() / "etc" / "asterisk.conf"
    try:
        res = subprocess.run(
            install.command("-C", str(conf), "-rx", command),
            env=child_env(Path(run_dir).absolute()),
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
