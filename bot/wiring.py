"""Builds everything once and hands one typed bundle of dependencies to the front ends."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.service import ConferenceService
from telephony.actions import PbxActions
from telephony.ami import AmiClient
from telephony.tracker import ParticipantTracker


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    service: ConferenceService
    ami: AmiClient
    tracker: ParticipantTracker
    pbx: PbxActions
