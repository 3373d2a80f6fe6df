"""The web side as ``serve`` runs it: the server, and a sweeper that removes the PBX
credentials of used and expired links (at start also those left by an earlier run:
AstDB outlives Asterisk restarts).

``start_web(service, settings, credentials, pbx_ws_url=...)`` returns a ``WebSide``; its
``join`` goes into ``bot.wiring.Deps.web`` so the Slack button hands out links.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from bot.errors import DomainError
from bot.service import ConferenceService
from bot.service.weblinks import LinkCredentials, WebJoin
from deploy.jssip import bundle_path
from web.server import WebServer, make_app
from web.settings import WebSettings

log = logging.getLogger(__name__)

SWEEP_EVERY = 30.0  # seconds between sweeps of used and expired links


@dataclass
class WebSide:
    server: WebServer
    join: WebJoin
    sweeper: asyncio.Task[None]

    @property
    def port(self) -> int:
        return self.server.port

    async def close(self) -> None:
        self.sweeper.cancel()
        with suppress(asyncio.CancelledError):
            await self.sweeper
        await self.server.close()

    stop = close


async def sweep_forever(
    service: ConferenceService, credentials: LinkCredentials, every: float = SWEEP_EVERY
) -> None:
    startup = True
    while True:
        try:
            await service.sweep_web_links(credentials, startup=startup)
            startup = False
        except DomainError as exc:  # the PBX is down: the next sweep tries again
            log.warning("browser links not swept (%s); trying again in %.0f s", exc, every)
        except Exception:
            log.exception("sweeping browser links failed; trying again in %.0f s", every)
        await asyncio.sleep(every)


async def start_web(
    service: ConferenceService,
    settings: WebSettings,
    credentials: LinkCredentials,
    *,
    pbx_ws_url: str,
    jssip: Path | None = None,
    sweep_every: float = SWEEP_EVERY,
) -> WebSide:
    """Listen on ``settings.host``/``settings.port`` and start sweeping."""
    bundle = jssip or bundle_path()
    if bundle is None:
        log.warning(
            "JsSIP is not built (./dev setup, or python -m deploy.jssip): the join page "
            "will say that browser join is not built"
        )
    server = await WebServer(make_app(service, pbx_ws_url=pbx_ws_url, jssip=bundle),
                             settings).start()  # fmt: skip
    sweeper = asyncio.create_task(sweep_forever(service, credentials, sweep_every))
    scheme = "https" if settings.tls else "http"
    log.info("Browser join: links at %s/join/…; listening on %s://%s:%d", settings.public_url,
             scheme, settings.host, server.port)  # fmt: skip
    return WebSide(server, WebJoin(settings.public_url, credentials), sweeper)
