"""Which Asterisk runs from a run dir, where it listens and who started it: ``asterisk.pid``
and ``ports.json``.

Both are written when Asterisk is spawned (:func:`record`) and read by any process that
shares the run dir: the CLI in another shell, ``serve``, the tests.  A PID file counts
only while it names a live asterisk started with this run dir's ``asterisk.conf``, so a
stale one left by a crash or a recycled PID never makes a stranger look like our PBX.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from deploy.checks import parse_port
from deploy.files import write_file
from deploy.settings import PID_FILE, PbxConfig

PORTS_FILE = "ports.json"  # where the running instance listens, who started it (no secrets)

# Who started an Asterisk (``started_by`` in ports.json): ``serve`` stops, when asked to stop,
# only a PBX that a ``serve`` started (:mod:`deploy.keeper`).
STARTED_BY_SERVE = "serve"
STARTED_BY_CLI = "pbx start"


def record(cfg: PbxConfig, pid: int, started_by: str = STARTED_BY_CLI) -> None:
    """Note that ``pid`` is the Asterisk of ``cfg.run_dir``, listening where ``cfg`` says,
    started by ``started_by``."""
    write_file(cfg.pid_file, f"{pid}\n", 0o644)
    ports = {
        "started_by": started_by,
        "bind_address": cfg.bind_address,
        "sip_port": cfg.sip_port,
        "ami_port": cfg.ami_port,
        "http_port": cfg.http_port,
        "rtp_start": cfg.rtp_start,
        "rtp_end": cfg.rtp_end,
        "tls_port": cfg.tls_port if cfg.tls else None,
        "listeners": cfg.listeners(),
    }
    write_file(cfg.run_dir / PORTS_FILE, json.dumps(ports) + "\n", 0o644)


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
            sip_port=parse_port(PORTS_FILE, ports["sip_port"]),
            ami_port=parse_port(PORTS_FILE, ports["ami_port"]),
            # A PBX started before browser join (issue 12) recorded no HTTP port.
            http_port=(
                parse_port(PORTS_FILE, ports["http_port"])
                if ports.get("http_port")
                else cfg.http_port
            ),
            rtp_start=parse_port(PORTS_FILE, ports["rtp_start"]),
            rtp_end=parse_port(PORTS_FILE, ports["rtp_end"]),
            tls_port=(
                parse_port(PORTS_FILE, ports["tls_port"]) if ports.get("tls_port") else cfg.tls_port
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return cfg


def started_by(run_dir: Path) -> str | None:
    """Who started the Asterisk running from ``run_dir`` (``STARTED_BY_*``); None when none
    runs or it did not say."""
    if not status(run_dir)["running"]:
        return None
    try:
        who = json.loads((Path(run_dir) / PORTS_FILE).read_text()).get("started_by")
    except (OSError, ValueError, AttributeError):
        return None
    return who if isinstance(who, str) else None


def running_listeners(run_dir: Path) -> list[dict[str, Any]] | None:
    """Where the Asterisk running from ``run_dir`` listens, as it recorded at start."""
    if not status(run_dir)["running"]:
        return None
    try:
        listeners = json.loads((Path(run_dir) / PORTS_FILE).read_text())["listeners"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return listeners if isinstance(listeners, list) else None
