"""Settings from environment variables, with a ``.env`` file as a fallback."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it and says what to do."""


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (``export``, quotes and comments allowed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    if path.stat().st_mode & 0o077:
        # It holds tokens and phone passwords: owner only, like every file with secrets.
        os.chmod(path, 0o600)
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
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
