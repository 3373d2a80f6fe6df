"""Find or build an Asterisk (>= 20) installation.

Debian 12 ships no ``asterisk`` package, so the "bundled" installation is a
private prefix made from Debian unstable ("sid") packages: a private apt
configuration resolves ``asterisk`` and the English and Spanish core sound sets
with all their dependencies, ``apt-get download`` fetches the ``.deb`` files and
``dpkg -x`` unpacks them.  Nothing is installed on the host.  The binary runs
through the prefix's own dynamic loader with ``--library-path`` pointing into
the prefix, so the host's libraries are never mixed in.

The archive URI is never hard-coded: it is taken at run time from the host's
own apt sources (the entry that serves the Debian main archive), or from the
``PBX_APT_URI`` environment variable.

Environment:

``PBX_ASTERISK``
    ``auto`` (default): use ``asterisk`` from ``PATH`` if it is version 20 or
    newer and has every module the PBX needs, else the bundled prefix;
    ``bundled``: always the prefix; ``system``: always the host's Asterisk.
``PBX_PREFIX_DIR``
    Where the prefix lives (default ``~/.cache/conference-bot/asterisk``).
``PBX_APT_URI``
    Archive URI to use instead of the one derived from the host's apt sources.

Run ``python -m deploy.prefix`` to build or verify the installation; it prints
the prefix path and the Asterisk version on standard output.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from deploy.modules import MODULES

log = logging.getLogger(__name__)

MIN_MAJOR = 20
SUITE = "sid"
PACKAGES: tuple[str, ...] = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-core-sounds-es-gsm",
)
LANGUAGES: tuple[str, ...] = ("en", "es")
MARKER = ".conference-bot-prefix.json"
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Prompt every language set must contain to be usable.
_PROBE_SOUND = "conf-getconfno"

# Parts of the prefix nothing here reads; dropped to save about 40 MB.
_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
)


class PrefixError(RuntimeError):
    """The Asterisk installation could not be found or built."""


@dataclass(frozen=True)
class AsteriskInstall:
    """How to run one Asterisk installation.

    ``argv`` is the command prefix that runs the ``asterisk`` binary: for the
    bundled prefix ``(loader, "--library-path", libdirs, PREFIX/usr/sbin/asterisk)``;
    for a system install just ``("/usr/sbin/asterisk",)``.
    """

    kind: Literal["bundled", "system"]
    argv: tuple[str, ...]
    module_dir: Path
    sounds_dirs: Mapping[str, Path]
    version: str
    prefix: Path | None = None
    # Asterisk's shared data directory (``documentation/`` etc.), if known.
    data_dir: Path | None = None
    packages: Mapping[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        """The full argv to run asterisk with ``args``."""
        return [*self.argv, *args]

    @property
    def major(self) -> int:
        return version_major(self.version)


def version_major(version: str) -> int:
    """Major number of an ``asterisk -V`` string (0 if unknown)."""
    m = re.search(r"Asterisk\s+(\d+)\.", version)
    return int(m.group(1)) if m else 0


def asterisk_version_of(argv: Sequence[str], timeout: float = 20.0) -> str:
    """Run ``argv -V`` and return its one-line answer, e.g. ``Asterisk 22.5.2...``."""
    try:
        res = subprocess.run(
            [*argv, "-V"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrefixError(f"cannot run {argv[-1]} -V: {exc}") from exc
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0 or not out.startswith("Asterisk"):
        raise PrefixError(f"{argv[-1]} -V failed (exit {res.returncode}): {out[-500:]}")
    return out.splitlines()[0].strip()


def default_prefix_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    override = env.get("PBX_PREFIX_DIR", "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "conference-bot" / "asterisk"


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def ensure_prefix(
    cache_dir: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> AsteriskInstall:
    """Return a usable Asterisk installation, building the private prefix if needed.

    Honours ``PBX_ASTERISK`` (``auto``/``bundled``/``system``).  The bundled
    prefix is reused when present and sane (marker file, modules present,
    binary answers ``-V`` with version >= 20); otherwise it is rebuilt into a
    temporary directory beside it and renamed into place, so a half-built
    prefix is never used.
    """
    env = os.environ if environ is None else environ
    mode = env.get("PBX_ASTERISK", "auto").strip().lower() or "auto"
    if mode not in ("auto", "bundled", "system"):
        raise PrefixError(f"PBX_ASTERISK must be auto, bundled or system, not {mode!r}")
    if mode in ("auto", "system"):
        try:
            return find_system_asterisk(env)
        except PrefixError as exc:
            if mode == "system":
                raise
            log.debug("system asterisk not usable: %s", exc)
    prefix = cache_dir.expanduser().resolve() if cache_dir is not None else default_prefix_dir(env)
    return ensure_bundled(prefix, environ=env)


def find_system_asterisk(environ: Mapping[str, str] | None = None) -> AsteriskInstall:
    """The host's own ``asterisk`` if it is >= 20 and has every needed module."""
    env = os.environ if environ is None else environ
    search = os.pathsep.join([env.get("PATH", os.defpath), "/usr/sbin", "/usr/local/sbin"])
    binary = shutil.which("asterisk", path=search)
    if binary is None:
        raise PrefixError("no asterisk binary on PATH")
    version = asterisk_version_of([binary])
    if version_major(version) < MIN_MAJOR:
        raise PrefixError(f"system {version} is older than Asterisk {MIN_MAJOR}")
    libdirs = [Path("/usr/lib") / t for t in _multiarch_triplets()] + [
        Path("/usr/lib"),
        Path("/usr/lib64"),
        Path("/usr/local/lib"),
        Path("/usr/local/lib64"),
    ]
    module_dir = next(
        (
            d / "asterisk" / "modules"
            for d in libdirs
            if (d / "asterisk" / "modules" / "chan_pjsip.so").is_file()
        ),
        None,
    )
    if module_dir is None:
        raise PrefixError("cannot find the system asterisk's module directory")
    missing = [m for m in MODULES if not (module_dir / m).is_file()]
    if missing:
        raise PrefixError(f"system asterisk lacks modules: {', '.join(missing)}")
    sounds: dict[str, Path] = {}
    data_dir: Path | None = None
    for base in (
        Path("/usr/share/asterisk"),
        Path("/var/lib/asterisk"),
        Path("/usr/local/share/asterisk"),
    ):
        for lang in LANGUAGES:
            d = base / "sounds" / lang
            if lang not in sounds and _has_sound(d):
                sounds[lang] = d.resolve()
        if data_dir is None and (base / "documentation").is_dir():
            data_dir = base
    if "en" not in sounds:
        raise PrefixError("system asterisk has no English sound set (sounds/en)")
    return AsteriskInstall(
        kind="system",
        argv=(binary,),
        module_dir=module_dir,
        sounds_dirs=sounds,
        version=version,
        data_dir=data_dir,
    )


