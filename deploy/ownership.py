"""Who Asterisk runs as, what in its run dir it owns, and what it must be able to reach.

Asterisk never runs as root.  When the bot is root (CI, an admin's shell), Asterisk is
started with ``-U USER -G GROUP`` and drops to that user itself, early, before it loads a
module: ``PBX_RUN_USER``, default ``conference-bot``.  When the bot is not root, Asterisk
runs as the bot's own user and nothing here applies.

Dropping privileges shapes the run dir (:func:`hand_over`):

* the run dir itself, ``etc``, ``keys`` and ``data`` stay the bot's, open to the run user's
  group (0750): the bot writes there (its ``ami-credentials.json``, 0600, the PID file, the
  rendered configuration), and a directory that Asterisk could write into is one where it
  could swap what root is about to write for a link elsewhere;
* the files in ``etc`` and ``keys`` (the configuration, secrets 0640) stay root's too,
  readable by the run user's group: Asterisk reads them, and reads ``asterisk.conf`` while
  it is still root (it makes and chowns ``astrundir`` to the run user before dropping
  root), so a file it could rewrite would hand it any directory of root's;
* every other directory (``db``, ``log``, ``spool``, ``run``...) is the run user's with all
  it holds: Asterisk writes there.

Before spawning, :func:`check_access` makes sure the run user can reach the run dir (every
parent) and read the Asterisk install (modules, libraries, sounds), so a run dir under
root's home (mode 0700) is a clear error naming the directory and the fix, not an Asterisk
that fails half-way through loading.  It judges by mode bits and ownership (ACLs are not
consulted).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.install import AsteriskInstall
from deploy.modules import MODULES
from deploy.settings import PbxError

log = logging.getLogger(__name__)

RUN_USER_SETTING = "PBX_RUN_USER"
DEFAULT_RUN_USER = "conference-bot"
# Defaults for a bot started as root, whose own home (0700) the run user cannot enter.
ROOT_RUN_DIR = Path("/var/lib/conference-bot/pbx")
ROOT_PREFIX_DIR = Path("/var/cache/conference-bot/asterisk")  # read by deploy.prefix
# Run-dir directories the bot writes into and Asterisk only reads.
_SHARED = frozenset({"etc", "keys", "data"})
_R, _X = 4, 1


def useradd_command(name: str = DEFAULT_RUN_USER) -> str:
    """The command that creates the user Asterisk runs as."""
    return (
        "useradd --system --user-group --home-dir /var/lib/conference-bot "
        f"--shell /usr/sbin/nologin {name}"
    )


@dataclass(frozen=True)
class RunUser:
    """The unprivileged user (and its primary group) a root bot runs Asterisk as."""

    name: str
    uid: int
    group: str
    gid: int

    def asterisk_args(self) -> tuple[str, ...]:
        # With -G, Asterisk sets exactly this group and drops every supplementary one.
        return ("-U", self.name, "-G", self.group)


def run_user(environ: Mapping[str, str] | None = None) -> RunUser | None:
    """The user Asterisk must run as: ``PBX_RUN_USER`` (default ``conference-bot``) when
    this process is root, ``None`` when it is not (Asterisk then runs as this process's
    user).  :class:`PbxError` if that user does not exist or is root."""
    if os.geteuid() != 0:
        return None
    env = os.environ if environ is None else environ
    name = env.get(RUN_USER_SETTING, "").strip() or DEFAULT_RUN_USER
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise PbxError(
            f"Asterisk never runs as root, and the user it runs as when the bot is root, "
            f"{name!r} ({RUN_USER_SETTING}), does not exist. Create it:\n"
            f"  {useradd_command(name)}\n"
            f"or set {RUN_USER_SETTING} to an existing unprivileged user."
        ) from None
    if pw.pw_uid == 0 or pw.pw_gid == 0:
        raise PbxError(
            f"{RUN_USER_SETTING}={name!r} is root (uid {pw.pw_uid}, gid {pw.pw_gid}), and "
            f"Asterisk never runs as root. Name an unprivileged user (default "
            f"{DEFAULT_RUN_USER}: {useradd_command()})."
        )
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        raise PbxError(
            f"the primary group of {name!r} ({RUN_USER_SETTING}), gid {pw.pw_gid}, does not "
            "exist; give the user a group that does (usermod -g GROUP USER)."
        ) from None
    return RunUser(name=name, uid=pw.pw_uid, group=group, gid=pw.pw_gid)


def prepare_run_dir(run_dir: Path, environ: Mapping[str, str] | None = None) -> RunUser | None:
    """:func:`run_user`, and when there is one, ``run_dir``'s parents made for it
    (:func:`make_parents`).  Call it before anything creates the run dir.

    :class:`PbxError` if anyone but root could change the way to the run dir (a directory
    of the run user's on it, as systemd's ``StateDirectory=`` makes): root chowns and
    writes there, so the run dir swapped for a link would make root hand anything over."""
    user = run_user(environ)
    if user is not None:
        where = changeable_by_others(run_dir)
        if where is not None:
            raise PbxError(
                f"{describe(where)}, on the way to the run dir {Path(run_dir).absolute()}: "
                "its owner could swap the run dir for a link, and the bot (root) would then "
                f"hand whatever it points at to {user.name}. Run the bot as {user.name} (as "
                "the systemd unit does), or choose a run dir (PBX_RUN_DIR) that only root "
                f"can change the way to, e.g. chown root: {where}"
            )
        make_parents(run_dir)
    return user


def _others_may_write(st: os.stat_result) -> bool:
    # Whether someone other than root may write there: change a file, or add, remove or
    # rename a directory's entries.  A link's own mode means nothing: its directory decides.
    if stat.S_ISLNK(st.st_mode):
        return False
    group = bool(st.st_mode & 0o020) and st.st_gid != 0
    return st.st_uid != 0 or group or bool(st.st_mode & 0o002)


def changeable_by_others(path: Path) -> Path | None:
    """The first place on the way to ``path`` (as written and with links resolved; ``path``
    itself included) that someone other than root could change, so as to put something
    else where root is about to write or run; None when only root can.

    A sticky directory (``/tmp``) protects what root owns in it; a missing part is safe only
    in a directory only root can write (anyone else could make it first)."""
    for target in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        parent: os.stat_result | None = None
        at = ""
        for part in Path(target).parts:
            up, at = at, os.path.join(at, part)
            try:
                st = os.lstat(at)
            except FileNotFoundError:
                if parent is not None and _others_may_write(parent):
                    return Path(up)
                break
            if parent is not None and _others_may_write(parent):
                sticky = parent.st_mode & stat.S_ISVTX and parent.st_uid == 0
                if not (sticky and st.st_uid == 0):
                    return Path(up)
            parent = st
        else:
            if parent is not None and _others_may_write(parent):
                return Path(target)  # root writes into it
    return None


def changeable_inside(top: Path) -> Path | None:
    """The first file or directory under ``top`` (links not followed) that someone other
    than root could change; None when only root can."""
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [".", *dirnames, *filenames]:
            path = os.path.normpath(os.path.join(dirpath, name))
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if _others_may_write(st):
                return Path(path)
    return None


def describe(path: Path) -> str:
    """``"/x (owner u, group g, mode 0775) can be changed by others than root"``."""
    try:
        st = os.lstat(path)
    except OSError:
        return f"{path} can be changed by others than root"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return (
        f"{path} (owner {owner}, group {group}, mode {stat.S_IMODE(st.st_mode):04o}) can be "
        "changed by others than root"
    )


def make_parents(run_dir: Path) -> None:
    """Create the missing parents of ``run_dir`` with mode 0755, whatever the umask, so the
    run user can pass through them."""
    for parent in reversed(Path(run_dir).absolute().parents):
        try:
            parent.mkdir(mode=0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            raise PbxError(f"cannot create {parent}: {exc.strerror}") from None
        os.chmod(parent, 0o755)


# -- what the run user can reach -----------------------------------------------------------


def _allows(st: os.stat_result, user: RunUser, want: int) -> bool:
    if st.st_uid == user.uid:
        bits = st.st_mode >> 6
    elif st.st_gid == user.gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & want == want


def _denied(
    user: RunUser, path: Path, want: int, passed: set[str]
) -> tuple[Path, os.stat_result, int] | None:
    """The first place on the way to ``path`` (both as written and with links resolved)
    that ``user`` may not pass (search) or, for ``path`` itself, use as ``want``.
    ``passed`` holds directories already found passable, and gains those found now."""
    for target in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        chain: list[str] = []
        step = os.path.dirname(target)
        while step not in passed:
            chain.append(step)
            if step == "/":
                break
            step = os.path.dirname(step)
        for step, need in [*((d, _X) for d in reversed(chain)), (target, want)]:
            try:
                st = os.stat(step)
            except OSError:
                continue  # reported by whatever uses it; here only permissions count
            if not _allows(st, user, need):
                return Path(step), st, need
            if need == _X:
                passed.add(step)
    return None


def _refuse(
    user: RunUser, blocked: tuple[Path, os.stat_result, int], what: str, path: Path, fix: str
) -> PbxError:
    where, st, need = blocked
    perms = ("r" if need & _R else "") + ("x" if need & _X else "")
    verb = "read" if where == path and need & _R else "enter"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return PbxError(
        f"Asterisk runs as {user.name} (the bot is root; {RUN_USER_SETTING}), who cannot "
        f"{verb} {where} (owner {owner}, mode {stat.S_IMODE(st.st_mode):04o}), on the way to "
        f"{what} {path}. {fix}, or let it through: chmod o+{perms} {where}"
    )


def check_access(user: RunUser, run_dir: Path, install: AsteriskInstall) -> None:
    """:class:`PbxError` naming the directory and the fix unless ``user`` can pass through
    every parent of ``run_dir`` and read the install's modules, libraries and sounds."""
    run_dir = Path(run_dir).absolute()
    passed: set[str] = set()
    blocked = _denied(user, run_dir.parent, _X, passed)
    if blocked is not None:
        raise _refuse(
            user, blocked, "the run dir", run_dir,
            f"Choose a run dir it can reach (PBX_RUN_DIR, e.g. {ROOT_RUN_DIR})",
        )  # fmt: skip
    needs: list[tuple[Path, int]] = [(install.module_dir, _R | _X)]
    needs += [(install.module_dir / m, _R) for m in MODULES]
    if install.kind == "bundled" and install.argv[1:2] == ("--library-path",):
        for libdir in (Path(d) for d in install.argv[2].split(":")):
            needs.append((libdir, _X))
            needs += [(p, _R) for p in sorted(libdir.iterdir()) if p.is_file()]
    for sounds in install.sounds_dirs.values():
        needs.append((sounds, _R | _X))
        needs += [(p, _R) for p in sorted(sounds.glob("conf-getconfno.*"))[:1]]
    if install.data_dir is not None and (install.data_dir / "documentation").is_dir():
        needs.append((install.data_dir / "documentation", _R | _X))
    fix = f"Keep the Asterisk install where it can read it (PBX_PREFIX_DIR, e.g. {ROOT_PREFIX_DIR})"
    for path, want in needs:
        blocked = _denied(user, path, want, passed)
        if blocked is not None:
            raise _refuse(user, blocked, "the Asterisk install", path, fix)


