"""Ports for the tests: each pytest-xdist worker draws from its own slice of every range, so
PBXes, sipp and softphones started by parallel workers never pick the same port.

Every range lies below the kernel's ephemeral range (32768-60999 by default): a port the
kernel hands out for "any port" (each Asterisk's resolver sockets, bound on 0.0.0.0; every
client connection) could otherwise be taken between choosing it and binding it. (sipp's
ports were once in 41000-49000: a call failed with "Unable to bind video RTP socket", the
port held by some Asterisk's resolver.)
"""

from __future__ import annotations

import os
import random

SIPP_CALLS = 100  # local port pairs one process cycles through (10 ports apart)
SIPP_SPAN = SIPP_CALLS * 10


def _worker() -> tuple[int, int]:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % max(1, count), max(1, count)


def share(start: int, stop: int) -> range:
    """This worker's slice of ``range(start, stop)``."""
    index, count = _worker()
    size = (stop - start) // count
    return range(start + index * size, start + (index + 1) * size)


LISTEN_PORTS = share(10000, 13000)
_RTP = share(13000, 22000)
_SIPP = share(22000, 32700)


def rtp_range(size: int = 200) -> tuple[int, int]:
    """A block of ``size`` RTP ports (first, last) from this worker's slice."""
    first = random.randrange(_RTP.start, _RTP.stop - size, size)
    return first, first + size - 1


def sipp_base() -> int:
    """The first of :data:`SIPP_SPAN` ports a sipp caller cycles through."""
    return random.randrange(_SIPP.start, _SIPP.stop - SIPP_SPAN, 10)
