"""Settings from environment variables, with a ``.env`` file as a fallback.

A value we cannot use raises ``bot.errors.SettingsError`` naming the variable. The PBX's own
settings (``PBX_*``) are read by ``deploy.settings``; the entry points pass it ``environ``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import SettingsError


def _read_private(path: Path) -> str | None:
    """The text of ``path``, or ``None`` when it is missing or not a regular file.

    It holds tokens and phone passwords, so a mode readable by others is tightened to 0600:
    through the descriptor that was read, only on a file of ours, never through a link.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd, linked = os.open(path, flags | os.O_NOFOLLOW), False
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fd, linked = os.open(path, flags), True  # read where the link points; change nothing
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_mode & 0o077 and not linked and st.st_uid == os.geteuid():
                os.fchmod(fd, 0o600)
            return file.read().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise SettingsError(
            f"cannot read {path} ({reason}). Fix it, or move it away and set the variables in "
            "the environment."
        ) from None


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (``export``, quotes and comments allowed)."""
    values: dict[str, str] = {}
    text = _read_private(path)
    if text is None:
        return values
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            # The line itself is not shown: it may be a password with a typo around it.
            raise SettingsError(
                f"{path}, line {number}: expected KEY=VALUE (for example "
                "CONFERENCE_MAX_ROOMS=10); fix or remove that line."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_environ(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over the ``.env`` file of the working directory."""
    base = cwd or Path.cwd()
    merged = read_dotenv(base / ".env")
    merged.update(os.environ)
    return merged


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a whole number, got {raw!r}.") from None
    if not low <= value <= high:
        raise SettingsError(f"{key} must be between {low} and {high}, got {value}.")
    return value


def int_setting(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    """A whole number between ``low`` and ``high``; ``default`` when unset (for settings read
    outside this module, such as ``CONFERENCE_RECORDINGS_KEEP_DAYS``)."""
    return _int(env, key, default, low, high)


def port_setting(env: Mapping[str, str], key: str, default: int) -> int:
    """A port the bot itself listens on (``SLACK_HTTP_PORT``): ``default`` when unset; 0 asks
    the system for a free port (tests). The PBX's ports are deploy's
    (``deploy.settings.parse_port``)."""
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SettingsError(f"{key} must be a port number (1 to 65535), got {raw!r}.")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path
    data_dir: Path
    max_rooms: int
    environ: Mapping[str, str]

    @classmethod
    def from_environ(cls, env: Mapping[str, str], cwd: Path | None = None) -> Settings:
        base = cwd or Path.cwd()
        data_dir = Path(env.get("CONFERENCE_DATA_DIR") or base / "data")
        db = env.get("CONFERENCE_DB")
        return cls(
            db_path=Path(db) if db else data_dir / "conference.db",
            data_dir=data_dir,
            max_rooms=_int(env, "CONFERENCE_MAX_ROOMS", 10, 1, 1000),
            environ=env,
        )
