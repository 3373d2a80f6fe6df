"""The PBX that ``serve`` keeps running: adopt the Asterisk of the run dir or start one in a
session of its own, restart it within about a second when it dies, and at a clean stop stop
it only if a ``serve`` started it.

Asterisk is never a child that dies with ``serve``: it runs detached (:mod:`deploy.daemon`),
so a ``serve`` that is killed or crashes leaves every call up, and the next ``serve`` adopts
the PBX.  Who started it is recorded beside its PID (:mod:`deploy.pidfile`): a PBX that a
``serve`` started (this one, or an earlier one that was killed) is ``serve``'s to stop; one
that ``conference-bot pbx start`` started is left running.

The watch polls the PID file and the process every :data:`POLL_SECONDS`:

* the PBX runs: ``on_alive`` runs, so that a connection waiting to retry can retry at once;
* it is gone and its PID file is still there: it died (a crash, ``kill -9``, ``core stop``).
  Once its last thread has exited (its ports are free), it is started again, with the same
  ports and the same ``started_by``, and ``on_alive`` runs as soon as it has booted;
* it is gone and so is its PID file: ``conference-bot pbx stop`` stopped it on purpose
  (:func:`deploy.daemon.stop_detached` removes the file first).  It stays stopped until
  someone starts one, which is then adopted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from functools import partial

from deploy import pidfile
from deploy.daemon import start_detached, stop_detached, wait_gone
from deploy.install import AsteriskInstall
from deploy.prefix import ensure_prefix
from deploy.settings import PbxConfig, PbxError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how often the watch looks: a dead PBX is found within this
RETRY_MAX = 10.0  # seconds between attempts when a restart keeps failing


def _bundled() -> AsteriskInstall:
    return ensure_prefix(None)


class PbxKeeper:
    """Keeps the Asterisk of ``cfg.run_dir`` running for ``serve``.

    ``await ensure()`` adopts the running PBX or starts one; ``await watch(stop)`` restarts
    it whenever it dies, until ``stop`` is set; ``await close()`` stops it if a ``serve``
    started it.  ``environ`` holds ``PBX_RUN_USER`` (:mod:`deploy.ownership`);
    ``find_install`` finds (or builds) the Asterisk to run, once, when one must be started.
    """

    def __init__(
        self,
        cfg: PbxConfig,
        *,
        environ: Mapping[str, str] | None = None,
        find_install: Callable[[], AsteriskInstall] = _bundled,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.cfg = cfg
        self.poll = poll
        self._environ = environ
        self._find_install = find_install
        self._install: AsteriskInstall | None = None
        self.pid: int | None = None
        self.started_by: str | None = None
        self.boot_seconds: float | None = None  # of the last start
        self.restarts = 0
        self._held = False  # a PBX should run: restart it when it dies
        self._dead_since: float | None = None  # when the watch found it dead
        self._failures = 0
        self._retry_at = 0.0

    @property
    def install(self) -> AsteriskInstall | None:
        """The Asterisk this keeper started, if it started one."""
        return self._install

    async def ensure(self) -> bool:
        """Adopt the PBX running from the run dir, or start one; True if this started it.

        :class:`PbxError` if it cannot start."""
        st = pidfile.status(self.cfg.run_dir)
        if st["running"]:
            self._adopt(int(st["pid"]))
            return False
        await self._start(pidfile.STARTED_BY_SERVE)
        return True

    async def watch(self, stop: asyncio.Event, on_alive: Callable[[], None] = lambda: None) -> None:
        """Until ``stop`` is set: restart the PBX when it dies, adopt one started meanwhile,
        and call ``on_alive`` whenever one runs (the AMI client retries at once then)."""
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll)
            if not stop.is_set():
                await self.check(on_alive)

    async def check(self, on_alive: Callable[[], None] = lambda: None) -> None:
        """One look at the PBX (see the module's docstring)."""
        st = pidfile.status(self.cfg.run_dir)
        if st["running"]:
            if st["pid"] != self.pid:
                self._adopt(int(st["pid"]))
            on_alive()
            return
        if not self._held:
            return  # stopped on purpose; waiting for someone to start one
        if self._dead_since is None:
            if not st["stale"]:
                log.warning(
                    "The PBX (pid %s) was stopped (conference-bot pbx stop); it stays stopped "
                    "until conference-bot pbx start, and serve then uses it",
                    self.pid,
                )
                self._held = False
                self.pid = None
                return
            self._dead_since = time.monotonic()
            log.error("Asterisk (pid %s) died; starting it again", self.pid)
        if time.monotonic() < self._retry_at:
            return
        await self._restart(on_alive)

    async def close(self) -> None:
        """At a clean stop: stop the PBX if a ``serve`` started it, else leave it running."""
        run_dir = self.cfg.run_dir
        st = pidfile.status(run_dir)
        if not st["running"]:
            return
        who = pidfile.started_by(run_dir)
        if who == pidfile.STARTED_BY_SERVE:
            log.info("Stopping the PBX that serve started (pid %s)", st["pid"])
            await asyncio.to_thread(stop_detached, run_dir)
        else:
            log.info(
                "Leaving the PBX running (pid %s, started by %s): conference-bot pbx stop",
                st["pid"],
                who or "another program",
            )

    # -- inside ---------------------------------------------------------------------------

    def _adopt(self, pid: int) -> None:
        self.pid = pid
        self.started_by = pidfile.started_by(self.cfg.run_dir)
        self._held = True
        self._dead_since = None
        log.info(
            "Using the PBX already running from %s (pid %d, started by %s)",
            self.cfg.run_dir,
            pid,
            self.started_by or "another program",
        )

    async def _start(self, started_by: str) -> None:
        if self._install is None:
            self._install = await asyncio.to_thread(self._find_install)
        t0 = time.monotonic()
        pid = await asyncio.to_thread(
            partial(start_detached, self.cfg, self._install, environ=self._environ,
                    started_by=started_by)
        )  # fmt: skip
        self.boot_seconds = time.monotonic() - t0
        self.pid = pid
        self.started_by = started_by
        self._held = True

    async def _restart(self, on_alive: Callable[[], None]) -> None:
        dead = self.pid
        if dead is not None and not await asyncio.to_thread(wait_gone, dead, 5.0):
            log.warning("Asterisk pid %d is still exiting; waiting for it", dead)
            return
        try:
            await self._start(self.started_by or pidfile.STARTED_BY_SERVE)
        except (PbxError, OSError) as exc:
            self._failures += 1
            delay = min(RETRY_MAX, 2.0 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            log.error("Asterisk did not start again: %s\nTrying again in %.0f s", exc, delay)
            return
        since = self._dead_since
        self._dead_since = None
        self._failures = 0
        self.restarts += 1
        log.warning(
            "Asterisk restarted (pid %s), %.2f s after it was found dead (boot %.2f s)",
            self.pid,
            time.monotonic() - since if since is not None else 0.0,
            self.boot_seconds or 0.0,
        )
        on_alive()