def ensure_bundled(prefix: Path, *, environ: Mapping[str, str] | None = None) -> AsteriskInstall:
    """Return the bundled prefix at ``prefix``, building it first if missing or broken."""
    env = os.environ if environ is None else environ
    prefix = prefix.expanduser().absolute()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with _locked(prefix.parent / f".{prefix.name}.lock"):
        if prefix.exists():
            try:
                install = inspect_prefix(prefix)
                log.info("reusing Asterisk prefix %s (%s)", prefix, install.version)
                return install
            except PrefixError as exc:
                log.warning("existing prefix %s is not usable (%s); rebuilding", prefix, exc)
        _build_prefix(prefix, env)
        return inspect_prefix(prefix)


def inspect_prefix(prefix: Path) -> AsteriskInstall:
    """Describe an already built prefix; raise :class:`PrefixError` if it is not sane."""
    marker = prefix / MARKER
    if not marker.is_file():
        raise PrefixError(f"{prefix} has no {MARKER} (not a finished build)")
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise PrefixError(f"unreadable {marker}: {exc}") from exc
    install = _describe_prefix(prefix, packages=meta.get("packages", {}))
    missing = [m for m in MODULES if not (install.module_dir / m).is_file()]
    if missing:
        raise PrefixError(f"prefix lacks modules: {', '.join(missing)}")
    if install.major < MIN_MAJOR:
        raise PrefixError(f"prefix has {install.version}, need >= {MIN_MAJOR}")
    return install


