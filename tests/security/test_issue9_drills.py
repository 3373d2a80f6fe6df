"""Attack drills against issue 9 (a PBX reachable from the network, registration trunks,
Asterisk dropping root): a hostile network peer, a careless admin's settings, and a
compromised Asterisk (its run user) against the root bot. Each test is one finding.

Everything stays on loopback; tests that need two users (the bot as root, Asterisk as
``PBX_RUN_USER``) are skipped unless the suite runs as root, as CI does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from deploy.daemon import run_cli, start_detached, stop_detached
from deploy.install import AsteriskInstall, PrefixError
from deploy.modules import MODULES
from deploy.ownership import DEFAULT_RUN_USER, RunUser
from deploy.ownership import hand_over as real_hand_over
from deploy.pjsip import REGISTRATION, endpoints
from deploy.prefix import MARKER, PACKAGES, ensure_bundled
from deploy.process import _log_tail, _open_console, _tail
from deploy.settings import PbxConfig, PbxError
from tests.pbx_fixtures import free_both, make_pbx, reachable_dir
from tests.softphone import Certificates, make_certificates

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the bot as root, Asterisk not")
NUMBER = "+15551234567"


def _run_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(os.environ.get("PBX_RUN_USER") or DEFAULT_RUN_USER)
    except KeyError:
        pytest.skip("no run user on this machine (./dev creates it)")


def _as_run_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """``argv`` run as the run user, the way a compromised Asterisk would act."""
    user = _run_user()
    return subprocess.run(argv, user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip


def _owner(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


# -- a hostile network peer ------------------------------------------------------------------


def _section(text: str, name: str, kind: str) -> dict[str, str]:
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0] == f"[{name}]" and f"type = {kind}" in lines:
            return dict(line.split(" = ", 1) for line in lines[1:] if " = " in line)
    raise AssertionError(f"no [{name}] {kind} in:\n{text}")


def test_the_registration_endpoint_is_never_found_by_the_from_user(tmp_path: Path) -> None:
    cfg = PbxConfig(run_dir=tmp_path, trunk_registrar="sip:127.0.0.9:5999",
                    trunk_user="acct", trunk_password="pw-123")  # fmt: skip
    provider = _section(endpoints(cfg), REGISTRATION, "endpoint")
    # PJSIP's default identify_by is "username,ip"; this endpoint has no inbound auth.
    assert "username" not in provider.get("identify_by", "username,ip")
    assert "auth" not in provider


async def test_a_stranger_sending_from_provider_is_refused_before_answer(
    install: AsteriskInstall, tmp_path: Path
) -> None:
    """Finding: with a registration trunk, INVITE ... From: <sip:provider@anywhere> was
    matched by user name to the trunk's endpoint, which has no inbound auth: any stranger
    reached the IVR (200 OK), where "everyone else is refused before answer"."""
    pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    # A registrar that never answers (loopback): the trunk exists, unregistered.
    pbx.cfg = dataclasses.replace(pbx.cfg, trunk_registrar="sip:127.0.0.9:5999",
                                  trunk_user="acct", trunk_password="pw-123")  # fmt: skip
    pbx.start()
    try:
        run_cli(install, pbx.cfg.run_dir, f"database put conference/server number {NUMBER}")
        for caller in ("provider", "mallory"):
            result = await pbx.sipp.call(NUMBER, caller=caller, password=None, refused="",
                                         tag=f"as-{caller}")  # fmt: skip
            assert result.ok, f"From: {caller} was let in:\n{result.log[-1500:]}"
    finally:
        pbx.stop()


class _Impostor:
    """A TLS server on a loopback address that keeps the first thing a client sends."""

    def __init__(self, host: str, certs: Certificates) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs.cert, certs.key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, free_both()))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.got = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(3)
                    self.received.append(tls.recv(4096).decode(errors="replace"))
                    self.got.set()
            except (OSError, ssl.SSLError):
                continue  # the client gave up on our certificate

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_registrar_over_tls_must_prove_who_it_is(
    install: AsteriskInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    """Finding: with `PBX_TRUNK_REGISTRAR=sips:...` Asterisk took any certificate (its
    transports default to verify_server = no): whoever sits on the way (or answers for the
    provider's name) got our REGISTER, our Contact's line= tag that lets calls in, and a
    digest answer to relay to the real provider. Only a certificate from a CA this machine
    trusts (SSL_CERT_FILE here), for the registrar's own name, is accepted now."""
    made = reachable_dir("certs-")
    ours = make_certificates(made / "ours")
    impostor_certs = make_certificates(made / "impostor", ip="127.0.0.5")
    impostor_certs.ca.chmod(0o644)
    if trusted:  # the provider's CA is one this machine trusts
        monkeypatch.setenv("SSL_CERT_FILE", str(impostor_certs.ca))
    impostor = _Impostor("127.0.0.5", impostor_certs)
    pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    tls_port = free_both()
    pbx.cfg = dataclasses.replace(
        pbx.cfg, tls_cert=ours.cert, tls_key=ours.key, tls_port=tls_port,
        trunk_registrar=f"sips:127.0.0.5:{impostor.port}", trunk_user="acct",
        trunk_password="pw-123",
    )  # fmt: skip
    try:
        pbx.start()
        try:
            await asyncio.to_thread(impostor.got.wait, 6)  # the first REGISTER: ~1 s
        finally:
            pbx.stop()
    finally:
        impostor.close()
    registered = any(m.startswith("REGISTER ") for m in impostor.received)
    assert registered is trusted, impostor.received


# -- a careless admin's settings ---------------------------------------------------------------

_SMUGGLED = "\n[anonymous]\ntype = endpoint\ncontext = conference-ivr"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PBX_TRUNK_IPS", f"fe80::1%eth0{_SMUGGLED}"),
        ("PBX_LOCAL_NETS", f"fe80::%eth0{_SMUGGLED}"),
        ("PBX_EXTERNAL_ADDRESS", f"fe80::1%eth0{_SMUGGLED}"),
        ("PBX_SIP_BIND", f"fe80::1%eth0{_SMUGGLED}"),
    ],
)
def test_an_ipv6_scope_id_cannot_smuggle_sections_into_pjsip_conf(
    tmp_path: Path, name: str, value: str
) -> None:
    """Finding: Python's ipaddress takes any text after '%' (an IPv6 scope ID), newlines
    and '[section]' lines included, and that text went into pjsip.conf as it was (here an
    'anonymous' endpoint: unauthenticated calls straight into the IVR)."""
    with pytest.raises(ValueError, match=name):
        PbxConfig.from_env({name: value}, tmp_path)
    with pytest.raises(ValueError):
        PbxConfig(run_dir=tmp_path, trunk_ips=[value.split("%")[0] + "%x\n[anonymous]"])


