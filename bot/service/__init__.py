"""The rules of the conference server in action. Every front end (CLI, Slack, PBX sync) goes
through ``ConferenceService``.

The service is split by area, each a mixin over ``base.ServiceBase`` (the repository, the
observers, the audit log): ``server`` (extension, phone number), ``rooms``, ``access`` (who
may do what, room owners), ``calls`` (mute, kick, lock, end, record a live call),
``recordings`` (the recordings' files), ``lobby`` (callers waiting to be admitted),
``requests`` (deletion requests), ``cards`` (dial-in cards) and ``weblinks`` (one-time
links to join from the browser).
What a valid value is lives in ``bot.rules``; the change records in ``bot.changes``; how
changes read in the audit log in ``audit_text``.
"""

from __future__ import annotations

from bot.service.calls import CallsMixin
from bot.service.cards import CardsMixin
from bot.service.lobby import LobbyMixin
from bot.service.recordings import RecordingsMixin
from bot.service.requests import RequestsMixin
from bot.service.rooms import UNSET, RoomsMixin
from bot.service.server import ServerMixin
from bot.service.weblinks import WebLinksMixin

__all__ = ["UNSET", "ConferenceService"]


class ConferenceService(
    ServerMixin,
    RoomsMixin,
    CallsMixin,
    RequestsMixin,
    CardsMixin,
    LobbyMixin,
    RecordingsMixin,
    WebLinksMixin,
):
    """The conference server, its rooms, their owners, deletion requests, dial-in cards and
    the audit log: the one facade front ends use.

    ``ConferenceService(repo, max_rooms=10, observers=())``; observers (``bot.changes``) are
    told of every committed change.
    """
