"""The PBX's settings: ports, phones and trunk addresses (:class:`PbxConfig`), read from
the ``PBX_*`` variables, and the layout of its run dir.

Invalid values raise :class:`ValueError` naming the variable and never echoing a password.
The Asterisk build has settings of its own (``PBX_ASTERISK``, ``PBX_PREFIX_DIR``,
``PBX_APT_URI``), read where the build happens: :mod:`deploy.prefix`, :mod:`deploy.apt`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.errors import DeployError

PID_FILE = "asterisk.pid"
# Section names the generated pjsip.conf uses itself.
_RESERVED_NAMES = frozenset({"trunk", "transport-udp", "global", "system"})
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Also what an AMI password must look like (deploy.credentials).
PASSWORD_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


class PbxError(DeployError):
    """The PBX could not be configured, started or stopped."""


def parse_port(name: str, value: str | int) -> int:
    """``value`` as a port number (1 to 65535); :class:`ValueError` naming ``name`` if it is
    not one.  The one port parser: every port setting goes through it."""
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ValueError(
            f"{name} must be a port number between 1 and 65535, got {str(value)!r}"
        ) from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be a port number between 1 and 65535, got {port}")
    return port


def _check_rtp(start: int, end: int, sip_port: int, label: str) -> None:
    if end - start < 1:
        raise ValueError(f"{label}: range {start}-{end} must hold at least two ports (start < end)")
    if start <= sip_port <= end:
        raise ValueError(f"{label}: range {start}-{end} contains the SIP port {sip_port}")


def _check_phones(phones: list[tuple[str, str]], label: str) -> None:
    seen: set[str] = set()
    for i, (user, password) in enumerate(phones, 1):
        if not _USER_RE.match(user):
            raise ValueError(
                f"{label}: entry {i}: user name {user!r} must be 1-64 letters, digits, "
                "'_', '.' or '-' (starting with a letter or digit)"
            )
        if user in _RESERVED_NAMES:
            raise ValueError(f"{label}: entry {i}: user name {user!r} is reserved")
        if user in seen:
            raise ValueError(f"{label}: entry {i}: user name {user!r} appears twice")
        seen.add(user)
        if not PASSWORD_RE.match(password) or any(c in password for c in ";,\"'\\"):
            raise ValueError(
                f"{label}: password of {user!r} must be 1-128 printable characters without "
                "spaces, commas, semicolons, quotes or backslashes"
            )


def _check_trunks(ips: list[str], label: str) -> None:
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            raise ValueError(f"{label}: {ip!r} is not an IP address or network") from None


@dataclass(kw_only=True)
class PbxConfig:
    """Everything needed to render the PBX configuration.

    ``phones`` holds ``(username, password)`` pairs; it is left out of ``repr``.
    Invalid values raise :class:`ValueError`.
    """

    run_dir: Path
    bind_address: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 10999
    phones: list[tuple[str, str]] = field(default_factory=list, repr=False)
    trunk_ips: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).expanduser().absolute()
        try:
            ipaddress.ip_address(self.bind_address)
        except ValueError:
            raise ValueError(
                f"bind address must be an IP address, got {self.bind_address!r}"
            ) from None
        self.sip_port = parse_port("SIP port", self.sip_port)
        self.ami_port = parse_port("AMI port", self.ami_port)
        self.rtp_start = parse_port("RTP start port", self.rtp_start)
        self.rtp_end = parse_port("RTP end port", self.rtp_end)
        _check_rtp(self.rtp_start, self.rtp_end, self.sip_port, "RTP ports")
        _check_phones(self.phones, "phones")
        _check_trunks(self.trunk_ips, "trunk_ips")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], run_dir: Path) -> PbxConfig:
        """Read ``PBX_SIP_PORT``, ``PBX_AMI_PORT``, ``PBX_RTP_PORTS`` ("10000-10999"),
        ``PBX_PHONES`` ("alice:secret1,bob:secret2") and ``PBX_TRUNK_IPS``
        ("203.0.113.5,127.0.0.2"); unset or empty means the default.  Raises
        :class:`ValueError` with a message naming the variable (never echoing a
        password)."""

        def get(name: str) -> str | None:
            v = environ.get(name)
            return v.strip() if v is not None and v.strip() else None

        kwargs: dict[str, Any] = {"run_dir": Path(run_dir)}
        sip_port = 5060
        if (v := get("PBX_SIP_PORT")) is not None:
            kwargs["sip_port"] = sip_port = parse_port("PBX_SIP_PORT", v)
        if (v := get("PBX_AMI_PORT")) is not None:
            kwargs["ami_port"] = parse_port("PBX_AMI_PORT", v)
        if (v := get("PBX_RTP_PORTS")) is not None:
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", v)
            if not m:
                raise ValueError(f"PBX_RTP_PORTS must look like 10000-10999, got {v!r}")
            start = parse_port("PBX_RTP_PORTS start", m.group(1))
            end = parse_port("PBX_RTP_PORTS end", m.group(2))
            _check_rtp(start, end, sip_port, "PBX_RTP_PORTS")
            kwargs["rtp_start"], kwargs["rtp_end"] = start, end
        else:
            _check_rtp(10000, 10999, sip_port, "PBX_SIP_PORT (default RTP ports 10000-10999)")
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
            _check_phones(phones, "PBX_PHONES")
            kwargs["phones"] = phones
        if (v := get("PBX_TRUNK_IPS")) is not None:
            ips = [ip.strip() for ip in v.split(",") if ip.strip()]
            _check_trunks(ips, "PBX_TRUNK_IPS")
            kwargs["trunk_ips"] = ips
        return cls(**kwargs)

    # Paths inside run_dir.
    @property
    def etc_dir(self) -> Path:
        return self.run_dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "log"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc_dir / "asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / PID_FILE

    @property
    def phone_users(self) -> list[str]:
        return [u for u, _ in self.phones]
