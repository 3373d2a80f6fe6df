"""Files written into the run dir (deploy.files): never through a link planted there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from deploy.files import write_file


def test_a_planted_temporary_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    target = tmp_path / "manager.conf"
    (tmp_path / f".manager.conf.tmp-{os.getpid()}").symlink_to(victim)
    write_file(target, "secret = 1\n", 0o600)
    assert victim.read_text() == "untouched\n"
    assert target.read_text() == "secret = 1\n" and not target.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_link_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    target = tmp_path / "pjsip.conf"
    target.symlink_to(victim)
    write_file(target, "new\n", 0o644)
    assert victim.read_text() == "untouched\n" and target.read_text() == "new\n"
    assert not target.is_symlink()