# -- the run dir, handed over ------------------------------------------------------------------


def hand_over(run_dir: Path, user: RunUser) -> None:
    """Give ``user`` what Asterisk reads and writes in ``run_dir`` (see the module's
    docstring); the bot's own files there stay its own."""
    run_dir = Path(run_dir).absolute()
    me = os.geteuid()
    os.chown(run_dir, me, user.gid)
    os.chmod(run_dir, 0o750)
    with os.scandir(run_dir) as entries:
        subdirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    for name in subdirs:
        if name in _SHARED:
            _share(run_dir / name, me, user)
        else:
            _give(run_dir / name, user)


def _share(top: Path, me: int, user: RunUser) -> None:
    # Directories the bot writes into, and the files in them: its own, readable (never
    # writable) by the run user's group; secrets 0640, nothing for others.
    for _, _, files, fd in os.fwalk(top, follow_symlinks=False):
        os.fchown(fd, me, user.gid)
        os.fchmod(fd, 0o750)
        for name in files:
            try:
                file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            except OSError:
                continue  # a link (the sounds): not a file to share
            try:
                st = os.fstat(file_fd)
                if stat.S_ISREG(st.st_mode):
                    os.fchown(file_fd, me, user.gid)
                    os.fchmod(file_fd, (stat.S_IMODE(st.st_mode) | 0o040) & ~0o022)
            finally:
                os.close(file_fd)


def _give(top: Path, user: RunUser) -> None:
    # Directories Asterisk writes into: the run user's, with everything in them.  Only what
    # is not yet the user's is changed (what root made, e.g. before Asterisk dropped root);
    # links are never followed, and a file with a second name is left alone: it could be a
    # hard link to a file that is not ours.
    for _, dirs, files, fd in os.fwalk(top, follow_symlinks=False):
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (user.uid, user.gid):
            os.fchown(fd, user.uid, user.gid)
        for name in files + dirs:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if (st.st_uid, st.st_gid) == (user.uid, user.gid) or stat.S_ISDIR(st.st_mode):
                continue  # directories: changed through their own descriptor above
            if not stat.S_ISLNK(st.st_mode) and st.st_nlink > 1:
                log.warning("not handing %s/%s to %s: it has other names", top, name, user.name)
                continue
            os.chown(name, user.uid, user.gid, dir_fd=fd, follow_symlinks=False)
