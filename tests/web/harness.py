"""Run a browser scenario in its own network namespace and read its JSON report back.

Why a namespace: Chromium gathers no ICE candidate on a loopback interface, and on the host
it offers only the machine's real interfaces (measured in the issue 12 spike). A fresh
namespace (``unshare --net``) with ``lo`` up and a veth pair whose both ends stay inside it
gives Chromium a host candidate (10.255.255.1/32) that pairs with Asterisk's 127.0.0.1 RTP
socket, while nothing can leave the namespace: no interface in it reaches the host or any
network. A pytest-xdist worker cannot enter a namespace itself without isolating the other
tests it runs, so the scenario runs as a child process (``python -m MODULE REPORT``) and
writes its results as JSON, which the test reads.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Fake camera and microphone (a beep) that need no permission prompt; real local addresses
# in ICE candidates instead of mDNS names (there is no mDNS resolver in the namespace).
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]
VETH_ADDRESS = "10.255.255.1/32"

_NETNS_SCRIPT = f"""
set -eu
export CONFERENCE_BOT_NETNS=1
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add {VETH_ADDRESS} dev v0
ip link set v0 up
ip link set v1 up
exec "$@"
"""


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can). ``./dev test`` installs
    Chromium and Playwright, and CI runs as root, so there they run."""
    if os.geteuid() != 0:
        return "needs root: the browser runs in its own network namespace (unshare --net)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux / iproute2) for the network namespace"
    if not Path(CHROMIUM).exists():
        return "needs Debian's chromium package (./dev test installs it)"
    if importlib.util.find_spec("playwright") is None:
        return "needs playwright (a test dependency: pip install -e '.[dev]')"
    return None


def run_in_netns(module: str, report: Path, *args: str, timeout: float = 90) -> dict[str, Any]:
    """Run ``python -m module REPORT ARGS...`` in a fresh loopback-only namespace with the
    veth pair, and return the JSON it wrote to ``report`` (what it had written when it
    failed or ran out of time, with the reason under ``"harness"``)."""
    report.unlink(missing_ok=True)
    argv = ["unshare", "--net", "--", "sh", "-c", _NETNS_SCRIPT, "netns",
            sys.executable, "-m", module, str(report), *args]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=timeout)
        harness = {"returncode": proc.returncode}
    except subprocess.TimeoutExpired:
        # SIGTERM first: the scenario turns it into SystemExit and stops its Asterisk.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        harness = {"returncode": proc.returncode, "timeout": timeout}
    try:
        result: dict[str, Any] = json.loads(report.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        result = {"checks": {}, "error": f"no report: {exc}"}
    result["harness"] = {**harness, "output": output.decode(errors="replace")[-6000:]}
    return result


class Report:
    """The child's side: checks by name, written out after every change so a scenario that
    dies or times out still leaves what it found."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"checks": {}, "figures": {}, "error": None}
        self.save()

    def check(self, name: str, ok: bool, **detail: Any) -> bool:
        self.data["checks"][name] = {"ok": bool(ok), **detail}
        self.save()
        return ok

    def figure(self, name: str, value: Any) -> None:
        self.data["figures"][name] = value
        self.save()

    def fail(self, error: str) -> None:
        self.data["error"] = error
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def exit_on_sigterm() -> None:
    """SIGTERM (the harness's timeout) as SystemExit, so ``finally`` blocks stop Asterisk."""

    def stop(_sig: int, _frame: object) -> None:
        raise SystemExit(f"terminated by signal {_sig}")

    signal.signal(signal.SIGTERM, stop)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Headless Chromium from Debian's package through Playwright (never a downloaded
    browser: ``executable_path``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