# --------------------------------------------------------------------------
# Prefix layout
# --------------------------------------------------------------------------


def _multiarch_triplets() -> list[str]:
    machine = os.uname().machine
    table = {
        "x86_64": "x86_64-linux-gnu",
        "aarch64": "aarch64-linux-gnu",
        "armv7l": "arm-linux-gnueabihf",
        "i686": "i386-linux-gnu",
        "ppc64le": "powerpc64le-linux-gnu",
        "s390x": "s390x-linux-gnu",
        "riscv64": "riscv64-linux-gnu",
    }
    return [table[machine]] if machine in table else []


def _find_loader(prefix: Path) -> Path:
    # Only real files: the /lib64 entry is an absolute symlink to the *host's* path.
    candidates = sorted(prefix.glob("usr/lib/*/ld-linux*.so.*")) + sorted(
        prefix.glob("lib*/ld-linux*.so.*")
    )
    for c in candidates:
        if c.is_file() and not c.is_symlink():
            return c
    raise PrefixError(f"no dynamic loader (ld-linux*.so) in {prefix}")


def _has_sound(d: Path) -> bool:
    return any(d.glob(f"{_PROBE_SOUND}.*"))


def _describe_prefix(prefix: Path, packages: Mapping[str, str] | None = None) -> AsteriskInstall:
    loader = _find_loader(prefix)
    libdir = loader.parent
    triplet = libdir.name
    libdirs = [str(libdir)]
    for extra in (prefix / "lib" / triplet,):
        if extra.is_dir() and not extra.is_symlink():
            libdirs.append(str(extra))
    binary = prefix / "usr" / "sbin" / "asterisk"
    if not binary.is_file():
        raise PrefixError(f"{binary} missing")
    argv = (str(loader), "--library-path", ":".join(libdirs), str(binary))
    module_dir = libdir / "asterisk" / "modules"
    if not module_dir.is_dir():
        raise PrefixError(f"{module_dir} missing")
    share = prefix / "usr" / "share" / "asterisk"
    sounds: dict[str, Path] = {}
    for lang in LANGUAGES:
        for d in sorted((share / "sounds").glob(f"{lang}_*")) + [share / "sounds" / lang]:
            if d.is_dir() and not d.is_symlink() and _has_sound(d):
                sounds[lang] = d
                break
    if "en" not in sounds:
        raise PrefixError(f"no English sound set under {share / 'sounds'}")
    version = asterisk_version_of(argv)
    return AsteriskInstall(
        kind="bundled",
        argv=argv,
        module_dir=module_dir,
        sounds_dirs=sounds,
        version=version,
        prefix=prefix,
        data_dir=share if share.is_dir() else None,
        packages=dict(packages or {}),
    )


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
# Building
# --------------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another build of the Asterisk prefix (lock %s)", path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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


