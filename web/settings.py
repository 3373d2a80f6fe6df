"""The web server's settings: ``CONFERENCE_PUBLIC_URL`` (the base of the links; without
it browser join is off), ``CONFERENCE_WEB_HOST``/``CONFERENCE_WEB_PORT`` (where the bot
listens) and the TLS certificate it serves (``PBX_TLS_CERT``/``PBX_TLS_KEY``, the PBX's).

Plain HTTP is allowed only on a loopback address: browsers give microphones to secure
contexts only, and a link's SIP password must not cross a network in clear text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import port_setting
from bot.errors import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089

NOT_SET_UP = (
    "Joining from the browser is not set up on this server. An admin sets "
    "CONFERENCE_PUBLIC_URL (the https address people reach the bot at, e.g. "
    "https://conf.example.com), CONFERENCE_WEB_HOST/CONFERENCE_WEB_PORT and the "
    "certificate PBX_TLS_CERT/PBX_TLS_KEY, then restarts `conference-bot serve`. "
    "Meanwhile, dial in by phone."
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_url(env: Mapping[str, str]) -> str | None:
    """``CONFERENCE_PUBLIC_URL`` without a trailing slash; None when unset."""
    raw = env.get("CONFERENCE_PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
        raise SettingsError(
            "CONFERENCE_PUBLIC_URL must be the address people open links at, such as "
            f"https://conf.example.com; got {raw!r}."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SettingsError(
            "CONFERENCE_PUBLIC_URL must start with https:// (browsers only give the "
            f"microphone to secure pages); got {raw!r}."
        )
    return raw


@dataclass(frozen=True, slots=True)
class WebSettings:
    public_url: str
    host: str
    port: int
    tls_cert: Path | None
    tls_key: Path | None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> WebSettings | None:
        """The settings, or None when ``CONFERENCE_PUBLIC_URL`` is unset (browser join
        off). ``SettingsError`` for plain HTTP on a non-loopback host."""
        url = public_url(env)
        if url is None:
            return None
        host = env.get("CONFERENCE_WEB_HOST", "").strip() or DEFAULT_HOST
        port = port_setting(env, "CONFERENCE_WEB_PORT", DEFAULT_PORT)
        cert = env.get("PBX_TLS_CERT", "").strip()
        key = env.get("PBX_TLS_KEY", "").strip()
        settings = cls(url, host, port, Path(cert) if cert and key else None,
                       Path(key) if cert and key else None)  # fmt: skip
        if not settings.tls and not is_loopback(host):
            raise SettingsError(
                f"CONFERENCE_WEB_HOST is {host}, not a loopback address, so the web server "
                "needs HTTPS: set PBX_TLS_CERT and PBX_TLS_KEY (a certificate for the name "
                "in CONFERENCE_PUBLIC_URL), or set CONFERENCE_WEB_HOST=127.0.0.1 behind a "
                "TLS proxy."
            )
        return settings

    def link(self, token: str) -> str:
        return f"{self.public_url}/join/{token}"
