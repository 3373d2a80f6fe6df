"""A registration trunk against a real provider: a second Asterisk (``tests.provider_pbx``)
on 127.0.0.4 is the registrar our PBX registers to with digest auth, and it calls our number
on the registered contact.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from panoramisk.message import Message

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Telephony, telephony_for
from deploy.install import AsteriskInstall
from telephony.errors import PbxActionFailed
from telephony.registration import RegistrationMonitor, RegistryEvent, TrunkState, TrunkStatus
from telephony.tracker import RoomSnapshot, Update
from tests.pbx_fixtures import Pbx, eventually, make_pbx
from tests.provider_pbx import CALLER_ID, TRUNK_PASSWORD, ProviderPbx, make_provider, wait_for

NUMBER = "+15551234567"


@dataclass
class Trunk:
    """Our PBX with a registration trunk to ``provider``, and the bot's stack on it."""

    pbx: Pbx
    provider: ProviderPbx
    service: ConferenceService
    tel: Telephony
    registry: list[RegistryEvent] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

    @property
    def monitor(self) -> RegistrationMonitor:
        assert self.tel.trunk is not None
        return self.tel.trunk

    @property
    def state(self) -> TrunkState:
        return self.monitor.state

    async def status(self, status: TrunkStatus, timeout: float = 15.0) -> float:
        return await wait_for(lambda: self.state.status is status, timeout, f"trunk {status}")


@pytest.fixture
async def providers(
    install: AsteriskInstall, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[ProviderPbx]]]:
    made: list[ProviderPbx] = []

    async def start(**overrides: object) -> ProviderPbx:
        provider = make_provider(install, tmp_path / f"p{len(made)}", **overrides)
        made.append(provider)
        await provider.start()
        return provider

    yield start
    for provider in made:
        await provider.stop()


@pytest.fixture
async def trunks(
    install: AsteriskInstall, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Trunk]]]:
    made: list[tuple[Trunk, Repository]] = []

    async def start(
        provider: ProviderPbx, *, password: str = TRUNK_PASSWORD, tcp: bool = False
    ) -> Trunk:
        pbx = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
        registrar = provider.cfg.registrar_uri_tcp if tcp else provider.cfg.registrar_uri
        pbx.cfg = replace(pbx.cfg, trunk_registrar=registrar, trunk_user=provider.cfg.user,
                          trunk_password=password)  # fmt: skip
        repo = await Repository.open(tmp_path / "conference.db")
        service = ConferenceService(repo)
        await service.setup_server("800", "test")
        await service.assign_number(NUMBER, "test")
        pbx.start()
        tel = telephony_for(pbx.cfg, service)
        trunk = Trunk(pbx, provider, service, tel)
        made.append((trunk, repo))

        def registry(msg: Message) -> None:
            event = RegistryEvent.parse(msg)
            if event is not None:
                trunk.registry.append(event)

        tel.ami.register_event("Registry", registry)

        async def record(update: Update) -> None:
            trunk.updates.append(update)

        tel.tracker.add_listener(record)
        await tel.ami.start()
        assert await tel.ami.wait_ready(20)
        await eventually(lambda: tel.tracker.online and tel.sync.synced, what="first sync")
        return trunk

    yield start
    for trunk, repo in made:
        await trunk.tel.ami.close()
        await trunk.tel.sync.close()
        await trunk.monitor.close()
        trunk.pbx.stop()
        await repo.close()


async def test_registers_with_digest_auth(providers, trunks) -> None:
    provider = await providers()
    trunk = await trunks(provider)
    await trunk.status(TrunkStatus.REGISTERED)
    state = trunk.state
    assert state.server_uri == provider.cfg.registrar_uri
    assert state.user == provider.cfg.user and state.reason is None
    assert state.summary() == f"registered to {provider.cfg.registrar_uri} as {provider.cfg.user}"
    assert state.retry_interval == 10

    # The provider holds our contact: its user, our SIP port, the line tag.
    [contact] = await provider.contacts()
    uri = contact["Uri"]
    assert uri.startswith(f"sip:{provider.cfg.user}@127.0.0.1:{trunk.pbx.cfg.sip_port};")
    assert ";line=" in uri
    # It challenged the first REGISTER and took the digest answer.
    seen = [e["Event"] for e in provider.events]
    assert "ChallengeSent" in seen and "SuccessfulAuth" in seen
    assert not {"InvalidPassword", "ChallengeResponseFailed"} & set(seen)


