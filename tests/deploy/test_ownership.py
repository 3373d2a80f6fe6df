"""Asterisk never runs as root (deploy.ownership): started by root, it runs as PBX_RUN_USER,
which must exist, must not be root, and must reach its run dir and the install."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.daemon import run_cli, start_detached
from deploy.install import AsteriskInstall
from deploy.ownership import ROOT_PREFIX_DIR, RunUser, check_access, run_user, useradd_command
from deploy.prefix import default_prefix_dir
from deploy.settings import PbxConfig, PbxError
from tests.pbx_fixtures import assert_not_root, make_pbx, reachable_dir

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root starts Asterisk as another user")
USERADD = (
    "useradd --system --user-group --home-dir /var/lib/conference-bot "
    "--shell /usr/sbin/nologin conference-bot"
)
# A user that owns nothing here: judged by the "others" bits, as the run user would be.
STRANGER = RunUser(name="stranger", uid=54321, group="stranger", gid=54321)


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)


def test_the_advice_is_the_documented_command() -> None:
    assert useradd_command() == USERADD


def test_a_missing_run_user_is_refused_with_what_to_do(root: None) -> None:
    with pytest.raises(PbxError) as refused:
        run_user({"PBX_RUN_USER": "no-such-user-here"})
    message = str(refused.value)
    assert "'no-such-user-here' (PBX_RUN_USER), does not exist" in message
    assert USERADD.replace("conference-bot", "no-such-user-here").split(" --home")[0] in message
    assert "set PBX_RUN_USER to an existing unprivileged user" in message


def test_root_is_never_the_run_user(root: None) -> None:
    with pytest.raises(PbxError, match="is root .*Asterisk never runs as root"):
        run_user({"PBX_RUN_USER": "root"})


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_an_existing_user_and_its_group_are_passed_to_asterisk(root: None) -> None:
    if not _exists("nobody"):
        pytest.skip("no user 'nobody' on this machine")
    user = run_user({"PBX_RUN_USER": "nobody"})
    assert user is not None and user.uid == pwd.getpwnam("nobody").pw_uid != 0
    assert user.asterisk_args() == ("-U", "nobody", "-G", user.group)


def test_without_root_asterisk_runs_as_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert run_user({"PBX_RUN_USER": "no-such-user-here"}) is None


def test_root_builds_the_prefix_where_the_run_user_can_read_it(root: None) -> None:
    assert default_prefix_dir({}) == ROOT_PREFIX_DIR == Path("/var/cache/conference-bot/asterisk")
    assert default_prefix_dir({"PBX_PREFIX_DIR": "/opt/ast"}) == Path("/opt/ast")


def test_a_run_dir_out_of_reach_names_the_directory_and_the_fix(
    install: AsteriskInstall,
) -> None:
    closed = reachable_dir() / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(PbxError) as refused:
        check_access(STRANGER, closed / "data" / "pbx", install)
    message = str(refused.value)
    assert f"cannot enter {closed} (owner " in message and "mode 0700" in message
    assert "PBX_RUN_DIR" in message and f"chmod o+x {closed}" in message


def test_an_install_out_of_reach_names_the_directory_and_the_fix() -> None:
    closed = reachable_dir() / "closed"
    (closed / "modules").mkdir(parents=True)
    closed.chmod(0o700)
    install = AsteriskInstall(kind="system", argv=("/bin/true",), module_dir=closed / "modules",
                              sounds_dirs={}, version="Asterisk 22.0.0")  # fmt: skip
    with pytest.raises(PbxError) as refused:
        check_access(STRANGER, reachable_dir() / "pbx", install)
    message = str(refused.value)
    assert f"cannot enter {closed}" in message and "the Asterisk install" in message
    assert "PBX_PREFIX_DIR" in message and f"chmod o+x {closed}" in message


@as_root
def test_a_run_dir_under_a_private_directory_is_refused_before_spawning(
    install: AsteriskInstall, tmp_path: Path
) -> None:
    cfg = PbxConfig(run_dir=tmp_path / "pbx", sip_port=15987, ami_port=15986)
    with pytest.raises(PbxError, match=r"cannot enter /tmp/pytest-of-root .*PBX_RUN_DIR"):
        start_detached(cfg, install)
    assert not (tmp_path / "pbx" / "etc").exists()  # nothing rendered, nothing started


@as_root
def test_asterisk_runs_as_the_run_user_and_owns_only_what_it_needs(
    install: AsteriskInstall, tmp_path: Path
) -> None:
    pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    run = pbx.cfg.run_dir
    user = pwd.getpwnam(os.environ.get("PBX_RUN_USER") or "conference-bot")
    # What an Asterisk that ran as root before left behind, and what a hostile one could
    # plant: a link to a file of root's, and a second name of one.
    (run / "log").mkdir(parents=True, mode=0o700)
    (run / "log" / "messages.log").write_text("from the days of root\n")
    victim = reachable_dir() / "victim"
    victim.write_text("root's\n")
    (run / "log" / "planted-link").symlink_to(victim)
    os.link(victim, run / "log" / "planted-hardlink")

    pid = pbx.start()
    try:
        assert_not_root(pid)
        assert "System uptime" in run_cli(install, run, "core show uptime")

        def owner(path: Path) -> tuple[int, int, int]:
            st = path.lstat()
            return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

        # The run dir and what the bot writes into: root's, open to the run user's group.
        assert owner(run) == (0, user.pw_gid, 0o750)
        assert owner(run / "etc") == (0, user.pw_gid, 0o750)
        assert owner(run / "ami-credentials.json") == (0, 0, 0o600)
        assert json.loads((run / "ami-credentials.json").read_text())["username"]
        # What Asterisk reads: root's, secrets readable by its group alone (it reads
        # asterisk.conf while still root: it must not be able to rewrite it); what it
        # writes: its own.
        assert owner(run / "etc" / "manager.conf") == (0, user.pw_gid, 0o640)
        assert owner(run / "etc" / "pjsip.conf") == (0, user.pw_gid, 0o640)
        for sub in ("db", "log", "spool", "run"):
            assert owner(run / sub)[:2] == (user.pw_uid, user.pw_gid), sub
        assert owner(run / "log" / "messages.log")[:2] == (user.pw_uid, user.pw_gid)
        assert owner(run / "log" / "console.log")[:2] == (user.pw_uid, user.pw_gid)
        # Nothing outside the run dir changed hands, whatever was planted in it.
        assert owner(victim)[:2] == (0, 0)
    finally:
        pbx.stop()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not pbx.cfg.pid_file.exists()


@as_root
@pytest.mark.parametrize(
    ("name", "said"),
    [("no-such-user-here", "useradd --system"), ("root", "Asterisk never runs as root")],
)
def test_pbx_start_as_root_explains_a_bad_run_user(tmp_path: Path, name: str, said: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_"))}
    env |= {"PBX_RUN_USER": name, "PBX_RUN_DIR": str(reachable_dir() / "pbx")}
    done = subprocess.run([sys.executable, "-m", "bot", "pbx", "start"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert said in done.stderr and "PBX_RUN_USER" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (Path(env["PBX_RUN_DIR"]) / "etc").exists()
