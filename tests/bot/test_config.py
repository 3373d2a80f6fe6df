"""Settings of the bot itself (``bot.config``)."""

from __future__ import annotations

import pytest

from bot.config import Settings, port_setting
from bot.errors import SettingsError


def test_a_port_setting_defaults_and_may_ask_for_any_free_port() -> None:
    assert port_setting({}, "SLACK_HTTP_PORT", 3000) == 3000
    assert port_setting({"SLACK_HTTP_PORT": " "}, "SLACK_HTTP_PORT", 3000) == 3000
    assert port_setting({"SLACK_HTTP_PORT": " 8080 "}, "SLACK_HTTP_PORT", 3000) == 8080
    assert port_setting({"SLACK_HTTP_PORT": "0"}, "SLACK_HTTP_PORT", 3000) == 0
    assert port_setting({"SLACK_HTTP_PORT": "65535"}, "SLACK_HTTP_PORT", 3000) == 65535


@pytest.mark.parametrize("bad", ["65536", "-1", "http", "80.5"])
def test_a_bad_port_setting_names_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="SLACK_HTTP_PORT must be a port number"):
        port_setting({"SLACK_HTTP_PORT": bad}, "SLACK_HTTP_PORT", 3000)


def test_the_room_cap_is_a_checked_whole_number(tmp_path) -> None:
    assert Settings.from_environ({}, tmp_path).max_rooms == 10
    assert Settings.from_environ({"CONFERENCE_MAX_ROOMS": "3"}, tmp_path).max_rooms == 3
    with pytest.raises(SettingsError, match="CONFERENCE_MAX_ROOMS must be a whole number"):
        Settings.from_environ({"CONFERENCE_MAX_ROOMS": "ten"}, tmp_path)
