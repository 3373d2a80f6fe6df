"""What a valid value is (``bot.rules``), checked without a database."""

from __future__ import annotations

import pytest

from bot import errors, rules
from deploy import prefix


@pytest.mark.parametrize(
    "check,raw,clean",
    [
        (rules.clean_extension, " 800 ", "800"),
        (rules.clean_phone_number, "+1 (555) 123-4567", "+15551234567"),
        (rules.clean_name, "  Sales weekly  ", "Sales weekly"),
        (rules.clean_conference_id, " 4321 ", "4321"),
        (rules.clean_pin, " 2468 ", "2468"),
        (rules.clean_pin, "  ", None),
        (rules.clean_max_participants, " 7 ", 7),
        (rules.clean_language, " ES ", "es"),
        (rules.clean_reason, "  done  ", "done"),
        (rules.clean_owner, "<@u0123abcd>", "slack:U0123ABCD"),
        (rules.clean_owner, "slack:U0123ABCD", "slack:U0123ABCD"),
    ],
)
def test_validators_return_the_clean_value(check, raw, clean) -> None:
    assert check(raw) == clean


@pytest.mark.parametrize(
    "check,raw,field",
    [
        (rules.clean_extension, "８００", "extension"),
        (rules.clean_phone_number, "15551234567", "phone_number"),
        (rules.clean_name, "4323", "name"),
        (rules.clean_conference_id, "12", "conference_id"),
        (rules.clean_pin, "12ab", "pin"),
        (rules.clean_max_participants, "11", "max_participants"),
        (rules.clean_language, "fr", "language"),
        (rules.clean_reason, "x" * (rules.REASON_MAX + 1), "reason"),
        (rules.clean_owner, "alice", "owner"),
    ],
)
def test_validators_name_the_field_they_refuse(check, raw, field) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        check(raw)
    assert caught.value.field == field and caught.value.code == "invalid_input"


def test_validate_all_reports_one_problem_as_it_is_and_several_together() -> None:
    assert rules.validate_all(pin=lambda: rules.clean_pin("2468")) == {"pin": "2468"}
    with pytest.raises(errors.InvalidInput) as one:
        rules.validate_all(pin=lambda: rules.clean_pin("1"), name=lambda: rules.clean_name("A"))
    assert not isinstance(one.value, errors.ValidationFailed) and one.value.field == "pin"
    with pytest.raises(errors.ValidationFailed) as several:
        rules.validate_all(pin=lambda: rules.clean_pin("1"), name=lambda: rules.clean_name(""))
    assert [p.field for p in several.value.problems] == ["pin", "name"]


def test_rooms_may_use_the_prompt_languages_the_pbx_installs() -> None:
    # deploy/ imports nothing of the application, so it keeps its own list of sound sets.
    assert set(rules.LANGUAGES) == set(prefix.LANGUAGES)
