"""``respond()`` over the app's one HTTP session.

Bolt's ``respond`` opens a new connection (and a TLS handshake to Slack) per call; this one
reuses the Web API client's session, so answering on a response_url costs a request, not a
connection. It posts the message itself rather than through slack_sdk's webhook client,
which per call reads the proxy settings from the environment, builds retry handlers and
formats debug lines nobody logs: on ``/conference list``, the most common request, that was
a third of the cost of answering. What the webhook client does that matters is kept: the
JSON body, the proxy and TLS settings (the Web API client's), and one retry when a pooled
connection turns out to be closed.
"""

from __future__ import annotations

import json
from ssl import SSLContext
from typing import Any

from aiohttp import ClientOSError, ClientSession, ServerConnectionError
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookResponse

_JSON = {"Content-Type": "application/json;charset=utf-8"}
# A pooled connection the other end has closed fails at once; slack_sdk retries these once.
_STALE = (ServerConnectionError, ClientOSError)


class PooledRespond(AsyncRespond):
    def __init__(
        self,
        *,
        response_url: str,
        session: ClientSession,
        proxy: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        super().__init__(response_url=response_url, proxy=proxy, ssl=ssl)
        self._session = session

    async def __call__(
        self, text: str | dict[str, Any] = "", *fields: Any, **named: Any
    ) -> WebhookResponse:
        """As Bolt's ``respond``: a text and the message's other fields (blocks,
        response_type, replace_original, ...), or a whole message as a dict."""
        if isinstance(text, dict):
            message = _build_message(**text)
        else:
            message = _build_message(text, *fields, **named)
        body = json.dumps(message)
        try:
            return await self._post(body)
        except _STALE:
            return await self._post(body)

    async def _post(self, body: str) -> WebhookResponse:
        assert self.response_url is not None
        async with self._session.post(
            self.response_url,
            data=body,
            headers=_JSON,
            proxy=self.proxy,
            ssl=True if self.ssl is None else self.ssl,
        ) as res:
            return WebhookResponse(
                url=self.response_url,
                status_code=res.status,
                body=await res.text(),
                headers=dict(res.headers),
            )


def pooled(respond: AsyncRespond | None, client: AsyncWebClient) -> AsyncRespond | None:
    """``respond`` over ``client``'s session when there is one to share (the app's)."""
    session = client.session
    if respond is None or not respond.response_url or session is None or session.closed:
        return respond
    return PooledRespond(
        response_url=respond.response_url, session=session, proxy=respond.proxy, ssl=respond.ssl
    )
