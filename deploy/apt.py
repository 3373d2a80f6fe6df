"""Fetch Debian packages without installing them: the host's apt sources, a private apt
configuration, download and unpack.

Debian 12 ships no ``asterisk`` package, so :mod:`deploy.prefix` builds its prefix from
Debian unstable ("sid") packages: a private apt configuration resolves the packages with
all their dependencies, ``apt-get download`` fetches the ``.deb`` files and ``dpkg-deb -x``
unpacks them.  Nothing is installed on the host, and the host's apt state is never touched.

The archive URI is never hard-coded: it is taken at run time from the host's own apt
sources (the entry that serves the Debian main archive), or from the ``PBX_APT_URI``
environment variable.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.install import PrefixError

log = logging.getLogger(__name__)

SUITE = "sid"
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


# --------------------------------------------------------------------------
# Host apt sources -> the Debian archive URI
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


def _parse_deb822(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key: str | None = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if raw[0] in " \t" and key is not None:
            cur[key] += "\n" + raw.strip()
            continue
        if ":" in raw:
            k, v = raw.split(":", 1)
            key = k.strip().lower()
            cur[key] = v.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def read_host_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every enabled binary (``deb``) source the host's apt knows."""
    found: list[AptSource] = []
    parts = etc_apt / "sources.list.d"
    for f in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        try:
            stanzas = _parse_deb822(f.read_text())
        except OSError:
            continue
        for st in stanzas:
            if st.get("enabled", "yes").lower() == "no" or "deb" not in st.get("types", "").split():
                continue
            for uri in st.get("uris", "").split():
                found.append(
                    AptSource(
                        uri=uri,
                        suites=tuple(st.get("suites", "").split()),
                        components=tuple(st.get("components", "").split()),
                        signed_by=st.get("signed-by"),
                    )
                )
    lists = [etc_apt / "sources.list"] + (sorted(parts.glob("*.list")) if parts.is_dir() else [])
    for f in lists:
        try:
            lines = f.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
            if not m:
                continue
            opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
            found.append(
                AptSource(
                    uri=m.group(2),
                    suites=(m.group(3),),
                    components=tuple(m.group(4).split()),
                    signed_by=opts.get("signed-by"),
                )
            )
    return found


def _is_main_archive_suite(suite: str) -> bool:
    # bookworm, trixie, stable, sid ... but not bookworm-updates / -security /
    # -backports, nor the old "buster/updates" security layout.
    return bool(re.fullmatch(r"[a-z]+", suite))


def _host_is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return bool(re.search(r"^ID=\"?debian\"?$", text, re.M))


def debian_archive_source(
    environ: Mapping[str, str] | None = None, etc_apt: Path = Path("/etc/apt")
) -> AptSource:
    """The URI (and keyring) of the Debian main archive, from the host's apt config."""
    env = os.environ if environ is None else environ
    override = env.get("PBX_APT_URI", "").strip()
    if override:
        return AptSource(uri=override, suites=(SUITE,), components=("main",))
    candidates = [
        s
        for s in read_host_sources(etc_apt)
        if "main" in s.components
        and any(_is_main_archive_suite(x) for x in s.suites)
        and not s.uri.startswith("cdrom:")
    ]
    if not candidates or not _host_is_debian():
        raise PrefixError(
            "cannot derive a Debian archive URI from this host's apt sources "
            f"({etc_apt}/sources.list, {etc_apt}/sources.list.d/); "
            "set PBX_APT_URI to a Debian archive URI, "
            "or PBX_ASTERISK=system with an installed Asterisk >= 20"
        )
    return candidates[0]


# --------------------------------------------------------------------------
# A private apt: resolve, download, unpack
# --------------------------------------------------------------------------


def _apt_options(apt_dir: Path, arch: str) -> list[str]:
    opts = {
        "Dir::Etc::SourceList": str(apt_dir / "sources.list"),
        "Dir::Etc::SourceParts": str(apt_dir / "sources.list.d"),
        "Dir::Etc::Preferences": str(apt_dir / "preferences"),
        "Dir::Etc::PreferencesParts": str(apt_dir / "preferences.d"),
        "Dir::State": str(apt_dir / "state"),
        "Dir::State::Lists": str(apt_dir / "state" / "lists"),
        "Dir::State::status": str(apt_dir / "state" / "status"),
        "Dir::State::extended_states": str(apt_dir / "state" / "extended_states"),
        "Dir::Cache": str(apt_dir / "cache"),
        "Dir::Cache::Archives": str(apt_dir / "cache" / "archives"),
        "Dir::Cache::pkgcache": "",
        "Dir::Cache::srcpkgcache": "",
        "Dir::Log": str(apt_dir / "log"),
        "APT::Architecture": arch,
        "APT::Architectures": arch,
        "APT::Default-Release": "",
        "APT::Install-Recommends": "false",
        "APT::Install-Suggests": "false",
        "APT::Get::AllowUnauthenticated": "false",
        "Acquire::Check-Valid-Until": "false",
        "Acquire::Languages": "none",
    }
    if os.geteuid() == 0:
        # Our private dirs are not readable by the _apt sandbox user.
        opts["APT::Sandbox::User"] = "root"
    out: list[str] = []
    for k, v in opts.items():
        out += ["-o", f"{k}={v}"]
    return out


