"""Is a freshly started Asterisk ready?  One AMI login that waits for ``FullyBooted``.

This is all ``deploy`` needs of AMI, so it is a function rather than a client: the
application's AMI client lives in ``telephony/``, which ``deploy`` does not import.
Asterisk sends ``FullyBooted`` to every session that logs in with the ``system`` event
class once it has loaded its modules and configuration, and only then.

The login ``Secret`` is never logged or put in an exception.
"""

from __future__ import annotations

import asyncio
import contextlib

from deploy.credentials import AmiCredentials

_BANNER = b"Asterisk Call Manager"
_LOGIN_ID = "deploy-probe-login"


class NotReady(Exception):
    """AMI did not (yet) say that Asterisk is fully booted; asking again may help."""


class LoginRefused(Exception):
    """AMI answered but refused the login: asking again will not help."""


def _action(fields: dict[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    """The next AMI message, header names in lower case (a repeated header keeps its first
    value: nothing here needs the others)."""
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if not raw:
            raise NotReady("AMI closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if headers:
                return headers
            continue
        key, sep, value = line.partition(":")
        if sep:
            headers.setdefault(key.strip().lower(), value.strip())


async def _log_in_and_wait(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, creds: AmiCredentials
) -> None:
    login = {"Action": "Login", "ActionID": _LOGIN_ID, "Username": creds.username}
    writer.write(_action(login | {"Secret": creds.password, "Events": "system"}))
    await writer.drain()
    logged_in = False
    while True:
        msg = await _read_message(reader)
        if msg.get("actionid") == _LOGIN_ID and "response" in msg:
            if msg["response"] != "Success":
                raise LoginRefused(f"AMI login as {creds.username!r} failed: {msg.get('message')}")
            logged_in = True
        elif logged_in and msg.get("event") == "FullyBooted":
            return


async def wait_fully_booted(
    host: str, port: int, creds: AmiCredentials, timeout: float, connect_timeout: float = 2.0
) -> None:
    """Connect to AMI at ``host:port``, log in, wait for ``FullyBooted`` and log off.

    One attempt: :class:`NotReady` if AMI cannot be reached or does not greet like AMI
    within ``connect_timeout``, or does not report ``FullyBooted`` within ``timeout``;
    :class:`LoginRefused` if it refuses ``creds``.
    """
    greet = min(connect_timeout, timeout)
    try:
        async with asyncio.timeout(greet):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise NotReady(f"no answer from {host}:{port} within {greet:.1f} s") from None
    except OSError as exc:
        raise NotReady(str(exc)) from None
    try:
        async with asyncio.timeout(greet):
            banner = await reader.readline()
        if not banner.startswith(_BANNER):
            text = banner.decode("utf-8", "replace").strip()
            raise NotReady(f"unexpected AMI banner from {host}:{port}: {text[:80]!r}")
        async with asyncio.timeout(timeout):
            await _log_in_and_wait(reader, writer, creds)
        # Booted: a failed log-off changes nothing.
        with contextlib.suppress(OSError):
            writer.write(_action({"Action": "Logoff"}))
            await writer.drain()
    except TimeoutError:
        raise NotReady(f"AMI on {host}:{port} did not report FullyBooted in time") from None
    except OSError as exc:
        raise NotReady(str(exc)) from None
    finally:
        writer.close()
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)
