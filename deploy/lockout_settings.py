"""The lockout thresholds (``PBX_LOCKOUT_*``): how many wrong PINs and unknown conference
IDs a caller gets, and for how long they are then refused; when the admins hear of a room
under attack; how many calls of one caller may sit in the IVR at once.

The dialplan enforces them (they are rendered into ``[globals]`` of extensions.conf, see
:meth:`LockoutSettings.dialplan_globals`), so they take effect when the PBX starts; the bot
uses ``room_lock`` (what the admins' "Lock PIN entry" button sets) and the windows (what it
may forget). Durations are seconds, or a number with ``s``, ``m`` or ``h``: ``900``, ``15m``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields

MAX_TRIES = 100  # the dialplan keeps up to TRIES-1 timestamps in one AstDB value
MAX_SECONDS = 7 * 24 * 3600
MAX_IVR_CALLS = 100
_DURATION = re.compile(r"^(\d{1,7})\s*([smh]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}

# field -> (environment variable, what it is, kind)
_VARIABLES: dict[str, tuple[str, str, str]] = {
    "pin_tries": ("PBX_LOCKOUT_PIN_TRIES", "wrong PINs that lock a caller out of a room", "n"),
    "pin_window": ("PBX_LOCKOUT_PIN_WINDOW", "the time those wrong PINs count for", "t"),
    "pin_lock": ("PBX_LOCKOUT_PIN_LOCK", "how long such a caller is refused", "t"),
    "room_tries": ("PBX_LOCKOUT_ROOM_TRIES", "wrong PINs in one room that alert the admins", "n"),
    "room_window": ("PBX_LOCKOUT_ROOM_WINDOW", "the time those wrong PINs count for", "t"),
    "room_lock": ("PBX_LOCKOUT_ROOM_LOCK", "how long the alert's button locks PIN entry", "t"),
    "id_tries": ("PBX_LOCKOUT_ID_TRIES", "unknown conference IDs that lock a caller out", "n"),
    "id_window": ("PBX_LOCKOUT_ID_WINDOW", "the time those unknown IDs count for", "t"),
    "id_lock": ("PBX_LOCKOUT_ID_LOCK", "how long such a caller is refused", "t"),
    "ivr_calls": ("PBX_LOCKOUT_IVR_CALLS", "calls of one caller in the IVR at once", "c"),
}


def parse_duration(name: str, value: str) -> int:
    """``900``, ``900s``, ``15m``, ``1h`` as seconds (1 s to 7 days); :class:`ValueError`
    naming ``name`` otherwise."""
    m = _DURATION.match(value.strip().lower())
    seconds = int(m.group(1)) * _UNIT[m.group(2)] if m else 0
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValueError(
            f"{name} must be a duration from 1 s to 7 days, in seconds or with s, m or h "
            f"(900, 15m, 1h), got {value!r}"
        )
    return seconds


def _parse_count(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return number


@dataclass(frozen=True, kw_only=True)
class LockoutSettings:
    """The defaults are the product's policy: 5 wrong PINs in 15 min lock a caller out of
    that room for 15 min; 20 in an hour from anyone alert the admins; 10 unknown IDs in
    10 min lock a caller out for 15 min; 4 calls of one caller in the IVR at once."""

    pin_tries: int = 5
    pin_window: int = 900
    pin_lock: int = 900
    room_tries: int = 20
    room_window: int = 3600
    room_lock: int = 3600
    id_tries: int = 10
    id_window: int = 600
    id_lock: int = 900
    ivr_calls: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _VARIABLES[f.name][2]
            low, high = {"n": (2, MAX_TRIES), "t": (1, MAX_SECONDS), "c": (1, MAX_IVR_CALLS)}[kind]
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"lockout {f.name} must be from {low} to {high}, got {value!r}")

    @classmethod
    def from_env(cls, get: Callable[[str], str | None]) -> LockoutSettings:
        """The ``PBX_LOCKOUT_*`` variables (``get`` returns a stripped value or None when
        unset); :class:`ValueError` naming the variable."""
        values: dict[str, int] = {}
        for name, (variable, _, kind) in _VARIABLES.items():
            raw = get(variable)
            if raw is None:
                continue
            if kind == "t":
                values[name] = parse_duration(variable, raw)
            elif kind == "n":
                values[name] = _parse_count(variable, raw, 2, MAX_TRIES)
            else:
                values[name] = _parse_count(variable, raw, 1, MAX_IVR_CALLS)
        return cls(**values)

    def dialplan_globals(self) -> str:
        """``[globals]`` lines: ``LOCKOUT_PIN_TRIES=5``... (room_lock is the bot's alone)."""
        return "\n".join(
            f"LOCKOUT_{f.name.upper()}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name != "room_lock"
        )

    @property
    def longest_window(self) -> int:
        """Failures older than this count for nothing any more."""
        return max(self.pin_window, self.room_window, self.id_window)