def _resolve(apt_opts: list[str]) -> dict[str, str]:
    out = _run(
        ["apt-get", *apt_opts, "-s", "-q", "install", *PACKAGES],
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


def _build_prefix(prefix: Path, env: Mapping[str, str]) -> None:
    t0 = time.monotonic()
    source = debian_archive_source(env)
    arch = _run(["dpkg", "--print-architecture"], "dpkg --print-architecture", timeout=30).strip()
    work = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.build-", dir=prefix.parent))
    try:
        apt_dir, debs, root = work / "apt", work / "debs", work / "root"
        debs.mkdir()
        root.mkdir()
        _write_apt_tree(apt_dir, source)
        opts = _apt_options(apt_dir, arch)
        log.info("building Asterisk prefix in %s from Debian %s (%s)", prefix, SUITE, arch)
        log.info("[1/5] apt-get update (private lists for %s)", SUITE)
        _run(
            ["apt-get", *opts, "-q", "--error-on=any", "update"],
            f"apt-get update for {SUITE}",
            timeout=900,
        )
        log.info("[2/5] resolving %s", " ".join(PACKAGES))
        pkgs = _resolve(opts)
        log.info("      %d packages, asterisk %s", len(pkgs), pkgs["asterisk"])
        log.info("[3/5] downloading %d packages", len(pkgs))
        specs = [f"{n}={v}" for n, v in sorted(pkgs.items())]
        _run(
            ["apt-get", *opts, "-q", "download", *specs], "apt-get download", timeout=1800, cwd=debs
        )
        files = sorted(debs.glob("*.deb"))
        size = sum(f.stat().st_size for f in files)
        if len(files) < len(pkgs):
            raise PrefixError(f"apt-get download produced {len(files)} of {len(pkgs)} packages")
        log.info("[4/5] unpacking %d .deb files (%.0f MB)", len(files), size / 1e6)
        for f in files:
            _run(["dpkg-deb", "-x", str(f), str(root)], f"dpkg-deb -x {f.name}", timeout=300)
        for rel in _PRUNE:
            shutil.rmtree(root / rel, ignore_errors=True)
        log.info("[5/5] verifying")
        install = _describe_prefix(root)
        if install.major < MIN_MAJOR:
            raise PrefixError(f"{SUITE} provided {install.version}, need >= {MIN_MAJOR}")
        _check_module_libraries(install)
        (root / MARKER).write_text(
            json.dumps(
                {
                    "version": install.version,
                    "suite": SUITE,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "packages": pkgs,
                },
                indent=1,
                sort_keys=True,
            )
        )
        # The prefix embeds its own absolute path (loader argv): build it under
        # the final name's parent and rename; paths are recomputed after rename.
        trash: Path | None = None
        if prefix.exists() or prefix.is_symlink():
            trash = prefix.parent / f".{prefix.name}.old-{os.getpid()}-{int(time.time())}"
            os.rename(prefix, trash)
        os.rename(root, prefix)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        log.info(
            "Asterisk prefix ready: %s (%s) in %.1f s",
            prefix,
            install.version,
            time.monotonic() - t0,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_module_libraries(install: AsteriskInstall) -> None:
    """Every needed module must resolve all its shared libraries inside the prefix."""
    loader, _, libpath = install.argv[0], install.argv[1], install.argv[2]
    problems: list[str] = []
    for mod in MODULES:
        path = install.module_dir / mod
        if not path.is_file():
            problems.append(f"{mod}: missing")
            continue
        res = subprocess.run(
            [loader, "--library-path", libpath, "--list", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        bad = [ln.strip() for ln in res.stdout.splitlines() if "not found" in ln]
        if bad:
            problems.append(f"{mod}: {'; '.join(bad)}")
    if problems:
        raise PrefixError("modules with unresolved libraries:\n  " + "\n  ".join(problems))


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m deploy.prefix",
        description="Build (or verify) the Asterisk installation the conference PBX uses.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="prefix directory (default: $PBX_PREFIX_DIR or ~/.cache/conference-bot/asterisk)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="deploy.prefix: %(message)s",
        stream=sys.stderr,
    )
    t0 = time.monotonic()
    try:
        install = ensure_prefix(args.dir)
    except PrefixError as exc:
        print(f"deploy.prefix: ERROR: {exc}", file=sys.stderr)
        return 1
    log.info("%s install ready in %.1f s", install.kind, time.monotonic() - t0)
    where = install.prefix if install.prefix is not None else Path(install.argv[0])
    print(where)
    print(install.version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
