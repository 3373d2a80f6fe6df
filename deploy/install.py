"""What an Asterisk installation is: how to run its binary, where its modules and sounds are,
which version it is.

:mod:`deploy.prefix` finds or builds one; the modules that run Asterisk only read it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from deploy.errors import DeployError


class PrefixError(DeployError):
    """The Asterisk installation could not be found or built."""


@dataclass(frozen=True)
class AsteriskInstall:
    """How to run one Asterisk installation.

    ``argv`` is the command prefix that runs the ``asterisk`` binary: for the
    bundled prefix ``(loader, "--library-path", libdirs, PREFIX/usr/sbin/asterisk)``;
    for a system install just ``("/usr/sbin/asterisk",)``.
    """

    kind: Literal["bundled", "system"]
    argv: tuple[str, ...]
    module_dir: Path
    sounds_dirs: Mapping[str, Path]
    version: str
    prefix: Path | None = None
    # Asterisk's shared data directory (``documentation/`` etc.), if known.
    data_dir: Path | None = None
    packages: Mapping[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        """The full argv to run asterisk with ``args``."""
        return [*self.argv, *args]

    @property
    def major(self) -> int:
        return version_major(self.version)


def version_major(version: str) -> int:
    """Major number of an ``asterisk -V`` string (0 if unknown)."""
    m = re.search(r"Asterisk\s+(\d+)\.", version)
    return int(m.group(1)) if m else 0


def asterisk_version_of(argv: Sequence[str], timeout: float = 20.0) -> str:
    """Run ``argv -V`` and return its one-line answer, e.g. ``Asterisk 22.5.2...``."""
    try:
        res = subprocess.run(
            [*argv, "-V"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrefixError(f"cannot run {argv[-1]} -V: {exc}") from exc
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0 or not out.startswith("Asterisk"):
        raise PrefixError(f"{argv[-1]} -V failed (exit {res.returncode}): {out[-500:]}")
    return out.splitlines()[0].strip()
