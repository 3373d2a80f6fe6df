"""The banned sources of bad logins: their list in the run dir (``bans.json``, with expiry
times) and the PJSIP ACL rendered from it (``etc/pjsip_bans.conf``).

Why an ACL in Asterisk rather than a firewall: it needs no root (the bot never does) and no
particular firewall on the host, and it is part of the PBX's own configuration, so a ban
holds whoever starts Asterisk (``serve``, ``pbx start``, a restart) and while the bot is
down.  ``res_pjsip_acl`` answers every request from a denied source with 403 before
anything else runs: no authentication, no dialplan; other sources are not affected.  What it
cannot do is keep the packets out: a banned source still costs Asterisk a parse and a
reply (a firewall would drop them), and calls it set up before the ban keep their media.

``sorcery.conf`` maps PJSIP's ``acl`` objects to ``pjsip_bans.conf`` alone, so a reload of
``res_pjsip`` after a change re-reads that file and nothing else (``pjsip.conf`` unchanged:
endpoints, transports and calls are left as they are).  The file must always exist: a
missing one keeps whatever Asterisk had before, and one Asterisk cannot parse blocks all
SIP traffic, so only addresses parsed here are ever written.

A ban is on one IPv4 address, or on an IPv6 /64 (one subscriber's network: a host has a
whole /64 to pick addresses from).  Expired bans stay listed until the bot removes them
(and audits it); they are left out of the ACL whenever it is rendered.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploy.files import write_file
from deploy.settings import PbxError

BAN_FILE = "bans.json"
ACL_FILE = "pjsip_bans.conf"  # in etc/, named by templates/sorcery.conf
_LOCK_FILE = ".bans.lock"
IPV6_PREFIX = 64
MAX_ACCOUNTS = 5  # account names kept per ban (what was tried: a scanner or a phone)
MAX_ACCOUNT_CHARS = 64

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address | None:
    """An IP address (an IPv4-mapped IPv6 one as IPv4), or None. No scope IDs: Python
    takes any text after ``%``."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ban_key(ip: Address) -> str:
    """What a ban covers for a source address: the address itself (IPv4) or its /64
    (IPv6), in canonical form: ``203.0.113.5``, ``2001:db8:1:2::/64``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))


def parse_key(text: str) -> str | None:
    """The ban key an admin means by ``text`` (an address, or an IPv6 /64), or None."""
    text = text.strip()
    if "/" in text:
        if "%" in text:
            return None
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        if isinstance(net, ipaddress.IPv4Network):
            return str(net.network_address) if net.prefixlen == 32 else None
        return ban_key(net.network_address) if net.prefixlen == IPV6_PREFIX else None
    ip = parse_address(text)
    return None if ip is None else ban_key(ip)


def key_network(key: str) -> Network:
    return ipaddress.ip_network(key, strict=False)


def ban_keyer(exempt: Iterable[str]) -> Callable[[str], str | None]:
    """Source address -> ban key (:func:`ban_key`), None for an address that is never
    banned: one inside the ``exempt`` networks, or not an address at all."""
    nets = [ipaddress.ip_network(n, strict=False) for n in exempt]

    def key_of(address: str) -> str | None:
        ip = parse_address(address)
        if ip is None or any(ip.version == n.version and ip in n for n in nets):
            return None
        return ban_key(ip)

    return key_of


@dataclass(frozen=True)
class Ban:
    """One banned source: ``address`` is its key (:func:`ban_key`); times are epoch
    seconds; ``accounts`` are the last account names it tried (text it chose: escape it)."""

    address: str
    since: float
    until: float
    failures: int
    accounts: tuple[str, ...] = field(default=())

    def active(self, now: float) -> bool:
        return self.until > now

    @classmethod
    def from_json(cls, raw: Any) -> Ban:
        if not isinstance(raw, dict):
            raise ValueError("an entry is not an object")
        key = parse_key(str(raw["address"]))
        if key is None or key != raw["address"]:
            raise ValueError(f"{raw['address']!r} is not a ban key")
        accounts = raw.get("accounts", [])
        if not isinstance(accounts, list):
            raise ValueError("accounts is not a list")
        return cls(key, float(raw["since"]), float(raw["until"]), int(raw["failures"]),
                   tuple(str(a)[:MAX_ACCOUNT_CHARS] for a in accounts[-MAX_ACCOUNTS:]))  # fmt: skip


def render_acl(bans: Sequence[Ban], now: float) -> str:
    """``pjsip_bans.conf`` for the bans active at ``now`` (no section at all when none)."""
    head = (
        "; Generated by conference-bot (deploy/bans.py) from bans.json. Do not edit:\n"
        "; conference-bot bans list|clear. Every request from these sources gets 403.\n"
    )
    active = sorted({b.address for b in bans if b.active(now)})
    if not active:
        return head
    rules = "".join(f"deny = {key_network(key).with_prefixlen}\n" for key in active)
    return f"{head}\n[login-bans]\ntype = acl\n{rules}"


class BanFile:
    """``run_dir/bans.json``, shared by ``serve`` and the CLI: every change is made under an
    exclusive lock and rewrites the ACL (``etc/pjsip_bans.conf``) with it; making Asterisk
    load the ACL (an AMI reload of ``res_pjsip.so``) is the caller's part.

    A damaged list is an error naming the file (:class:`PbxError`), never read as empty:
    that would lift every ban.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / BAN_FILE
        self.acl_path = self.run_dir / "etc" / ACL_FILE
        self._cache: tuple[tuple[int, int, int], list[Ban]] | None = None

    # -- reading --------------------------------------------------------------------------

    def _stat(self) -> os.stat_result | None:
        try:
            return os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def load(self) -> list[Ban]:
        """Every ban listed, expired ones included; re-read only when the file changed."""
        st = self._stat()
        if st is None:
            return []
        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        cache = self._cache  # one read: another thread may reset it meanwhile
        if cache is not None and cache[0] == sig:
            return list(cache[1])
        bans = self._read()
        self._cache = (sig, bans)
        return list(bans)

    def _read(self) -> list[Ban]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise PbxError(f"cannot read the ban list {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise PbxError(f"the ban list {self.path} is not a regular file; remove it")
            data = fh.read(4 * 1024 * 1024)
        try:
            raw = json.loads(data)
            return [Ban.from_json(entry) for entry in raw["bans"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise PbxError(
                f"the ban list {self.path} is damaged ({exc}); fix it or remove it (that "
                "lifts every ban), then run: conference-bot bans list"
            ) from None

    def active(self, now: float | None = None) -> list[Ban]:
        at = time.time() if now is None else now
        return [b for b in self.load() if b.active(at)]

    def banned(self, now: float) -> frozenset[str]:
        """The keys banned at ``now``."""
        return frozenset(b.address for b in self.load() if b.active(now))

    def next_expiry(self) -> float | None:
        return min((b.until for b in self.load()), default=None)

    # -- changing -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.run_dir / _LOCK_FILE,
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)  # fmt: skip
        except OSError as exc:
            raise PbxError(f"cannot lock the ban list in {self.run_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _save(self, bans: list[Ban], now: float) -> None:
        data = {"version": 1, "bans": [asdict(b) for b in bans]}
        write_file(self.path, json.dumps(data, indent=1) + "\n", 0o600)
        self._cache = None
        self.write_acl(now, bans)

    def write_acl(self, now: float | None = None, bans: list[Ban] | None = None) -> None:
        """(Re)write ``etc/pjsip_bans.conf`` from the list (readable by Asterisk)."""
        at = time.time() if now is None else now
        listed = self.load() if bans is None else bans
        self.acl_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(self.acl_path, render_acl(listed, at), 0o644)

    def add(
        self, key: str, *, since: float, until: float, failures: int, accounts: Sequence[str]
    ) -> bool:
        """Ban ``key`` until ``until``; False (and nothing changed) if it is banned already."""
        with self._locked():
            bans = self.load()
            if any(b.address == key and b.active(since) for b in bans):
                return False
            kept = tuple(a[:MAX_ACCOUNT_CHARS] for a in list(accounts)[-MAX_ACCOUNTS:])
            bans = [b for b in bans if b.address != key]
            bans.append(Ban(key, since, until, failures, kept))
            self._save(bans, since)
            return True

    def remove(self, keys: Sequence[str] | None, now: float | None = None) -> list[Ban]:
        """Lift the bans on ``keys`` (every ban when None); the bans removed."""
        at = time.time() if now is None else now
        if not any(keys is None or b.address in keys for b in self.load()):
            return []
        with self._locked():
            bans = self.load()
            gone = [b for b in bans if keys is None or b.address in keys]
            if gone:
                self._save([b for b in bans if b not in gone], at)
            return gone

    def expire(self, now: float) -> list[Ban]:
        """Remove the bans that have run out at ``now``; those removed."""
        if all(b.active(now) for b in self.load()):
            return []
        with self._locked():
            bans = self.load()
            gone = [b for b in bans if not b.active(now)]
            if gone:
                self._save([b for b in bans if b.active(now)], now)
            return gone
