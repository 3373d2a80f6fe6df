"""The conference server: its extension and phone number (``bot.service.server``)."""

from __future__ import annotations

import pytest

from bot import errors
from bot.repository import Repository
from bot.service import ConferenceService
from tests.bot.service.common import ADMIN, make_room


async def test_server_defaults_and_extension_rules(repo: Repository) -> None:
    service = ConferenceService(repo)
    assert await service.get_server() is None
    with pytest.raises(errors.ServerNotFound, match="server setup"):
        await service.create_room(name="A", conference_id="123", actor=ADMIN)
    for bad in ["", "8", "1234567", "80a", "８００"]:
        with pytest.raises(errors.InvalidInput, match="2 to 6 digits"):
            await service.setup_server(bad, ADMIN)
    server = await service.setup_server(" 800 ", ADMIN)
    assert server.extension == "800"
    assert server.phone_number is None
    assert (await service.setup_server("4567", ADMIN)).extension == "4567"


async def test_extension_cannot_take_a_rooms_conference_id(service: ConferenceService) -> None:
    await make_room(service, cid="555")
    with pytest.raises(errors.ConferenceIdIsExtension, match='room "Sales"'):
        await service.setup_server("555", ADMIN)
    assert (await service.require_server()).extension == "800"


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("+15551234567", "+15551234567"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+442071838750", "+442071838750"),
    ],
)
async def test_assign_number(service: ConferenceService, raw: str, clean: str) -> None:
    server = await service.assign_number(raw, ADMIN)
    assert server.phone_number == clean
    assert server.dial_in == clean


@pytest.mark.parametrize(
    "bad", ["15551234567", "+0551234567", "+1555abc4567", "+1234567890123456", "+"]
)
async def test_assign_number_rejects_non_e164(service: ConferenceService, bad: str) -> None:
    with pytest.raises(errors.InvalidInput, match="E.164"):
        await service.assign_number(bad, ADMIN)
    assert (await service.require_server()).phone_number is None


async def test_number_replace_and_unassign(service: ConferenceService) -> None:
    await service.assign_number("+15551234567", ADMIN)
    assert (await service.assign_number("+15557654321", ADMIN)).phone_number == "+15557654321"
    assert (await service.unassign_number(ADMIN)).phone_number is None
    with pytest.raises(errors.NotFound, match="no phone number"):
        await service.unassign_number(ADMIN)


async def test_server_delete_says_what_is_left(service: ConferenceService) -> None:
    await make_room(service, "Sales", "1234")
    await make_room(service, "Support", "5678")
    await service.assign_number("+15551234567", ADMIN)
    with pytest.raises(errors.ServerNotEmpty) as caught:
        await service.delete_server(ADMIN)
    message = caught.value.message
    assert '"Sales" (ID 1234)' in message and '"Support" (ID 5678)' in message
    assert "unassign its phone number +15551234567" in message

    await service.delete_room("Sales", actor=ADMIN)
    await service.delete_room("5678", actor=ADMIN)
    with pytest.raises(errors.ServerNotEmpty) as caught:
        await service.delete_server(ADMIN)
    assert "room" not in caught.value.message and "+15551234567" in caught.value.message

    await service.unassign_number(ADMIN)
    await service.delete_server(ADMIN)
    assert await service.get_server() is None
    with pytest.raises(errors.ServerNotFound):
        await service.delete_server(ADMIN)
