"""The ban list and its ACL (deploy.bans), the PBX_BAN_* / PBX_LOG_* settings, the phone
password rule, and Asterisk's log files kept to size (deploy.logfiles), without a PBX."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deploy.bans import BanFile, ban_key, ban_keyer, parse_address, parse_key, render_acl
from deploy.logfiles import AsteriskLogs
from deploy.policies import BanPolicy, LogPolicy
from deploy.settings import PbxConfig, PbxError


def test_what_a_ban_covers() -> None:
    v4, v6 = parse_address("203.0.113.5"), parse_address("2001:db8:1:2:3::9")
    assert v4 is not None and v6 is not None
    assert (ban_key(v4), ban_key(v6)) == ("203.0.113.5", "2001:db8:1:2::/64")
    mapped = parse_address("::ffff:203.0.113.5")
    assert mapped is not None and ban_key(mapped) == "203.0.113.5"
    assert parse_address("fe80::1%eth0\n[x]") is None and parse_address("host") is None
    assert parse_key("2001:db8:1:2::77") == parse_key("2001:db8:1:2::/64") == "2001:db8:1:2::/64"
    assert parse_key("203.0.113.5/32") == "203.0.113.5"
    assert parse_key("10.0.0.0/8") is None and parse_key("2001:db8::/48") is None
    key_of = ban_keyer(["127.0.0.2/32", "192.168.0.0/16"])
    assert key_of("127.0.0.2") is None and key_of("192.168.4.4") is None
    assert key_of("127.0.0.1") == "127.0.0.1"  # loopback is no exception (SIP only)


def test_the_acl_lists_active_bans_only(tmp_path: Path) -> None:
    store = BanFile(tmp_path)
    assert store.load() == [] and store.next_expiry() is None
    assert store.add("203.0.113.5", since=100, until=200, failures=10,
                     accounts=[f"user{n}" for n in range(9)])  # fmt: skip
    assert not store.add("203.0.113.5", since=150, until=250, failures=10, accounts=[])
    assert store.add("2001:db8::/64", since=100, until=300, failures=12, accounts=["x" * 300])
    [first, second] = store.load()
    assert first.accounts == ("user4", "user5", "user6", "user7", "user8")
    assert len(second.accounts[0]) == 64
    acl = store.acl_path.read_text()
    assert "[login-bans]\ntype = acl\ndeny = 2001:db8::/64\ndeny = 203.0.113.5/32\n" in acl
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert store.banned(150) == {"203.0.113.5", "2001:db8::/64"}
    assert store.banned(250) == {"2001:db8::/64"}
    assert "deny" not in render_acl(store.load(), 400)  # nothing active: no section at all
    assert [b.address for b in store.expire(250)] == ["203.0.113.5"]
    assert store.expire(250) == [] and "203.0.113.5" not in store.acl_path.read_text()
    assert [b.address for b in store.remove(None)] == ["2001:db8::/64"]
    assert store.load() == [] and "deny" not in store.acl_path.read_text()
    assert store.acl_path.exists()  # always there: a missing file keeps Asterisk's old ACL


def test_a_damaged_list_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    store = BanFile(tmp_path)
    store.path.write_text('{"bans": [{"address": "1.2.3.4\\n[x]", "since": 0}]}')
    with pytest.raises(PbxError, match="ban list .* is damaged"):
        store.load()
    store.path.unlink()
    store.path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"bans": []}))
    with pytest.raises(PbxError, match="cannot read the ban list"):
        store.load()


def test_ban_and_log_settings(tmp_path: Path) -> None:
    cfg = PbxConfig.from_env({}, tmp_path)
    assert cfg.bans == BanPolicy(10, 600, 3600, ()) and cfg.logs == LogPolicy(10 * 1024**2, 5)
    cfg = PbxConfig.from_env({"PBX_BAN_FAILURES": "3", "PBX_BAN_WINDOW": "60",
                              "PBX_BAN_SECONDS": "90", "PBX_BAN_EXEMPT": "10.1.2.3, 10.9.0.0/16",
                              "PBX_LOG_MAX_SIZE": "2M", "PBX_LOG_KEEP": "3"}, tmp_path)  # fmt: skip
    assert cfg.bans == BanPolicy(3, 60, 90, ("10.1.2.3/32", "10.9.0.0/16"))
    assert cfg.logs == LogPolicy(2 * 1024**2, 3)
    bad = {"PBX_BAN_FAILURES": "0", "PBX_BAN_WINDOW": "ten", "PBX_BAN_SECONDS": "-1",
           "PBX_BAN_EXEMPT": "lan", "PBX_LOG_MAX_SIZE": "1 TB", "PBX_LOG_KEEP": "0"}  # fmt: skip
    for name, value in bad.items():
        with pytest.raises(ValueError, match=name):
            PbxConfig.from_env({name: value}, tmp_path)


def test_short_phone_passwords_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="password of 'bob' is shorter than 12") as caught:
        PbxConfig.from_env({"PBX_PHONES": "alice:long-enough-1,bob:short-pw"}, tmp_path)
    assert "short-pw" not in str(caught.value)
    with pytest.raises(ValueError, match="shorter than 12"):
        PbxConfig(run_dir=tmp_path, phones=[("alice", "x" * 11)])
    assert PbxConfig(run_dir=tmp_path, phones=[("alice", "x" * 12)]).phones


def test_rotated_logs_past_the_limit_go_and_links_are_never_followed(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    logs.mkdir()
    files = AsteriskLogs(logs, LogPolicy(max_bytes=1024, keep=2))
    (logs / "messages.log").write_text("x" * 1000)
    assert not files.messages_due()
    (logs / "messages.log").write_text("x" * 1024)
    assert files.messages_due()
    for n in range(4):
        (logs / f"messages.log.{n}").write_text(str(n))
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (logs / "messages.log.9").symlink_to(victim)
    assert files.prune() == ["messages.log.2", "messages.log.3", "messages.log.9"]
    assert files.rotated() == ["messages.log.0", "messages.log.1"]
    assert victim.read_text() == "keep me"

    console = logs / "console.log"
    console.write_text("e" * 1023)
    assert not files.trim_console() and console.stat().st_size == 1023
    console.write_text("e" * 2000)
    assert files.trim_console() and console.stat().st_size == 0
    console.unlink()
    console.symlink_to(victim)
    victim.write_text("v" * 4096)
    assert not files.trim_console() and victim.stat().st_size == 4096
    console.unlink()
    os.link(victim, console)  # another name for the same file: not ours to empty
    assert not files.trim_console() and victim.stat().st_size == 4096
    (logs / "messages.log").unlink()
    (logs / "messages.log").symlink_to(victim)
    assert files.size("messages.log") is None and not files.messages_due()
