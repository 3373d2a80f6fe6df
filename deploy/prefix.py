"""Find or build an Asterisk (>= 20) installation.

The "bundled" installation is a private prefix made from Debian unstable ("sid")
packages, fetched and unpacked by :mod:`deploy.apt`; nothing is installed on the host.
This module decides which installation to use, builds the prefix under a lock into a
temporary directory, checks it and renames it into place.  The binary runs through the
prefix's own dynamic loader with ``--library-path`` pointing into the prefix, so the
host's libraries are never mixed in.

Environment:

``PBX_ASTERISK``
    ``auto`` (default): use ``asterisk`` from ``PATH`` if it is version 20 or
    newer and has every module the PBX needs, else the bundled prefix;
    ``bundled``: always the prefix; ``system``: always the host's Asterisk.
``PBX_PREFIX_DIR``
    Where the prefix lives (default ``~/.cache/conference-bot/asterisk``; for root
    ``/var/cache/conference-bot/asterisk``, which the user Asterisk runs as can read).
``PBX_APT_URI``
    Archive URI to use instead of the one derived from the host's apt sources
    (read by :mod:`deploy.apt`).

Run ``python -m deploy.prefix`` to build or verify the installation; it prints
the prefix path and the Asterisk version on standard output.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.apt import SUITE, debian_archive_source, fetch_packages, host_architecture
from deploy.files import exclusive
from deploy.install import AsteriskInstall, PrefixError, asterisk_version_of, version_major
from deploy.modules import MODULES
from deploy.ownership import (
    ROOT_PREFIX_DIR,
    changeable_by_others,
    changeable_inside,
    describe,
    make_parents,
)

log = logging.getLogger(__name__)

MIN_MAJOR = 20
PACKAGES: tuple[str, ...] = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-core-sounds-es-gsm",
    # Music on hold (callers waiting for a moderator or in the lobby): usr/share/asterisk/moh.
    "asterisk-moh-opsound-gsm",
)
LANGUAGES: tuple[str, ...] = ("en", "es")
MARKER = ".conference-bot-prefix.json"
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


def default_prefix_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    override = env.get("PBX_PREFIX_DIR", "").strip()
    if override:
        return Path(override).expanduser().resolve()
    if os.geteuid() == 0:
        return ROOT_PREFIX_DIR
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
    root = os.geteuid() == 0
    if root:
        _refuse_if_others_can_change(changeable_by_others(prefix), prefix)
        make_parents(prefix)  # 0755 whatever the umask: the run user must reach it
    else:
        prefix.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(prefix.parent / f".{prefix.name}.lock", "the Asterisk prefix"):
        if prefix.exists():
            if root:
                _refuse_if_others_can_change(changeable_inside(prefix), prefix)
                drop_set_id_bits(prefix)  # from a build made before they were dropped
            try:
                install = inspect_prefix(prefix)
                log.info("reusing Asterisk prefix %s (%s)", prefix, install.version)
                return install
            except PrefixError as exc:
                log.warning("existing prefix %s is not usable (%s); rebuilding", prefix, exc)
        _build_prefix(prefix, env)
        return inspect_prefix(prefix)


def _refuse_if_others_can_change(where: Path | None, prefix: Path) -> None:
    # Root runs the prefix's loader, libraries and binary (Asterisk drops root only once
    # started): nothing in it, nor on the way to it, may be anyone else's to change.
    if where is not None:
        raise PrefixError(
            f"{describe(where)}, and the bot is root: it would run the Asterisk prefix "
            f"{prefix} as root before Asterisk drops to its run user. Run the bot as that "
            "user (as the systemd unit does), or give it back to root (chown -R root:root "
            "and chmod go-w), or remove it to have it rebuilt (PBX_PREFIX_DIR)."
        )


def drop_set_id_bits(top: Path) -> None:
    """Clear the setuid and setgid bits ``dpkg-deb -x`` keeps (passwd, chsh...): Asterisk
    needs none, and a root-built prefix would otherwise hold setuid-root programs of
    another Debian release, out of reach of the host's security updates."""
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


def inspect_prefix(prefix: Path) -> AsteriskInstall:
    """Describe an already built prefix; raise :class:`PrefixError` if it is not sane."""
    marker = prefix / MARKER
    if not marker.is_file():
        raise PrefixError(f"{prefix} has no {MARKER} (not a finished build)")
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise PrefixError(f"unreadable {marker}: {exc}") from exc
    packages = meta.get("packages", {}) if isinstance(meta, dict) else {}
    # A prefix built before a package joined PACKAGES lacks it: rebuilt, not patched, so
    # every prefix is one consistent resolution of PACKAGES.
    absent = [p for p in PACKAGES if not isinstance(packages, dict) or p not in packages]
    if absent:
        raise PrefixError(f"prefix was built without {', '.join(absent)}")
    install = _describe_prefix(prefix, packages=packages)
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
# Building
# --------------------------------------------------------------------------


def _build_prefix(prefix: Path, env: Mapping[str, str]) -> None:
    t0 = time.monotonic()
    source = debian_archive_source(env)
    arch = host_architecture()
    work = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.build-", dir=prefix.parent))
    try:
        root = work / "root"
        root.mkdir()
        os.chmod(root, 0o755)  # becomes the prefix: readable by whoever runs Asterisk
        log.info("building Asterisk prefix in %s from Debian %s (%s)", prefix, SUITE, arch)
        pkgs = fetch_packages(source, arch, PACKAGES, work, root)
        drop_set_id_bits(root)
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
        help=(
            "prefix directory (default: $PBX_PREFIX_DIR, else ~/.cache/conference-bot/asterisk, "
            f"or {ROOT_PREFIX_DIR} for root)"
        ),
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
