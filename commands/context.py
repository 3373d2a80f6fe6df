"""What every listener needs besides the Bolt arguments: one bundle, built once in build_app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.call_control import CallControl
from bot.models import Role
from bot.rules import OWNER_PREFIX
from bot.service import ConferenceService
from bot.service.weblinks import WebJoin
from commands.admins import AdminDirectory
from commands.room_list import RoomList
from telephony.bans import LoginBans
from telephony.lobby import PbxLobby
from telephony.lockout_monitor import LockoutMonitor
from telephony.registration import RegistrationMonitor
from telephony.tracker import ParticipantTracker

if TYPE_CHECKING:  # commands.roster builds on this module
    from commands.roster import RosterWatch

# A JSON object as Bolt hands it to listeners: the body, its action, view, command or event.
Payload = dict[str, Any]


def actor(user_id: str) -> str:
    """How a Slack user appears in the audit log, on deletion requests and as an owner."""
    return f"{OWNER_PREFIX}{user_id}"


def slack_user(actor_name: str) -> str | None:
    """The Slack user ID behind an actor string, or None for the CLI and others."""
    if actor_name.startswith(OWNER_PREFIX):
        return actor_name[len(OWNER_PREFIX) :]
    return None


class Deps(Protocol):
    """What the Slack front end takes from the composition root (``bot.wiring.Deps`` is
    one): the service, the tracker for live participant counts, the registration
    trunk's monitor (None without a registration trunk) and the login bans (None but in
    ``serve``)."""

    @property
    def service(self) -> ConferenceService: ...

    @property
    def tracker(self) -> ParticipantTracker: ...

    @property
    def pbx(self) -> CallControl:
        """Actions on live calls (mute, kick, lock, record), for the roster's buttons."""
        ...

    @property
    def trunk(self) -> RegistrationMonitor | None: ...

    @property
    def bans(self) -> LoginBans | None: ...

    @property
    def lockouts(self) -> LockoutMonitor | None:
        """The dialplan's lockouts, followed (None but in ``serve``)."""
        ...

    @property
    def lobby(self) -> PbxLobby | None:
        """Callers waiting in rooms' lobbies, followed (None but in ``serve``)."""
        ...

    @property
    def web(self) -> WebJoin | None:
        """Browser links (issue 12); None when browser join is not set up."""
        ...


class HomeTabs(Protocol):
    """Keeps each opened Home tab and roster modal current (commands.live_cards.LiveCards)."""

    async def show_home(self, user_id: str) -> None: ...

    async def watch_roster(self, view_id: str, watch: RosterWatch) -> None: ...

    def roster_closed(self, view_id: str) -> None: ...

    def roster_notice(self, view_id: str | None, user_id: str, text: str | None) -> bool: ...


@dataclass(frozen=True, slots=True)
class SlackContext:
    deps: Deps
    admins: AdminDirectory
    homes: HomeTabs
    rooms: RoomList
    admin_channel: str | None

    async def role(self, user_id: str) -> Role:
        return await self.admins.role(user_id)

    @property
    def pbx_online(self) -> bool:
        # The tracker is online once it has resynced with a ready AMI connection, which is
        # exactly when its counts can be trusted.
        return self.deps.tracker.online