async def test_call_from_provider_joins_a_room(providers, trunks) -> None:
    provider = await providers()
    trunk = await trunks(provider)
    room = await trunk.service.create_room(name="Carrier", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    await trunk.status(TrunkStatus.REGISTERED)
    t0 = time.monotonic()
    await provider.call(NUMBER, digits="4321#5678#", hold=8)
    answered = time.monotonic() - t0
    await eventually(lambda: trunk.tel.tracker.count(room.id) == 1, what="caller in the room")
    [person] = trunk.tel.tracker.participants(room.id)
    assert person.channel.startswith("PJSIP/provider-")
    assert person.caller_id_num == CALLER_ID
    assert [u.count for u in trunk.updates if isinstance(u, RoomSnapshot)][-1:] == [1]
    assert answered < 5, answered
    # The number without its +, as many carriers send it, reaches the IVR too.
    await provider.call(NUMBER.lstrip("+"), digits="4321#5678#", hold=3)
    await eventually(lambda: trunk.tel.tracker.count(room.id) == 2, what="second caller")
    await provider.hang_up_all()
    await eventually(lambda: trunk.tel.tracker.count(room.id) == 0, what="callers gone")


async def test_a_number_we_do_not_serve_is_refused(providers, trunks) -> None:
    provider = await providers()
    trunk = await trunks(provider)
    await trunk.status(TrunkStatus.REGISTERED)
    with pytest.raises(PbxActionFailed, match="Originate"):
        await provider.call("+15559990000", digits="4321#", hold=1)
    await wait_for(lambda: _no_channels(provider), what="the refused call gone")
    assert not trunk.tel.tracker.counts()


async def _no_channels(provider: ProviderPbx) -> bool:
    return not await provider.channels()


async def test_wrong_password_is_rejected_and_retried(providers, trunks) -> None:
    provider = await providers()
    trunk = await trunks(provider, password="not-the-password")
    await trunk.status(TrunkStatus.REJECTED)
    state = trunk.state
    assert state.code == 401
    assert state.reason == "401 Unauthorized: check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD"
    assert state.summary().startswith("rejected (401 Unauthorized: check PBX_TRUNK_USER")
    assert state.summary().endswith("; retrying every 10 s")
    assert "not-the-password" not in json.dumps(state.as_json())
    # auth_rejection_permanent = no: Asterisk tries again every retry_interval.
    rejected = lambda: [e for e in trunk.registry if e.status == "Rejected"]  # noqa: E731
    await wait_for(lambda: len(rejected()) >= 2, timeout=25, what="a second attempt")
    first, second = rejected()[:2]
    assert first.timestamp is not None and second.timestamp is not None
    assert 8 <= second.timestamp - first.timestamp <= 12
    assert trunk.state.status is TrunkStatus.REJECTED
    assert not await provider.contacts()


async def test_recovers_after_the_provider_restarts(providers, trunks) -> None:
    """The provider goes away (and forgets us), our refresh gets no answer, the provider
    comes back: the next retry registers again. The provider grants 15 s registrations,
    so our PBX refreshes every 5 s (15 - Asterisk's 10 s margin)."""
    provider = await providers(maximum_expiration=15)
    trunk = await trunks(provider)
    await trunk.status(TrunkStatus.REGISTERED)
    await provider.stop()
    provider.forget()
    # A refresh within 5 s, retransmitted for 32 s (SIP timer F), then "no answer".
    lost = await trunk.status(TrunkStatus.UNREACHABLE, timeout=50)
    assert trunk.state.reason == "no answer from the provider"
    assert trunk.state.code is None
    await provider.start()
    back = await trunk.status(TrunkStatus.REGISTERED, timeout=20)
    print(f"trunk lost {lost:.1f} s after the provider stopped; back {back:.1f} s after it "
          "booted again")  # fmt: skip
    assert back <= 10 + 2  # one retry_interval, and some slack
    assert await provider.contact_uris()


async def test_recovers_at_once_over_tcp(providers, trunks) -> None:
    """Over TCP the lost connection tells Asterisk at once: it registers again right away,
    fails, and retries every retry_interval."""
    provider = await providers()
    trunk = await trunks(provider, tcp=True)
    await trunk.status(TrunkStatus.REGISTERED)
    await provider.stop()
    lost = await trunk.status(TrunkStatus.UNREACHABLE, timeout=10)
    await provider.start()
    back = await trunk.status(TrunkStatus.REGISTERED, timeout=20)
    print(f"tcp: trunk lost {lost:.1f} s after the provider stopped; back {back:.1f} s later")
    assert lost < 3 and back <= 12
    assert await provider.contact_uris()
    # And a call still comes through on the new connection.
    await provider.call(NUMBER, digits="", hold=2)


async def test_pbx_offline_makes_the_state_unknown(providers, trunks) -> None:
    provider = await providers()
    trunk = await trunks(provider)
    await trunk.status(TrunkStatus.REGISTERED)
    trunk.pbx.stop()
    await trunk.status(TrunkStatus.UNKNOWN)
    assert trunk.state.summary() == "unknown (the PBX is offline)"
    trunk.pbx.start()
    await trunk.status(TrunkStatus.REGISTERED, timeout=30)
