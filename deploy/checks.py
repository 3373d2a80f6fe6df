"""Checks for the PBX's settings, one per kind of value: ports, addresses, networks,
host names, user names, passwords, PEM files and a carrier's registrar URI.

Each raises :class:`ValueError` with a message naming the setting and what to write
instead; none echoes a password. :mod:`deploy.settings` reads the variables and uses these.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

# Section names the generated pjsip.conf uses itself.
RESERVED_NAMES = frozenset(
    {
        "trunk",
        "provider",
        "provider-auth",
        "transport-udp",
        "transport-tcp",
        "transport-tls",
        "global",
        "system",
        "anonymous",
    }
)
HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# A carrier's registrar: sip:host[:port] or sips:host[:port], optionally ;transport=udp|tcp|tls.
REGISTRAR_RE = re.compile(
    r"^(?P<scheme>sips?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?:;transport=(?P<transport>udp|tcp|tls))?$"
)
# No leading "_" (or "-", "."): the contact user becomes a dialplan extension.
TRUNK_USER_RE = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9+._-]{0,63}$")
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Also what an AMI password must look like (deploy.credentials).
PASSWORD_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
# Phones are guessed at thousands of passwords a second until a ban stops the source.
MIN_PHONE_PASSWORD = 12


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ipaddress.ip_address`` without IPv6 scope IDs: Python takes any text after ``%``
    (newlines, ``[sections]``...), which would then be written into pjsip.conf."""
    if "%" in text:
        raise ValueError(f"{text!r}: an address with a scope ID (%) is not supported")
    return ipaddress.ip_address(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``ipaddress.ip_network(strict=False)`` without IPv6 scope IDs (see :func:`ip`)."""
    if "%" in text:
        raise ValueError(f"{text!r}: a network with a scope ID (%) is not supported")
    return ipaddress.ip_network(text, strict=False)


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


def check_rtp(start: int, end: int, sip_port: int, label: str) -> None:
    if end - start < 1:
        raise ValueError(f"{label}: range {start}-{end} must hold at least two ports (start < end)")
    if start <= sip_port <= end:
        raise ValueError(f"{label}: range {start}-{end} contains the SIP port {sip_port}")


def check_phones(phones: list[tuple[str, str]], label: str) -> None:
    seen: set[str] = set()
    for i, (user, password) in enumerate(phones, 1):
        if not USER_RE.match(user):
            raise ValueError(
                f"{label}: entry {i}: user name {user!r} must be 1-64 letters, digits, "
                "'_', '.' or '-' (starting with a letter or digit)"
            )
        if user in RESERVED_NAMES:
            raise ValueError(f"{label}: entry {i}: user name {user!r} is reserved")
        if user in seen:
            raise ValueError(f"{label}: entry {i}: user name {user!r} appears twice")
        seen.add(user)
        check_password(password, f"{label}: password of {user!r}")
        if len(password) < MIN_PHONE_PASSWORD:
            raise ValueError(
                f"{label}: the password of {user!r} is shorter than {MIN_PHONE_PASSWORD} "
                "characters; give every phone a longer one (a short password falls to "
                "guessing within minutes)"
            )


def check_password(password: str, what: str) -> None:
    if not PASSWORD_RE.match(password) or any(c in password for c in ";,\"'\\"):
        raise ValueError(
            f"{what} must be 1-128 printable characters without "
            "spaces, commas, semicolons, quotes or backslashes"
        )


def check_networks(ips: list[str], label: str) -> None:
    for ip in ips:
        try:
            net(ip)
        except ValueError:
            raise ValueError(f"{label}: {ip!r} is not an IP address or network") from None


def check_host(host: str, label: str) -> None:
    try:
        ip(host)
        return
    except ValueError:
        pass
    if not HOST_RE.match(host):
        raise ValueError(f"{label} must be an IP address or a host name, got {host!r}")


def check_pem(path: Path, marker: str, label: str) -> None:
    try:
        head = path.read_bytes()[:65536]
    except OSError as exc:
        raise ValueError(f"{label}: cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN " not in head or marker.encode() not in head:
        raise ValueError(f"{label}: {path} is not a PEM file holding a {marker.lower()}")


@dataclass(frozen=True)
class Registrar:
    """A carrier's registrar, parsed from ``PBX_TRUNK_REGISTRAR``."""

    uri: str
    host: str
    port: int | None
    transport: str  # udp | tcp | tls

    @classmethod
    def parse(cls, uri: str, label: str = "PBX_TRUNK_REGISTRAR") -> Registrar:
        m = REGISTRAR_RE.match(uri)
        if not m:
            # A user part may hold a password (sip:user:password@host): never shown.
            shown = re.sub(r"^([^:@]*:)?[^@]*@", r"\1***@", uri)
            raise ValueError(
                f"{label} must be a SIP URI like sip:sip.example.net or "
                f"sip:203.0.113.5:5060;transport=tcp, got {shown!r}"
            )
        host = m.group("host")
        if not host.startswith("["):
            check_host(host, label)
        port = parse_port(f"{label} port", m.group("port")) if m.group("port") else None
        transport = m.group("transport") or ("tls" if m.group("scheme") == "sips" else "udp")
        return cls(uri=uri, host=host, port=port, transport=transport)

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"