def test_a_password_written_into_the_registrar_uri_is_never_echoed(tmp_path: Path) -> None:
    """Finding: providers often hand out `sip:user:password@host`; pasted into
    PBX_TRUNK_REGISTRAR it was refused with the whole URI, password included, in the error
    that `serve` logs and the CLI prints ("never echoing a password", says deploy.settings)."""
    env = {"PBX_TRUNK_REGISTRAR": "sip:15551234567:s3cret-pw@sip.example.net",
           "PBX_TRUNK_USER": "15551234567", "PBX_TRUNK_PASSWORD": "s3cret-pw"}  # fmt: skip
    with pytest.raises(ValueError, match="PBX_TRUNK_REGISTRAR") as refused:
        PbxConfig.from_env(env, tmp_path)
    assert "s3cret" not in str(refused.value) and "sip.example.net" in str(refused.value)


# -- a compromised Asterisk against the root bot: FIFOs and second names in its log dir ----


def _blocks(func, *args) -> bool:  # noqa: ANN001 - any callable
    """Whether ``func(*args)`` is still blocked after 3 s (then it is unblocked)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(3.0)
    return thread.is_alive()


def _unblock(fifo: Path, reading: bool) -> None:
    # Open the other end so that a blocked open() returns.
    fd = os.open(fifo, (os.O_WRONLY if reading else os.O_RDONLY) | os.O_NONBLOCK)
    os.close(fd)


def test_a_fifo_planted_as_console_log_does_not_hang_the_start(tmp_path: Path) -> None:
    """Finding: opening log/console.log (the run user's dir when the bot is root) for
    writing blocked for ever on a FIFO: a PBX start that never returns."""
    fifo = tmp_path / "console.log"
    os.mkfifo(fifo)
    blocked = _blocks(_open_console, fifo, None)
    if blocked:
        _unblock(fifo, reading=False)
    assert not blocked, "the start hung on a FIFO planted as console.log"
    with pytest.raises(PbxError, match="console.log"):
        _open_console(fifo, None)


def test_a_fifo_planted_as_messages_log_does_not_hang_the_error_report(tmp_path: Path) -> None:
    """Finding: the log tail a failed start reports opened log/messages.log for reading,
    which blocks for ever on a FIFO."""
    cfg = PbxConfig(run_dir=tmp_path)
    cfg.log_dir.mkdir(parents=True)
    os.mkfifo(cfg.log_dir / "messages.log")
    blocked = _blocks(_log_tail, cfg)
    if blocked:
        _unblock(cfg.log_dir / "messages.log", reading=True)
    assert not blocked, "reporting a failed start hung on a FIFO planted as messages.log"


def test_the_log_tail_never_reads_a_file_with_a_second_name(tmp_path: Path) -> None:
    """Where hard links to other users' files are allowed (fs.protected_hardlinks=0), a
    second name in the log dir would put a file of root's into the bot's error message."""
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash:19000:0:99999:7:::\n")
    (tmp_path / "log").mkdir()
    os.link(secret, tmp_path / "log" / "messages.log")
    assert "hash" not in _tail(tmp_path / "log" / "messages.log")


# -- a compromised Asterisk against the root bot: the configuration it reads as root -------


@as_root
def test_the_run_user_cannot_rewrite_what_asterisk_reads_while_still_root(
    install: AsteriskInstall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: the files in etc/ were handed to the run user, but Asterisk started by root
    reads asterisk.conf before it drops root, and chowns its astrundir to the run user.
    A process of the run user left behind (a compromised Asterisk) rewrote asterisk.conf
    between hand-over and start: any directory of root's (/etc/cron.d, /root/.ssh) became
    the run user's."""
    import deploy.process as process

    pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    run, user = pbx.cfg.run_dir, _run_user()
    victim = reachable_dir("victim-")  # root's, like /etc/cron.d
    evil = reachable_dir("evil-") / "asterisk.conf"
    attempts: list[subprocess.CompletedProcess[str]] = []

    def hand_over_then_rewrite(run_dir: Path, run_user: RunUser) -> None:
        real_hand_over(run_dir, run_user)
        conf = pbx.cfg.asterisk_conf
        evil.write_text(
            conf.read_text().replace(f"astrundir => {run}/run", f"astrundir => {victim}")
        )
        evil.chmod(0o644)
        attempts.append(
            _as_run_user("/bin/sh", "-c", 'cat "$1" > "$2"', "sh", str(evil), str(conf))
        )

    monkeypatch.setattr(process, "hand_over", hand_over_then_rewrite)
    pbx.start()
    try:
        assert attempts and attempts[0].returncode != 0, "the run user rewrote asterisk.conf"
        assert _owner(victim)[:2] == (0, 0), "root-started Asterisk gave a root dir away"
        assert "System uptime" in run_cli(install, run, "core show uptime")
        for sub in ("etc", "keys"):
            for path in (run / sub).iterdir():
                if path.is_file() and not path.is_symlink():
                    uid, gid, mode = _owner(path)
                    assert (uid, gid) == (0, user.pw_gid) and not mode & 0o022, path
        assert _owner(run / "etc" / "pjsip.conf") == (0, user.pw_gid, 0o640)
    finally:
        pbx.stop()


# -- a compromised Asterisk against the root bot: the way to the run dir and the prefix -----


@as_root
def test_a_run_dir_whose_parent_the_run_user_owns_is_refused(
    install: AsteriskInstall, tmp_path: Path
) -> None:
    """Finding: root's default run dir is /var/lib/conference-bot/pbx, and the systemd
    unit's StateDirectory= makes /var/lib/conference-bot the run user's. Started by root
    (an admin's `conference-bot pbx start`), the bot followed a run dir swapped for a link
    and handed everything under the link's target to the run user."""
    user = _run_user()
    state = reachable_dir("state-")
    os.chown(state, user.pw_uid, user.pw_gid)  # as StateDirectory= leaves it
    state.chmod(0o750)
    victim = reachable_dir("victim-")  # root's, like /etc
    (victim / "precious").mkdir(mode=0o700)
    link = _as_run_user("/bin/ln", "-s", str(victim), str(state / "pbx"))
    assert link.returncode == 0, link.stderr
    base = make_pbx(install, tmp_path / "run", tmp_path / "sipp").cfg
    cfg = dataclasses.replace(base, run_dir=state / "pbx")
    try:
        with pytest.raises(PbxError, match=f"{state} .*can be changed by others than root"):
            start_detached(cfg, install, timeout=10, environ={"PBX_RUN_USER": user.pw_name})
    finally:
        stop_detached(cfg.run_dir)
    assert _owner(victim / "precious") == (0, 0, 0o700)
    assert not (victim / "etc").exists() and not (victim / "ami-credentials.json").exists()


def _fake_prefix(prefix: Path, ran_as: Path) -> None:
    """The smallest prefix ``inspect_prefix`` accepts; its "loader" notes who ran it."""
    libdir = prefix / "usr" / "lib" / "x86_64-linux-gnu"
    (libdir / "asterisk" / "modules").mkdir(parents=True)
    for module in MODULES:
        (libdir / "asterisk" / "modules" / module).write_bytes(b"")
    loader = libdir / "ld-linux-x86-64.so.2"
    loader.write_text(f'#!/bin/sh\nid -u >> {ran_as}\necho "Asterisk 22.0.0 built by test"\n')
    loader.chmod(0o755)
    (prefix / "usr" / "sbin").mkdir(parents=True)
    (prefix / "usr" / "sbin" / "asterisk").write_bytes(b"")
    sounds = prefix / "usr" / "share" / "asterisk" / "sounds" / "en"
    sounds.mkdir(parents=True)
    (sounds / "conf-getconfno.gsm").write_bytes(b"")
    (prefix / MARKER).write_text(json.dumps({"packages": dict.fromkeys(PACKAGES, "test")}))


@as_root
def test_root_never_runs_a_prefix_the_run_user_can_change() -> None:
    """Finding: with CacheDirectory= the prefix is the run user's, and root's default
    prefix dir is the same one. Root ran its loader and libraries (`-V`, then Asterisk
    until it drops root): a compromised Asterisk could plant code that root runs."""
    user = _run_user()
    base = reachable_dir("cache-")
    ran_as = reachable_dir("witness-") / "ran-as"
    prefix = base / "asterisk"
    _fake_prefix(prefix, ran_as)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(prefix)], check=True)
    with pytest.raises(PrefixError, match="can be changed by others than root"):
        ensure_bundled(prefix, environ={})
    assert not ran_as.exists(), f"root ran the run user's loader (uid {ran_as.read_text()!r})"


