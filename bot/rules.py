"""What a valid value is: the limits, and one ``clean_*`` validator per field.

Each validator returns the cleaned value or raises ``InvalidInput`` naming its field, with a
message that says what to type instead. The service runs them (``validate_all`` reports every
malformed field at once); front ends read the constants to describe the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.errors import DomainError, InvalidInput, ValidationFailed

DEFAULT_EXTENSION = "800"
MAX_PARTICIPANTS = 10
NAME_MAX = 64
REASON_MAX = 500

# The prompt languages a room may use (the sound sets the PBX has), with their names.
LANGUAGES = {"en": "English", "es": "Spanish"}

# Owners are Slack users, kept as the actor strings the audit log uses. A room created from
# Slack is owned by its creator; one created from the CLI by the admins alone.
OWNER_PREFIX = "slack:"

_DIGITS = re.compile(r"[0-9]+")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_NUMBER_PUNCTUATION = re.compile(r"[\s().\-]")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")


def all_digits(text: str) -> bool:
    """Whether ``text`` is ASCII digits only (what a keypad can type)."""
    return _DIGITS.fullmatch(text) is not None


def name_key(name: str) -> str:
    """What makes two room names the same: case is ignored."""
    return name.casefold()


def clean_extension(value: str) -> str:
    ext = value.strip()
    if not all_digits(ext) or not 2 <= len(ext) <= 6:
        raise InvalidInput(
            f'The extension must be 2 to 6 digits (got "{value}"), for example 800.',
            field="extension",
        )
    return ext


def clean_phone_number(value: str) -> str:
    number = _NUMBER_PUNCTUATION.sub("", value)
    if not _E164.fullmatch(number):
        raise InvalidInput(
            f'"{value}" is not a phone number in E.164 form: a + then the country code and '
            "number, 15 digits at most, for example +15551234567.",
            field="phone_number",
        )
    return number


def clean_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidInput("The room name cannot be empty.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(
            f"The room name is {len(name)} characters long; use at most {NAME_MAX}.",
            field="name",
        )
    if any(not ch.isprintable() for ch in name):
        raise InvalidInput(
            "The room name cannot contain line breaks or control characters.", field="name"
        )
    if name.isdigit():
        # Rooms are looked up by name or conference ID: a name of digits would be ambiguous.
        raise InvalidInput(
            f"The room name cannot be only digits (it would look like a conference ID); add a "
            f'word, for example "Room {name}".',
            field="name",
        )
    return name


def clean_conference_id(value: str) -> str:
    cid = value.strip()
    if not all_digits(cid) or not 3 <= len(cid) <= 10:
        raise InvalidInput(
            f'The conference ID must be 3 to 10 digits (got "{value}"); callers type it on '
            "their keypad.",
            field="conference_id",
        )
    return cid


def clean_pin(value: str | None) -> str | None:
    """A PIN of 4 to 10 digits; ``None`` or an empty string means no PIN."""
    if value is None or not value.strip():
        return None
    pin = value.strip()
    if not all_digits(pin) or not 4 <= len(pin) <= 10:
        # Never echo the PIN back: it may be shown where others can read it.
        raise InvalidInput("The PIN must be 4 to 10 digits, or left empty for no PIN.", field="pin")
    return pin


def clean_moderator_pin(value: str | None, pin: str | None) -> str | None:
    """A moderator PIN: 4 to 10 digits, not the room's PIN (``pin``); empty means none."""
    if value is None or not value.strip():
        return None
    found = value.strip()
    if not all_digits(found) or not 4 <= len(found) <= 10:
        raise InvalidInput(
            "The moderator PIN must be 4 to 10 digits, or left empty for none.",
            field="moderator_pin",
        )
    if found == pin:
        raise InvalidInput(
            "The moderator PIN must differ from the room's PIN: callers who know the PIN "
            "would join as moderators. Choose another.",
            field="moderator_pin",
        )
    return found


def clean_max_participants(value: int | str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PARTICIPANTS:
        raise InvalidInput(
            f"The participant limit must be a whole number from 1 to {MAX_PARTICIPANTS} "
            f'(got "{value}").',
            field="max_participants",
        )
    return count


def clean_language(value: str) -> str:
    lang = value.strip().lower()
    if lang not in LANGUAGES:
        choices = ", ".join(f"{k} ({v})" for k, v in LANGUAGES.items())
        raise InvalidInput(
            f'Unknown prompt language "{value}"; choose one of {choices}.', field="language"
        )
    return lang


def clean_reason(value: str) -> str:
    reason = value.strip()
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            f"The reason is {len(reason)} characters long; use at most {REASON_MAX}.",
            field="reason",
        )
    return reason


def clean_owner(value: str) -> str:
    """A Slack member ID (``U0123ABCD``, also as ``<@U0123ABCD>`` or ``slack:U0123ABCD``)
    as the owner string stored for a room."""
    user = value.strip()
    user = user.removeprefix(OWNER_PREFIX).removeprefix("<@").removesuffix(">").upper()
    if not _SLACK_USER.fullmatch(user):
        raise InvalidInput(
            f'"{value}" is not a Slack member ID. It looks like U0123ABCD: in Slack, open the '
            "person's profile, then More (⋮) > Copy member ID.",
            field="owner",
        )
    return OWNER_PREFIX + user


def validate_all(**checks: Callable[[], Any]) -> dict[str, Any]:
    """Run every check (field name -> a call of its validator); report all malformed values
    together: one ``InvalidInput`` as it is, several as ``ValidationFailed``."""
    values: dict[str, Any] = {}
    problems: list[DomainError] = []
    for field, check in checks.items():
        try:
            values[field] = check()
        except InvalidInput as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationFailed(problems)
    return values
