"""Build the browser's SIP library (JsSIP) into a cache, like the Asterisk prefix.

The npm package ``jssip`` ships CommonJS only, so it is bundled with ``esbuild`` into one
file the join page loads (``dist/jssip.min.js``). Both versions are pinned. Nothing is
committed: ``./dev`` runs ``python -m deploy.jssip``, which installs them with ``npm`` into
a temporary directory beside the cache, bundles, writes a marker (versions and the
bundle's SHA-256) and renames the result into place, under a lock so two builds never
race. npm's registry is whatever the host's npm configuration says (``npm config``); it is
never written into a file here.

``CONFERENCE_JSSIP_DIR`` overrides the cache (default ``~/.cache/conference-bot/jssip``;
for root ``/var/cache/conference-bot/jssip``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from deploy.files import exclusive

log = logging.getLogger(__name__)

JSSIP_VERSION = "3.13.8"
ESBUILD_VERSION = "0.28.2"
ROOT_JSSIP_DIR = Path("/var/cache/conference-bot/jssip")
BUNDLE = Path("dist") / "jssip.min.js"
MARKER = "conference-bot-jssip.json"
NPM_TIMEOUT = 600.0


class JsSipError(RuntimeError):
    """The bundle could not be built; the message says what to do."""


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("CONFERENCE_JSSIP_DIR"):
        return Path(env["CONFERENCE_JSSIP_DIR"]).expanduser()
    if os.geteuid() == 0:
        return ROOT_JSSIP_DIR
    return Path.home() / ".cache" / "conference-bot" / "jssip"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wanted() -> dict[str, str]:
    return {"jssip": JSSIP_VERSION, "esbuild": ESBUILD_VERSION}


def bundle_path(cache: Path | None = None) -> Path | None:
    """The built bundle, if the cache holds one of the pinned versions whose file is
    intact (its SHA-256 matches the marker); else None."""
    root = cache or default_dir()
    try:
        marker = json.loads((root / MARKER).read_text())
        bundle = root / BUNDLE
        if marker.get("versions") == wanted() and marker.get("sha256") == _sha256(bundle):
            return bundle
    except (OSError, ValueError, AttributeError):
        pass
    return None


def _run(args: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise JsSipError(
            f"{args[0]} is not installed; install Node.js and npm (Debian: apt-get install "
            "nodejs npm), or run ./dev setup, which does."
        ) from None
    except subprocess.TimeoutExpired:
        raise JsSipError(
            f"{' '.join(args[:2])} took over {NPM_TIMEOUT:.0f} s; check the "
            "network and npm's registry (npm config get registry)."
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise JsSipError(
            f"{' '.join(args[:2])} failed (exit {done.returncode}):\n{tail}\n"
            "Check the network and npm's registry (npm config get registry)."
        )


def build(cache: Path) -> Path:
    """Install the pinned packages into a fresh directory, bundle, mark, and rename it to
    ``cache``. Returns the bundle."""
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{cache.name}.build-", dir=cache.parent))
    try:
        work.chmod(0o755)  # mkdtemp's 0700 would hide the bundle from a non-root web server
        package = {
            "name": "conference-bot-jssip",
            "private": True,
            "dependencies": {"jssip": JSSIP_VERSION, "esbuild": ESBUILD_VERSION},
        }
        (work / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        # --ignore-scripts: esbuild's binary comes from its optional platform package.
        _run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--save-exact",
                "--loglevel=error",
            ],
            work,
        )
        (work / "dist").mkdir()
        _run(
            [
                "node",
                str(work / "node_modules" / "esbuild" / "bin" / "esbuild"),
                "node_modules/jssip/lib/JsSIP.js",
                "--bundle",
                "--minify",
                "--format=iife",
                "--global-name=JsSIP",
                "--platform=browser",
                f"--outfile={BUNDLE}",
            ],
            work,
        )
        bundle = work / BUNDLE
        marker = {
            "versions": wanted(),
            "sha256": _sha256(bundle),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (work / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        old = cache.with_name(f".{cache.name}.old")
        if cache.exists():
            shutil.rmtree(old, ignore_errors=True)
            cache.rename(old)
        work.rename(cache)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("built JsSIP %s in %.1f s", JSSIP_VERSION, time.monotonic() - t0)
    return cache / BUNDLE


def ensure(cache: Path | None = None) -> Path:
    """The bundle, built first when missing, stale or damaged."""
    root = (cache or default_dir()).expanduser().absolute()
    found = bundle_path(root)
    if found is not None:
        return found
    root.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(root.parent / f".{root.name}.lock", "JsSIP"):
        found = bundle_path(root)  # another build may have finished meanwhile
        if found is not None:
            return found
        log.info("building JsSIP %s with esbuild %s into %s", JSSIP_VERSION, ESBUILD_VERSION, root)
        return build(root)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        print(ensure())
    except (JsSipError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
