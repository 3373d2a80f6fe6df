"""The Slack front end: settings, the Bolt app, and running it in Socket Mode or over HTTP.

Only wiring lives here; the listeners are in ``commands/``, live updates in ``bot.live_cards``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import ClientError, ClientSession, web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import commands
from bot.config import SettingsError
from bot.live_cards import LiveCards
from bot.wiring import Deps
from commands.admins import AdminDirectory
from commands.context import SlackContext
from commands.transport import (
    QuietServerErrors,
    RefusalLog,
    VerifiedSocketModeHandler,
    http_app,
)

log = logging.getLogger(__name__)

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


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("SLACK_HTTP_PORT", "").strip()
    if not raw:
        return 3000
    # 0 asks the system for a free port (tests); SlackRunner.http_port tells which.
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SettingsError(f"SLACK_HTTP_PORT must be a port number (1 to 65535), got {raw!r}.")
    return int(raw)


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
            http_port=_port(env),
            api_url=api_url if api_url.endswith("/") else api_url + "/",
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


def web_client(slack: SlackSettings, session: ClientSession | None = None) -> AsyncWebClient:
    """The Web API client; with ``session``, every call (and every ``respond()``) reuses
    its connections instead of opening one each."""
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, session=session)


def build_app(deps: Deps, slack: SlackSettings, *, live: LiveCards | None = None) -> AsyncApp:
    """The Bolt app with every listener and the one error handler registered.

    ``live`` keeps cards and Home tabs current once started (``start_slack`` does both);
    without it, Home tabs are still published when opened but nothing follows changes.
    """
    client = live.client if live is not None else web_client(slack)
    homes = live if live is not None else LiveCards(deps, client)
    app = AsyncApp(
        client=client,
        # Socket Mode requests arrive over an authenticated WebSocket and are not signed;
        # HTTP requests are verified against this secret (and refused without one).
        signing_secret=slack.signing_secret or "",
        # Answer Slack as soon as a listener acks (commands.errors.guard runs the rest).
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    ctx = SlackContext(
        deps=deps,
        admins=AdminDirectory(client, slack.admin_users),
        homes=homes,
        admin_channel=slack.admin_channel,
    )
    commands.register(app, ctx)
    return app


class SlackUnreachable(ConnectionError):
    """Slack could not be reached (network, DNS); worth trying again later."""


class SlackRunner:
    """A running Slack front end; ``stop()`` disconnects and stops live updates."""

    def __init__(
        self,
        app: AsyncApp,
        live: LiveCards,
        *,
        socket: VerifiedSocketModeHandler | None = None,
        http: web.AppRunner | None = None,
        session: ClientSession | None = None,
    ) -> None:
        self.app = app
        self.live = live
        self._socket = socket
        self._http = http
        self._session = session

    @property
    def mode(self) -> Literal["socket", "http"]:
        return "socket" if self._socket is not None else "http"

    @property
    def http_port(self) -> int | None:
        """The bound port in HTTP mode (useful when SLACK_HTTP_PORT=0 picks a free one)."""
        if self._http is None:
            return None
        for address in self._http.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        return None

    async def stop(self) -> None:
        await self.live.stop()
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._http is not None:
            await self._http.cleanup()
        if self._session is not None:
            await self._session.close()


async def start_slack(
    deps: Deps, slack: SlackSettings, *, live: LiveCards | None = None
) -> SlackRunner:
    """Connect to Slack in the mode the settings select and start live updates.

    ``live`` (tests, the benchmark) brings its own client; otherwise one HTTP session is
    opened here for all Web API calls and closed by ``SlackRunner.stop``.
    """
    problems = slack.missing()
    if problems:
        raise SettingsError("Slack is not configured:\n- " + "\n- ".join(problems))
    session = None
    if live is None:
        session = ClientSession()
        live = LiveCards(deps, web_client(slack, session))
    try:
        return await _start(deps, slack, live, session)
    except BaseException:
        if session is not None:
            await session.close()
        raise


async def _start(
    deps: Deps, slack: SlackSettings, live: LiveCards, session: ClientSession | None
) -> SlackRunner:
    app = build_app(deps, slack, live=live)
    try:
        who = await app.client.auth_test()
    except SlackApiError as exc:
        raise SettingsError(
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); it must be "
            f"{HOW_TO_GET['SLACK_BOT_TOKEN']}."
        ) from None
    except (ClientError, OSError, TimeoutError) as exc:
        raise SlackUnreachable(f"cannot reach Slack at {slack.api_url} ({exc})") from None
    log.info("Slack: signed in as %s in %s (%s mode)", who.get("user"), who.get("team"), slack.mode)
    refusals = RefusalLog()
    if slack.mode == "socket":
        assert slack.app_token is not None
        handler = VerifiedSocketModeHandler(app, slack.app_token, refusals)
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
        except (ClientError, OSError, TimeoutError) as exc:
            raise SlackUnreachable(f"cannot open Slack's Socket Mode connection ({exc})") from None
        runner = SlackRunner(app, live, socket=handler, session=session)
    else:
        # Verified on the raw bytes before anything parses them (commands.transport).
        # No access log: a line per Slack request is noise (and costs time on the ack path).
        assert slack.signing_secret is not None
        endpoint = http_app(app, slack.signing_secret, EVENTS_PATH, refusals)
        server_log = logging.getLogger("conference_bot.http")
        server_log.addFilter(QuietServerErrors(refusals))
        http = web.AppRunner(endpoint, access_log=None, logger=server_log)
        await http.setup()
        try:
            await web.TCPSite(http, slack.http_host, slack.http_port).start()
        except OSError as exc:
            await http.cleanup()
            raise SettingsError(
                f"cannot listen on {slack.http_host}:{slack.http_port} for Slack ({exc.strerror}); "
                "set SLACK_HTTP_PORT to a free port."
            ) from None
        runner = SlackRunner(app, live, http=http, session=session)
        log.info(
            "Slack: HTTP mode on http://%s:%s%s", slack.http_host, runner.http_port, EVENTS_PATH
        )
    await live.start()
    return runner