def _run(argv: Sequence[str], what: str, timeout: float, cwd: Path | None = None) -> str:
    log.debug("running %s", " ".join(argv))
    try:
        res = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
    except FileNotFoundError as exc:
        raise PrefixError(
            f"{what}: {argv[0]} not found (needs a Debian host with apt and dpkg)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise PrefixError(f"{what}: timed out after {timeout:.0f} s") from exc
    if res.returncode != 0:
        tail = "\n".join((res.stdout + "\n" + res.stderr).strip().splitlines()[-15:])
        raise PrefixError(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res.stdout


def host_architecture() -> str:
    """The host's Debian architecture (``amd64``, ``arm64`` ...)."""
    return _run(["dpkg", "--print-architecture"], "dpkg --print-architecture", timeout=30).strip()


def _write_apt_tree(apt_dir: Path, source: AptSource) -> None:
    for d in (
        "sources.list.d",
        "preferences.d",
        "state/lists/partial",
        "cache/archives/partial",
        "log",
    ):
        (apt_dir / d).mkdir(parents=True, exist_ok=True)
    (apt_dir / "state" / "status").write_text("")
    (apt_dir / "preferences").write_text("")
    keyring: str | None = None
    sb = source.signed_by
    if sb and "\n" in sb:
        # Inline (deb822) key block.
        key_file = apt_dir / "archive-key.asc"
        key_file.write_text("\n".join("" if ln == "." else ln for ln in sb.splitlines()) + "\n")
        keyring = str(key_file)
    elif sb and Path(sb).is_file():
        keyring = sb
    elif DEFAULT_KEYRING.is_file():
        keyring = str(DEFAULT_KEYRING)
    opts = f"[signed-by={keyring}] " if keyring else ""
    (apt_dir / "sources.list").write_text(f"deb {opts}{source.uri} {SUITE} main\n")


def _resolve(apt_opts: list[str], packages: Sequence[str]) -> dict[str, str]:
    out = _run(
        ["apt-get", *apt_opts, "-s", "-q", "install", *packages],
        "resolving the Asterisk package set (apt-get -s install)",
        timeout=300,
    )
    pkgs: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", line)
        if m:
            pkgs[m.group(1)] = m.group(2)
    if "asterisk" not in pkgs:
        raise PrefixError(f"apt did not select asterisk from {SUITE}:\n{out[-2000:]}")
    return pkgs


def fetch_packages(
    source: AptSource, arch: str, packages: Sequence[str], work: Path, root: Path
) -> dict[str, str]:
    """Resolve ``packages`` and their dependencies from ``SUITE``, download them into
    ``work`` and unpack them all into ``root``.  Returns package name -> version.

    Steps 1 to 4 of the prefix build; :mod:`deploy.prefix` verifies the result.
    """
    apt_dir, debs = work / "apt", work / "debs"
    debs.mkdir()
    _write_apt_tree(apt_dir, source)
    opts = _apt_options(apt_dir, arch)
    log.info("[1/5] apt-get update (private lists for %s)", SUITE)
    _run(
        ["apt-get", *opts, "-q", "--error-on=any", "update"],
        f"apt-get update for {SUITE}",
        timeout=900,
    )
    log.info("[2/5] resolving %s", " ".join(packages))
    pkgs = _resolve(opts, packages)
    log.info("      %d packages, asterisk %s", len(pkgs), pkgs["asterisk"])
    log.info("[3/5] downloading %d packages", len(pkgs))
    specs = [f"{n}={v}" for n, v in sorted(pkgs.items())]
    _run(["apt-get", *opts, "-q", "download", *specs], "apt-get download", timeout=1800, cwd=debs)
    files = sorted(debs.glob("*.deb"))
    size = sum(f.stat().st_size for f in files)
    if len(files) < len(pkgs):
        raise PrefixError(f"apt-get download produced {len(files)} of {len(pkgs)} packages")
    log.info("[4/5] unpacking %d .deb files (%.0f MB)", len(files), size / 1e6)
    for f in files:
        _run(["dpkg-deb", "-x", str(f), str(root)], f"dpkg-deb -x {f.name}", timeout=300)
    return pkgs
