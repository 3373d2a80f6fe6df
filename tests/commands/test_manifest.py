"""The app manifest asks for what the app uses, and no more."""

from __future__ import annotations

import re
from pathlib import Path

from commands import ids

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yaml"


def test_manifest_matches_the_app() -> None:
    text = MANIFEST.read_text()
    assert f"- command: {ids.COMMAND}\n" in text
    scopes = re.findall(r"^      - ([a-z:.]+) #", text, flags=re.MULTILINE)
    assert scopes == [
        "commands",
        "chat:write",
        "chat:write.public",
        "users:read",
        "im:write",
        "files:write",  # recordings (commands.recordings): files_upload_v2 needs no more
    ]
    events = re.search(r"bot_events:\n((?:\s+- \S+\n)+)", text)
    assert events is not None and events.group(1).split() == ["-", "app_home_opened"]
    assert "home_tab_enabled: true" in text
    assert "socket_mode_enabled: true" in text
    assert re.search(r"interactivity:\n\s+is_enabled: true", text)
