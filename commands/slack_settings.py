"""The Slack settings, from the environment: tokens, the admins, the mode and where to listen,
and how long uploaded call recordings stay on disk (``CONFERENCE_RECORDINGS_KEEP_DAYS``).

``missing()`` says what is missing or malformed and where in Slack's app settings to get it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.config import int_setting, port_setting

EVENTS_PATH = "/slack/events"
DEFAULT_API_URL = "https://slack.com/api/"

_APP_PAGE = "your app's page at https://api.slack.com/apps"
HOW_TO_GET = {
    "SLACK_BOT_TOKEN": (
        f"the Bot User OAuth Token (xoxb-...): {_APP_PAGE} > OAuth & Permissions, "
        "after installing the app to the workspace"
    ),
    "SLACK_APP_TOKEN": (
        f"an app-level token (xapp-...) with the connections:write scope: {_APP_PAGE} > "
        "Basic Information > App-Level Tokens > Generate Token and Scopes"
    ),
    "SLACK_SIGNING_SECRET": (
        f"the Signing Secret: {_APP_PAGE} > Basic Information > App Credentials"
    ),
}


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str | None
    app_token: str | None
    signing_secret: str | None
    admin_channel: str | None
    admin_users: frozenset[str] = field(default_factory=frozenset)
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    api_url: str = DEFAULT_API_URL
    # Days an uploaded recording stays on disk; 0 deletes it as soon as Slack has it.
    recordings_keep_days: int = 0

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> SlackSettings:
        def get(key: str) -> str | None:
            return env.get(key, "").strip() or None

        api_url = get("SLACK_API_URL") or DEFAULT_API_URL
        users = (env.get("SLACK_ADMIN_USERS") or "").replace(";", ",").split(",")
        return cls(
            bot_token=get("SLACK_BOT_TOKEN"),
            app_token=get("SLACK_APP_TOKEN"),
            signing_secret=get("SLACK_SIGNING_SECRET"),
            admin_channel=get("SLACK_ADMIN_CHANNEL"),
            admin_users=frozenset(u.strip() for u in users if u.strip()),
            http_host=get("SLACK_HTTP_HOST") or "127.0.0.1",
            # 0 asks the system for a free port (tests); SlackRunner.http_port tells which.
            http_port=port_setting(env, "SLACK_HTTP_PORT", 3000),
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            recordings_keep_days=int_setting(env, "CONFERENCE_RECORDINGS_KEEP_DAYS", 0, 0, 3650),
        )

    @property
    def mode(self) -> Literal["socket", "http"]:
        """Socket Mode whenever an app-level token is set: it needs no public URL."""
        return "socket" if self.app_token else "http"

    def missing(self) -> list[str]:
        """What is missing or malformed for the selected mode, each with where to get it."""
        problems: list[str] = []
        if not self.bot_token:
            problems.append(f"SLACK_BOT_TOKEN is not set; it is {HOW_TO_GET['SLACK_BOT_TOKEN']}.")
        elif not self.bot_token.startswith("xoxb-"):
            problems.append(
                f"SLACK_BOT_TOKEN should start with xoxb-; it is {HOW_TO_GET['SLACK_BOT_TOKEN']}."
            )
        if self.app_token and not self.app_token.startswith("xapp-"):
            problems.append(
                f"SLACK_APP_TOKEN should start with xapp-; it is {HOW_TO_GET['SLACK_APP_TOKEN']}."
            )
        if self.mode == "http" and not self.signing_secret:
            problems.append(
                "Set SLACK_APP_TOKEN for Socket Mode (recommended, no public URL needed): "
                f"{HOW_TO_GET['SLACK_APP_TOKEN']}. Or, for HTTP mode, set SLACK_SIGNING_SECRET: "
                f"{HOW_TO_GET['SLACK_SIGNING_SECRET']}, and point the app's request URLs at "
                f"https://YOUR-HOST{EVENTS_PATH}."
            )
        return problems
