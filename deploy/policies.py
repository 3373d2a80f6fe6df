"""How the PBX defends itself and its disk: when a source of bad logins is banned
(``PBX_BAN_*``) and how much of Asterisk's log is kept (``PBX_LOG_*``).

Both are parts of :class:`deploy.settings.PbxConfig` (its ``bans`` and ``logs``), read with
the other ``PBX_*`` settings so a bad value is refused at start-up, naming the variable.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

Getter = Callable[[str], str | None]

_SIZE = re.compile(r"^(\d+)\s*([KMG]?)i?B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _whole(get: Getter, name: str, default: int, low: int, high: int, what: str) -> int:
    text = get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValueError(f"{name} must be {what} from {low} to {high}, got {text!r}")
    return value


def check_network(text: str, label: str) -> str:
    """``text`` as a network (an address alone is a /32 or /128), its canonical form."""
    if "%" in text:  # a scope ID would be any text after the %
        raise ValueError(f"{label}: {text!r} is not an IP address or network")
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{label}: {text!r} is not an IP address or network") from None


@dataclass(frozen=True)
class BanPolicy:
    """A source address is banned (every SIP request refused) for ``seconds`` after
    ``failures`` failed logins within ``window`` seconds.  Addresses in ``exempt``
    (networks) are never banned; neither are the trunk's (``PBX_TRUNK_IPS``), which do not
    log in."""

    failures: int = 10
    window: int = 600
    seconds: int = 3600
    exempt: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for value, name in ((self.failures, "failures"), (self.window, "window"),
                            (self.seconds, "seconds")):  # fmt: skip
            if value < 1:
                raise ValueError(f"ban {name} must be at least 1, got {value}")
        object.__setattr__(
            self, "exempt", tuple(check_network(n, "ban exempt") for n in self.exempt)
        )

    @classmethod
    def from_env(cls, get: Getter) -> BanPolicy:
        exempt = get("PBX_BAN_EXEMPT")
        return cls(
            failures=_whole(get, "PBX_BAN_FAILURES", cls.failures, 1, 1000, "a number"),
            window=_whole(get, "PBX_BAN_WINDOW", cls.window, 1, 86400, "seconds"),
            seconds=_whole(get, "PBX_BAN_SECONDS", cls.seconds, 1, 30 * 86400, "seconds"),
            exempt=tuple(
                check_network(n, "PBX_BAN_EXEMPT") for n in (exempt or "").split(",") if n.strip()
            ),
        )


@dataclass(frozen=True)
class LogPolicy:
    """Asterisk's ``messages.log`` is rotated once it passes ``max_bytes``; ``keep`` rotated
    files are kept (``messages.log.0`` the newest).  ``console.log`` (Asterisk's output,
    errors only) is emptied once it passes ``max_bytes``."""

    max_bytes: int = 10 * 1024**2
    keep: int = 5

    def __post_init__(self) -> None:
        if self.max_bytes < 1024:
            raise ValueError(f"log size limit must be at least 1024 bytes, got {self.max_bytes}")
        if not 1 <= self.keep <= 100:
            raise ValueError(f"rotated logs kept must be 1 to 100, got {self.keep}")

    @classmethod
    def from_env(cls, get: Getter) -> LogPolicy:
        max_bytes = cls.max_bytes
        if (text := get("PBX_LOG_MAX_SIZE")) is not None:
            m = _SIZE.match(text)
            max_bytes = int(m.group(1)) * _UNITS[m.group(2).upper()] if m else 0
            if not 1024 <= max_bytes <= 100 * 1024**3:
                raise ValueError(
                    f"PBX_LOG_MAX_SIZE must be a size from 1K to 100G (e.g. 10M), got {text!r}"
                )
        keep = _whole(get, "PBX_LOG_KEEP", cls.keep, 1, 100, "a number")
        return cls(max_bytes=max_bytes, keep=keep)
