"""The PBX's settings (:class:`PbxConfig`), read from the ``PBX_*`` variables: where SIP
listens and how it is seen through NAT, TLS and SRTP, ports, phones, both kinds of
carrier trunk; and the layout of its run dir.

Invalid values raise :class:`ValueError` naming the variable and never echoing a password.
The Asterisk build has settings of its own (``PBX_ASTERISK``, ``PBX_PREFIX_DIR``,
``PBX_APT_URI``), read where the build happens: :mod:`deploy.prefix`, :mod:`deploy.apt`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.checks import (
    TRUNK_USER_RE,
    Registrar,
    check_host,
    check_networks,
    check_password,
    check_pem,
    check_phones,
    check_rtp,
    ip,
    net,
    parse_port,
)
from deploy.errors import DeployError
from deploy.lockout_settings import LockoutSettings, parse_duration
from deploy.policies import BanPolicy, LogPolicy

PID_FILE = "asterisk.pid"
# AMI is the bot's private control channel: it listens here whatever PBX_SIP_BIND says.
AMI_ADDRESS = "127.0.0.1"
HTTP_ADDRESS = "127.0.0.1"  # Asterisk's HTTP server (http.conf): loopback only, always
SRTP_MODES = ("optional", "required")
# How long a caller waits in a room's lobby for an owner's decision (PBX_LOBBY_TIMEOUT).
LOBBY_TIMEOUT = 120
MAX_LOBBY_TIMEOUT = 3600


class PbxError(DeployError):
    """The PBX could not be configured, started or stopped."""


@dataclass(kw_only=True)
class PbxConfig:
    """Everything needed to render the PBX configuration.

    ``phones`` holds ``(username, password)`` pairs; passwords are left out of ``repr``.
    ``bind_address`` is where SIP (UDP, TCP, TLS) and RTP listen; AMI always listens on
    :data:`AMI_ADDRESS`.  Invalid values raise :class:`ValueError`.
    """

    run_dir: Path
    bind_address: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    # Asterisk's HTTP server (browser join's SIP over WebSocket, /ws): always on
    # HTTP_ADDRESS; only the bot's web server, which proxies it, is ever public.
    http_port: int = 8088
    rtp_start: int = 10000
    rtp_end: int = 10999
    phones: list[tuple[str, str]] = field(default_factory=list, repr=False)
    trunk_ips: list[str] = field(default_factory=list)
    # NAT: how peers outside local_nets reach this server.
    external_address: str | None = None
    local_nets: list[str] = field(default_factory=list)
    # TLS (both files, or neither) and SRTP on TLS calls.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int = 5061
    srtp: str = "optional"
    # A registration trunk: registrar URI, user, password, contact user.
    trunk_registrar: str | None = None
    trunk_user: str | None = None
    trunk_password: str | None = field(default=None, repr=False)
    trunk_contact_user: str | None = None
    # Lockouts of PIN and conference ID guessing, enforced by the dialplan.
    lockouts: LockoutSettings = field(default_factory=LockoutSettings)
    # Bans on bad logins and Asterisk's log rotation (deploy.policies).
    bans: BanPolicy = field(default_factory=BanPolicy)
    logs: LogPolicy = field(default_factory=LogPolicy)
    # Seconds a caller waits in a room's lobby before a goodbye (the LOBBY_TIMEOUT global).
    lobby_timeout: int = LOBBY_TIMEOUT

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).expanduser().absolute()
        try:
            ip(self.bind_address)
        except ValueError:
            raise ValueError(
                f"bind address must be an IP address, got {self.bind_address!r}"
            ) from None
        self.sip_port = parse_port("SIP port", self.sip_port)
        self.ami_port = parse_port("AMI port", self.ami_port)
        self.http_port = parse_port("HTTP port", self.http_port)
        self.tls_port = parse_port("TLS port", self.tls_port)
        self.rtp_start = parse_port("RTP start port", self.rtp_start)
        self.rtp_end = parse_port("RTP end port", self.rtp_end)
        check_rtp(self.rtp_start, self.rtp_end, self.sip_port, "RTP ports")
        check_phones(self.phones, "phones")
        check_networks(self.trunk_ips, "trunk_ips")
        if any(
            ipaddress.ip_address(HTTP_ADDRESS) in ipaddress.ip_network(n, strict=False)
            for n in self.trunk_ips
        ):
            # Browsers' SIP reaches Asterisk from there (the bot's /ws relay): identified
            # by address as the trunk, it would skip the per-link logins and the bans.
            raise ValueError(
                f"trunk_ips must not include {HTTP_ADDRESS}: browser join's SIP comes from it"
            )
        check_networks(self.local_nets, "local_nets")
        if self.external_address is not None:
            check_host(self.external_address, "external address")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its key (or neither)")
        if self.tls_cert is not None and self.tls_key is not None:
            self.tls_cert = Path(self.tls_cert).expanduser().absolute()
            self.tls_key = Path(self.tls_key).expanduser().absolute()
            if self.tls_port == self.sip_port:
                raise ValueError(f"TLS port {self.tls_port} is also the SIP port")
            if self.rtp_start <= self.tls_port <= self.rtp_end:
                raise ValueError(
                    f"TLS port {self.tls_port} is inside the RTP range "
                    f"{self.rtp_start}-{self.rtp_end}"
                )
        self._check_http_port()
        if self.srtp not in SRTP_MODES:
            raise ValueError(f"SRTP mode must be optional or required, got {self.srtp!r}")
        if not 1 <= self.lobby_timeout <= MAX_LOBBY_TIMEOUT:
            raise ValueError(f"lobby timeout must be 1 s to 1 h, got {self.lobby_timeout!r} s")
        if self.srtp == "required" and not self.tls:
            raise ValueError(
                "SRTP required needs TLS (a certificate and key): SRTP keys travel in the "
                "SIP messages, which only TLS protects"
            )
        reg = (self.trunk_registrar, self.trunk_user, self.trunk_password)
        if any(v is not None for v in reg) and not all(v is not None for v in reg):
            raise ValueError("a registration trunk needs a registrar, a user and a password")
        if self.trunk_registrar is not None:
            if Registrar.parse(self.trunk_registrar, "trunk registrar").transport == "tls" and (
                not self.tls
            ):
                raise ValueError(
                    "a registrar reached over TLS (sips: or ;transport=tls) needs this "
                    "server's own TLS certificate and key (PBX_TLS_CERT, PBX_TLS_KEY)"
                )
            for what, value in (("user", self.trunk_user), ("contact user", self.contact_user)):
                if value is None or not TRUNK_USER_RE.match(value):
                    raise ValueError(
                        f"trunk {what} must be 1-64 letters, digits, '+', '.', '_' or '-', "
                        "starting with a letter, digit or '+'"
                    )
            check_password(self.trunk_password or "", "trunk password")

    def _check_http_port(self) -> None:
        """Asterisk's HTTP port shares 127.0.0.1 with AMI and (on loopback) SIP: no clash."""
        taken = {self.ami_port: "the AMI port", self.sip_port: "the SIP port"}
        if self.tls:
            taken.setdefault(self.tls_port, "the TLS port")
        if self.http_port in taken:
            raise ValueError(
                f"HTTP port (PBX_HTTP_PORT) {self.http_port} is also {taken[self.http_port]}"
            )
        if self.rtp_start <= self.http_port <= self.rtp_end:
            raise ValueError(
                f"HTTP port (PBX_HTTP_PORT) {self.http_port} is inside the RTP range "
                f"{self.rtp_start}-{self.rtp_end}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], run_dir: Path) -> PbxConfig:
        """Read the ``PBX_*`` settings (see the README's table); unset or empty means the
        default.  Raises :class:`ValueError` with a message naming the variable (never
        echoing a password)."""

        def get(name: str) -> str | None:
            v = environ.get(name)
            return v.strip() if v is not None and v.strip() else None

        kwargs: dict[str, Any] = {"run_dir": Path(run_dir)}
        if (v := get("PBX_SIP_BIND")) is not None:
            try:
                ip(v)
            except ValueError:
                raise ValueError(
                    "PBX_SIP_BIND must be an IP address of this machine, 0.0.0.0 or :: "
                    f"(all addresses), got {v!r}"
                ) from None
            kwargs["bind_address"] = v
        sip_port = 5060
        if (v := get("PBX_SIP_PORT")) is not None:
            kwargs["sip_port"] = sip_port = parse_port("PBX_SIP_PORT", v)
        if (v := get("PBX_AMI_PORT")) is not None:
            kwargs["ami_port"] = parse_port("PBX_AMI_PORT", v)
        if (v := get("PBX_HTTP_PORT")) is not None:
            kwargs["http_port"] = parse_port("PBX_HTTP_PORT", v)
        rtp = (10000, 10999)
        if (v := get("PBX_RTP_PORTS")) is not None:
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", v)
            if not m:
                raise ValueError(f"PBX_RTP_PORTS must look like 10000-10999, got {v!r}")
            start = parse_port("PBX_RTP_PORTS start", m.group(1))
            end = parse_port("PBX_RTP_PORTS end", m.group(2))
            check_rtp(start, end, sip_port, "PBX_RTP_PORTS")
            kwargs["rtp_start"], kwargs["rtp_end"] = rtp = start, end
        else:
            check_rtp(10000, 10999, sip_port, "PBX_SIP_PORT (default RTP ports 10000-10999)")
        if (v := get("PBX_PHONES")) is not None:
            phones: list[tuple[str, str]] = []
            for i, entry in enumerate((e.strip() for e in v.split(",")), 1):
                if not entry:
                    continue
                user, sep, password = entry.partition(":")
                if not sep or not user.strip() or not password:
                    raise ValueError(
                        f"PBX_PHONES: entry {i} must be user:password "
                        "(e.g. alice:secret1,bob:secret2)"
                    )
                phones.append((user.strip(), password))
            check_phones(phones, "PBX_PHONES")
            kwargs["phones"] = phones
        if (v := get("PBX_TRUNK_IPS")) is not None:
            ips = [ip.strip() for ip in v.split(",") if ip.strip()]
            check_networks(ips, "PBX_TRUNK_IPS")
            kwargs["trunk_ips"] = ips
        _nat_from_env(get, kwargs)
        _tls_from_env(get, kwargs, sip_port, rtp)
        _registration_from_env(get, kwargs)
        kwargs["lockouts"] = LockoutSettings.from_env(get)
        kwargs["bans"], kwargs["logs"] = BanPolicy.from_env(get), LogPolicy.from_env(get)
        if (v := get("PBX_LOBBY_TIMEOUT")) is not None:
            seconds = parse_duration("PBX_LOBBY_TIMEOUT", v)
            if seconds > MAX_LOBBY_TIMEOUT:
                raise ValueError(f"PBX_LOBBY_TIMEOUT must be at most 1 h, got {v!r}")
            kwargs["lobby_timeout"] = seconds
        return cls(**kwargs)

    def call_globals(self) -> str:
        """``[globals]`` lines for the call features of the dialplan: ``LOBBY_TIMEOUT=120``."""
        return f"LOBBY_TIMEOUT={self.lobby_timeout}"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def registration(self) -> Registrar | None:
        """The registration trunk's registrar, if one is set."""
        if self.trunk_registrar is None:
            return None
        return Registrar.parse(self.trunk_registrar, "trunk registrar")

    @property
    def contact_user(self) -> str | None:
        return self.trunk_contact_user or self.trunk_user

    @property
    def ami_address(self) -> str:
        return AMI_ADDRESS

    @property
    def http_address(self) -> str:
        return HTTP_ADDRESS

    @property
    def ws_url(self) -> str:
        """Where the bot's web server proxies browsers' SIP WebSocket (subprotocol sip)."""
        return f"ws://{HTTP_ADDRESS}:{self.http_port}/ws"

    def listeners(self) -> list[dict[str, Any]]:
        """Every socket the PBX listens on: what to open in a firewall (AMI excepted: it
        is on loopback and must stay private)."""
        out: list[dict[str, Any]] = [
            {"service": "sip", "protocol": "udp", "address": self.bind_address,
             "port": self.sip_port, "public": True},
            {"service": "sip", "protocol": "tcp", "address": self.bind_address,
             "port": self.sip_port, "public": True},
        ]  # fmt: skip
        if self.tls:
            out.append(
                {"service": "sip-tls", "protocol": "tcp", "address": self.bind_address,
                 "port": self.tls_port, "public": True}
            )  # fmt: skip
        out.append(
            {"service": "rtp", "protocol": "udp", "address": self.bind_address,
             "port": f"{self.rtp_start}-{self.rtp_end}", "public": True}
        )  # fmt: skip
        out.append(
            {"service": "ami", "protocol": "tcp", "address": self.ami_address,
             "port": self.ami_port, "public": False}
        )  # fmt: skip
        out.append(
            {"service": "http-ws", "protocol": "tcp", "address": self.http_address,
             "port": self.http_port, "public": False}
        )  # fmt: skip
        return out

    # Paths inside run_dir.
    @property
    def etc_dir(self) -> Path:
        return self.run_dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "log"

    @property
    def recordings_dir(self) -> Path:
        """Call recordings (mode 0700, files 0600): in Asterisk's spool, which is the run
        user's when the bot is root (``deploy.ownership``), so Asterisk can write there."""
        return self.run_dir / "spool" / "recordings"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc_dir / "asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / PID_FILE

    @property
    def phone_users(self) -> list[str]:
        return [u for u, _ in self.phones]


Getter = Callable[[str], str | None]


def _nat_from_env(get: Getter, kwargs: dict[str, Any]) -> None:
    if (v := get("PBX_EXTERNAL_ADDRESS")) is not None:
        check_host(v, "PBX_EXTERNAL_ADDRESS")
        kwargs["external_address"] = v
    if (v := get("PBX_LOCAL_NETS")) is not None:
        nets = [n.strip() for n in v.split(",") if n.strip()]
        for n in nets:
            try:
                net(n)
            except ValueError:
                raise ValueError(
                    f"PBX_LOCAL_NETS: {n!r} is not a network; write CIDRs like "
                    "192.168.1.0/24,10.0.0.0/8"
                ) from None
        kwargs["local_nets"] = nets


def _tls_from_env(get: Getter, kwargs: dict[str, Any], sip_port: int, rtp: tuple[int, int]) -> None:
    cert, key = get("PBX_TLS_CERT"), get("PBX_TLS_KEY")
    if (cert is None) != (key is None):
        missing = "PBX_TLS_KEY" if key is None else "PBX_TLS_CERT"
        raise ValueError(f"TLS needs both PBX_TLS_CERT and PBX_TLS_KEY; {missing} is not set")
    if (v := get("PBX_TLS_PORT")) is not None:
        port = parse_port("PBX_TLS_PORT", v)
        if port == sip_port:
            raise ValueError(f"PBX_TLS_PORT {port} is also PBX_SIP_PORT; choose another")
        if rtp[0] <= port <= rtp[1]:
            raise ValueError(f"PBX_TLS_PORT {port} is inside PBX_RTP_PORTS {rtp[0]}-{rtp[1]}")
        kwargs["tls_port"] = port
    if cert is not None and key is not None:
        cert_path, key_path = Path(cert).expanduser(), Path(key).expanduser()
        check_pem(cert_path, "CERTIFICATE", "PBX_TLS_CERT")
        check_pem(key_path, "PRIVATE KEY", "PBX_TLS_KEY")
        kwargs["tls_cert"], kwargs["tls_key"] = cert_path, key_path
    if (v := get("PBX_SRTP")) is not None:
        mode = v.lower()
        if mode not in SRTP_MODES:
            raise ValueError(f"PBX_SRTP must be optional or required, got {v!r}")
        if mode == "required" and cert is None:
            raise ValueError(
                "PBX_SRTP=required needs TLS: set PBX_TLS_CERT and PBX_TLS_KEY (SRTP keys "
                "travel in the SIP messages, which only TLS protects)"
            )
        kwargs["srtp"] = mode


def _registration_from_env(get: Getter, kwargs: dict[str, Any]) -> None:
    names = ("PBX_TRUNK_REGISTRAR", "PBX_TRUNK_USER", "PBX_TRUNK_PASSWORD")
    values = [get(n) for n in names]
    contact = get("PBX_TRUNK_CONTACT_USER")
    if all(v is None for v in values):
        if contact is not None:
            raise ValueError("PBX_TRUNK_CONTACT_USER is set but PBX_TRUNK_REGISTRAR is not")
        return
    missing = [n for n, v in zip(names, values, strict=True) if v is None]
    if missing:
        raise ValueError(
            "a registration trunk needs PBX_TRUNK_REGISTRAR, PBX_TRUNK_USER and "
            f"PBX_TRUNK_PASSWORD; missing: {', '.join(missing)}"
        )
    registrar, user, password = values
    assert registrar is not None and user is not None and password is not None
    Registrar.parse(registrar)
    for name, value in (("PBX_TRUNK_USER", user), ("PBX_TRUNK_CONTACT_USER", contact)):
        if value is not None and not TRUNK_USER_RE.match(value):
            raise ValueError(
                f"{name} must be 1-64 letters, digits, '+', '.', '_' or '-', starting with a "
                "letter, digit or '+'"
            )
    check_password(password, "PBX_TRUNK_PASSWORD")
    kwargs.update(
        trunk_registrar=registrar, trunk_user=user, trunk_password=password,
        trunk_contact_user=contact,
    )  # fmt: skip
