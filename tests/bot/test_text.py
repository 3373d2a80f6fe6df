from __future__ import annotations

import json
import re

import pytest

from bot.text import printable

# What must never reach a terminal raw: C0, DEL, C1, line/paragraph separators, bidi controls.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("Sales weekly", "Sales weekly"),
        ("Café Zürich 会議室 ☎", "Café Zürich 会議室 ☎"),  # letters of any language stay
        ("\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
        ("\u202eevil\u2066", "\\u202eevil\\u2066"),
        ("\u2028", "\\u2028"),
        ("back\\slash", "back\\slash"),
        ("", ""),
    ],
)
def test_control_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_every_code_point_below_u0100_and_the_bidi_controls() -> None:
    every = (
        "".join(map(chr, range(0x100)))
        + "\u2028\u2029"
        + "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    )
    out = printable(every)
    assert not UNSAFE.search(out)
    assert printable(out) == out  # escaping twice changes nothing more
    assert " !" in out and "}~\\x7f" in out and "\\x9f\xa0¡" in out and "ÿ" in out


def test_json_output_needs_no_help() -> None:
    dumped = json.dumps({"name": "\x1b[31mred\u202e\x9b\n"})
    assert not UNSAFE.search(dumped)
    assert json.loads(dumped)["name"] == "\x1b[31mred\u202e\x9b\n"