@as_root
def test_root_follows_no_link_planted_in_a_prefix_parent_the_run_user_owns() -> None:
    """The build lock beside the prefix was opened (created) by root through a link the
    owner of that directory planted: an empty /etc/nologin locks every user out."""
    user = _run_user()
    cache = reachable_dir("cache-")
    os.chown(cache, user.pw_uid, user.pw_gid)
    target = reachable_dir("etc-") / "nologin"
    link = _as_run_user("/bin/ln", "-s", str(target), str(cache / ".asterisk.lock"))
    assert link.returncode == 0, link.stderr
    with pytest.raises(PrefixError, match=f"{cache} .*can be changed by others than root"):
        ensure_bundled(cache / "asterisk", environ={})
    assert not target.exists()


@as_root
def test_a_root_built_prefix_holds_no_setuid_programs(install: AsteriskInstall) -> None:
    """Finding: `dpkg-deb -x` as root keeps setuid bits, so the bundled prefix (0755, in
    /var/cache) held setuid-root passwd, chsh, chfn, gpasswd (and setgid-shadow chage,
    unix_chkpwd) of Debian sid: programs every local user can run as root, which the host's
    security updates never touch. Asterisk needs none of them."""
    if install.prefix is None:
        pytest.skip("a system Asterisk: no prefix of ours")
    prefix = install.prefix
    ensure_bundled(prefix, environ={})  # as every start does
    set_id = [
        str(path.relative_to(prefix))
        for path in prefix.rglob("*")
        if not path.is_symlink() and path.is_file()
        and path.stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    ]  # fmt: skip
    assert set_id == []


@as_root
def test_the_setid_bits_of_a_fake_prefix_are_dropped_too() -> None:
    ran_as = reachable_dir("witness-") / "ran-as"
    prefix = reachable_dir("cache-") / "asterisk"
    _fake_prefix(prefix, ran_as)
    (prefix / "usr" / "bin").mkdir()
    suid = prefix / "usr" / "bin" / "passwd"
    suid.write_bytes(b"")
    suid.chmod(0o4755)
    ensure_bundled(prefix, environ={})
    assert _owner(suid)[2] == 0o755
