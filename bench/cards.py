"""What the benches read off a dial-in card update sent to the fake Slack."""

from __future__ import annotations

import re

from tests.fake_slack import Call

_COUNT = re.compile(r"(\d+) (?:people|person) in the call")


def shown_count(call: Call) -> int | None:
    """The participant count a card update shows, or None when it shows none."""
    text = str(call.args.get("blocks", ""))
    if "nobody in the call" in text:
        return 0
    match = _COUNT.search(text)
    return int(match.group(1)) if match else None
