"""The Slack front end's composition: the Bolt app, and running it in Socket Mode or over HTTP.

Only wiring lives here: the listeners are in the subpackages (``commands.register``), live
updates in ``commands.live_cards``, the settings in ``commands.slack_settings``.
"""

from __future__ import annotations

import logging
from typing import Literal

from aiohttp import ClientError, ClientSession, web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import commands
from bot.errors import SettingsError
from commands.admins import AdminDirectory
from commands.ban_alerts import BanAlerts
from commands.context import Deps, SlackContext
from commands.join_notes import JoinNotes
from commands.live_cards import LiveCards
from commands.lobby import LobbyDesk
from commands.lockout_alerts import LockoutAlerts
from commands.recordings import RecordingUploader
from commands.slack_settings import EVENTS_PATH, HOW_TO_GET, SlackSettings
from commands.transport import (
    QuietServerErrors,
    RefusalLog,
    VerifiedSocketModeHandler,
    http_app,
)
from commands.trunk_alerts import TrunkAlerts

log = logging.getLogger(__name__)


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
        # Answer Slack as soon as a listener acks (commands.guard runs the rest).
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    ctx = SlackContext(
        deps=deps,
        admins=AdminDirectory(client, slack.admin_users),
        homes=homes,
        rooms=homes.rooms,
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
        alerts: TrunkAlerts | None = None,
        ban_alerts: BanAlerts | None = None,
        lockout_alerts: LockoutAlerts | None = None,
        lobby: LobbyDesk | None = None,
    ) -> None:
        self.app = app
        self.live = live
        self.alerts = alerts
        self.ban_alerts = ban_alerts
        self.lockout_alerts = lockout_alerts
        # Join/leave notes in dial-in card threads (set by start_slack once connected).
        self.join_notes: JoinNotes | None = None
        # Uploads stopped call recordings (set by start_slack once connected).
        self.recordings: RecordingUploader | None = None
        self.lobby = lobby
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
        if self.join_notes is not None:
            await self.join_notes.stop()
        if self.recordings is not None:
            await self.recordings.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        if self.ban_alerts is not None:
            await self.ban_alerts.stop()
        if self.lockout_alerts is not None:
            await self.lockout_alerts.stop()
        if self.lobby is not None:
            await self.lobby.stop()
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
    alerts = None
    if deps.trunk is not None:
        alerts = TrunkAlerts(deps.trunk, live.client, slack.admin_channel)
    ban_alerts = None
    if deps.bans is not None:
        ban_alerts = BanAlerts(deps.bans, live.client, slack.admin_channel)
    lockout_alerts = None
    if deps.lockouts is not None:
        lockout_alerts = LockoutAlerts(deps.lockouts, live.client, slack.admin_channel,
                                       deps.lockouts.store.room_lock)  # fmt: skip
    lobby = None
    if deps.lobby is not None:
        lobby = LobbyDesk(deps.lobby, deps.service, live.client, slack.admin_channel,
                          budget=live.budget)  # fmt: skip
    if slack.mode == "socket":
        assert slack.app_token is not None
        handler = VerifiedSocketModeHandler(app, slack.app_token, refusals)
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
        except (ClientError, OSError, TimeoutError) as exc:
            raise SlackUnreachable(f"cannot open Slack's Socket Mode connection ({exc})") from None
        runner = SlackRunner(app, live, socket=handler, session=session, alerts=alerts,
                             ban_alerts=ban_alerts, lockout_alerts=lockout_alerts,
                             lobby=lobby)  # fmt: skip
    else:
        assert slack.signing_secret is not None
        http = await listen_http(
            app, slack.signing_secret, slack.http_host, slack.http_port, refusals
        )
        runner = SlackRunner(app, live, http=http, session=session, alerts=alerts,
                             ban_alerts=ban_alerts, lockout_alerts=lockout_alerts,
                             lobby=lobby)  # fmt: skip
        log.info(
            "Slack: HTTP mode on http://%s:%s%s", slack.http_host, runner.http_port, EVENTS_PATH
        )
    await live.start()
    runner.join_notes = JoinNotes(deps, live.client)
    runner.join_notes.start()
    runner.recordings = RecordingUploader(
        deps, live.client, slack.admin_channel, keep_days=slack.recordings_keep_days
    )
    await runner.recordings.start()
    if alerts is not None:
        alerts.start()
    if ban_alerts is not None:
        ban_alerts.start()
    if lockout_alerts is not None:
        lockout_alerts.start()
    if lobby is not None:
        lobby.start()  # asks about whoever waits now, then each new caller
    return runner


async def listen_http(
    app: AsyncApp, secret: str, host: str, port: int, refusals: RefusalLog
) -> web.AppRunner:
    """Serve ``app`` on ``EVENTS_PATH``, every request verified on its raw bytes before
    anything parses it (``commands.transport``). The benchmark serves its bare app here too."""
    endpoint = http_app(app, secret, EVENTS_PATH, refusals)
    server_log = logging.getLogger("conference_bot.http")
    for old in [f for f in server_log.filters if isinstance(f, QuietServerErrors)]:
        server_log.removeFilter(old)  # one per running endpoint, not one per start
    server_log.addFilter(QuietServerErrors(refusals))
    # No access log: a line per Slack request is noise (and costs time on the ack path).
    http = web.AppRunner(endpoint, access_log=None, logger=server_log)
    await http.setup()
    try:
        await web.TCPSite(http, host, port).start()
    except OSError as exc:
        await http.cleanup()
        raise SettingsError(
            f"cannot listen on {host}:{port} for Slack ({exc.strerror}); "
            "set SLACK_HTTP_PORT to a free port."
        ) from None
    return http
