"""Builds everything once and hands one typed bundle of dependencies to the front ends."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.service import ConferenceService
from telephony.actions import PbxActions
from telephony.ami import AmiClient
from telephony.astdb import AstDbSync
from telephony.tracker import ParticipantTracker


@dataclass(frozen=True, slots=True)
class Telephony:
    """The live side: one AMI connection, the tracker it feeds, the AstDB sync, actions."""

    ami: AmiClient
    tracker: ParticipantTracker
    sync: AstDbSync
    actions: PbxActions


def build_telephony(
    service: ConferenceService, *, host: str, port: int, username: str, secret: str
) -> Telephony:
    """Wire AMI, tracker and AstDB sync; service changes reach Asterisk from now on.

    Nothing connects until ``ami.start()``.
    """
    ami = AmiClient(host=host, port=port, username=username, secret=secret)
    tracker = ParticipantTracker()
    tracker.subscribe(ami)
    sync = AstDbSync(ami, service)
    sync.subscribe()
    service.add_observer(sync)
    return Telephony(ami, tracker, sync, PbxActions(ami, tracker))


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    service: ConferenceService
    ami: AmiClient
    tracker: ParticipantTracker
    pbx: PbxActions
