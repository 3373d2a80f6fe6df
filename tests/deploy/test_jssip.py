"""The JsSIP bundle's cache (deploy/jssip.py): a bundle counts only with a marker of the
pinned versions and its SHA-256; anything else is rebuilt, and a machine without npm is
told what to install. (The build itself talks to the npm registry: ``./dev`` runs it, the
tests stay on loopback.)"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from deploy import jssip


def fake_cache(root: Path, text: str = "var JsSIP={};", versions: dict[str, str] | None = None):
    bundle = root / jssip.BUNDLE
    bundle.parent.mkdir(parents=True)
    bundle.write_text(text)
    marker = {"versions": versions or jssip.wanted(),
              "sha256": hashlib.sha256(text.encode()).hexdigest()}  # fmt: skip
    (root / jssip.MARKER).write_text(json.dumps(marker))
    return bundle


@pytest.fixture
def no_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_marked_intact_bundle_is_used_as_it_is(tmp_path: Path, no_npm: None) -> None:
    bundle = fake_cache(tmp_path / "jssip")
    assert jssip.bundle_path(tmp_path / "jssip") == bundle
    assert jssip.ensure(tmp_path / "jssip") == bundle  # no npm needed


def test_a_changed_bundle_or_other_versions_do_not_count(tmp_path: Path, no_npm: None) -> None:
    bundle = fake_cache(tmp_path / "a")
    bundle.write_text("alert(1)")  # tampered with after the build
    assert jssip.bundle_path(tmp_path / "a") is None
    fake_cache(tmp_path / "b", versions={"jssip": "3.0.0", "esbuild": jssip.ESBUILD_VERSION})
    assert jssip.bundle_path(tmp_path / "b") is None
    assert jssip.bundle_path(tmp_path / "missing") is None
    # Rebuilding needs npm: without it, the error says what to install; nothing is left.
    with pytest.raises(jssip.JsSipError, match="install Node.js and npm"):
        jssip.ensure(tmp_path / "b")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".b.build")) == []


def test_the_cache_is_per_user_and_can_be_moved(tmp_path: Path) -> None:
    assert jssip.default_dir({"CONFERENCE_JSSIP_DIR": str(tmp_path)}) == tmp_path
    expected = (jssip.ROOT_JSSIP_DIR if os.geteuid() == 0
                else Path.home() / ".cache" / "conference-bot" / "jssip")  # fmt: skip
    assert jssip.default_dir({}) == expected
