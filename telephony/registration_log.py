"""Why the last outbound registration attempt failed, from Asterisk's own log.

AMI says only *that* a registration was rejected (``Registry`` events and
``PJSIPShowRegistrationsOutbound`` carry ``Status: Rejected`` and no cause), never why.
Asterisk logs the why, one WARNING line per failed attempt, from
``res_pjsip_outbound_registration.c``: the provider's SIP status, or that it did not answer,
and when the next attempt is due. This module reads the tail of that log
(``messages.log``) and turns those lines into :class:`RegistrationFailure` records.

Only the status code and the retry delay are taken from a line; the URIs in it serve to
match our registration and are never shown. A line from an earlier run of Asterisk (before
the last start-up banner) is not evidence of the current state.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

TAIL_BYTES = 64 * 1024

# SIP reason phrases (RFC 3261 and friends) for the codes a registrar answers with.
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    482: "Loop Detected",
    483: "Too Many Hops",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}
# What an admin can do about some of them.
_HINTS = {
    401: "check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD",
    407: "check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD",
    403: "the provider refuses this account; check it with them",
    404: "the provider does not know this user; check PBX_TRUNK_USER",
}

# "[2026-11-26 21:46:08.006] WARNING[25039] res_pjsip_outbound_registration.c: <text>",
# with an optional call id ("[C-00000001]") after the thread id.
_LINE = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\] WARNING\[\d+\](?:\[[^\]]*\])? "
    r"res_pjsip_outbound_registration\.c: (?P<text>.*)$"
)
# Every wording res_pjsip_outbound_registration (Asterisk 20-22) logs a failure with.
# "from" names the server, "to" the client (Asterisk's own wording, kept as it is).
_FAILURES = (
    re.compile(
        r"^Temporal response '(?P<code>\d{3})' received from '(?P<server>[^']*)' on "
        r"registration attempt to '[^']*', retrying in '(?P<retry>\d+)'"
    ),
    re.compile(
        r"^No response received from '(?P<server>[^']*)' on registration attempt to "
        r"'[^']*', retrying in '(?P<retry>\d+)'"
    ),
    re.compile(
        r"^(?P<code>403) Forbidden fatal response received from '(?P<server>[^']*)' on "
        r"registration attempt to '[^']*', retrying in '(?P<retry>\d+)' seconds"
    ),
    re.compile(
        r"^'(?P<code>\d{3})' fatal response received from '(?P<server>[^']*)' on "
        r"registration attempt to '[^']*', retrying in '(?P<retry>\d+)' seconds"
    ),
    re.compile(
        r"^Fatal response '(?P<code>\d{3})' received from '(?P<server>[^']*)' on "
        r"registration attempt to '[^']*', stopping outbound registration"
    ),
    re.compile(r"^Fatal registration attempt to '[^']*', stopping outbound registration"),
    re.compile(
        r"^Maximum retries reached when attempting outbound registration to "
        r"'(?P<server>[^']*)' with client '[^']*', stopping registration attempt"
    ),
)
# The first line Asterisk logs when it starts.
_BANNER = re.compile(r"^\[[^\]]+\] Asterisk \S+ built by ")


@dataclass(frozen=True, slots=True)
class RegistrationFailure:
    """One failed registration attempt, as Asterisk logged it."""

    code: int | None  # the registrar's SIP status; None: it did not answer at all
    at: float | None  # when it was logged (epoch seconds)
    retry_in: int | None  # seconds until the next attempt; None: Asterisk stopped trying
    server_uri: str = ""  # whom it was sent to (for matching only; never shown)

    @property
    def answered(self) -> bool:
        return self.code is not None

    @property
    def reason(self) -> str:
        """The failure as a person reads it: "401 Unauthorized: check ..." or
        "no answer from the provider"."""
        if self.code is None:
            return "no answer from the provider"
        text = f"{self.code} {REASONS.get(self.code, 'error')}".rstrip()
        hint = _HINTS.get(self.code)
        return f"{text}: {hint}" if hint else text


def parse_line(line: str) -> RegistrationFailure | None:
    """A failure from one log line, or None if the line is not one."""
    m = _LINE.match(line.rstrip("\r\n"))
    if m is None:
        return None
    text = m.group("text")
    for pattern in _FAILURES:
        f = pattern.match(text)
        if f is None:
            continue
        fields = f.groupdict()
        code = fields.get("code")
        retry = fields.get("retry")
        return RegistrationFailure(
            code=int(code) if code else None,
            at=_timestamp(m.group("at")),
            retry_in=int(retry) if retry else None,
            server_uri=fields.get("server") or "",
        )
    return None


def _timestamp(text: str) -> float | None:
    # Asterisk writes its local time (logger.conf dateformat "%F %T.%3q"); it runs on this
    # machine with this process's time zone.
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timestamp()
        except ValueError:
            return None


def last_failure(lines: list[str], server_uri: str | None = None) -> RegistrationFailure | None:
    """The newest failure in ``lines`` (oldest first) since Asterisk last started, for
    ``server_uri`` if given."""
    found: RegistrationFailure | None = None
    for line in lines:
        if _BANNER.match(line):
            found = None
            continue
        failure = parse_line(line)
        if failure is None:
            continue
        if server_uri and failure.server_uri and failure.server_uri != server_uri:
            continue
        found = failure
    return found


class AsteriskLog:
    """Asterisk's ``messages.log``, read from its end for registration failures."""

    def __init__(self, path: Path, tail_bytes: int = TAIL_BYTES) -> None:
        self.path = path
        self.tail_bytes = tail_bytes

    def tail(self) -> list[str]:
        """The last lines of the log ([] if it cannot be read)."""
        # Asterisk (another user when the bot is root) owns the log dir: follow no link,
        # and read nothing but a regular file (a FIFO would block the bot).
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return []
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return []
        with os.fdopen(fd, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - self.tail_bytes)
            fh.seek(start)
            data = fh.read(self.tail_bytes)
        lines = data.decode("utf-8", "replace").splitlines()
        return lines[1:] if start and lines else lines  # the first one may be cut

    def last_failure(self, server_uri: str | None = None) -> RegistrationFailure | None:
        return last_failure(self.tail(), server_uri)
