"""Making untrusted text safe to show on a terminal or in a log line.

Room names, caller IDs from the PBX (a trunk caller's display name is whatever the far end
sends), Slack user names and reasons can hold control characters. Written raw to a terminal,
ESC and CSI sequences move the cursor, retitle the window, hide text or worse; in a log file
a newline forges a second line.

``printable`` replaces every such character with a visible escape, Python style:
``"\\x1b"`` becomes the four characters ``\\x1b``, a newline becomes ``\\n``, U+202E becomes
``\\u202e``. Everything else, including any other non-ASCII letter, is kept, so names in any
language still read normally. The result is for people to read, not to parse back: a
backslash in the input is kept as it is.

Replaced: C0 controls (U+0000 to U+001F, tab and newline included: one value, one line),
DEL (U+007F), C1 controls (U+0080 to U+009F, among them the 8-bit CSI U+009B), the line and
paragraph separators U+2028/U+2029, and the bidirectional overrides and isolates
(U+202A to U+202E, U+2066 to U+2069) that can make text display in an order other than the
one it has.

JSON output needs none of this: ``json.dumps`` already writes every control character as a
``\\uXXXX`` escape (with its default ``ensure_ascii=True`` also every non-ASCII character).
"""

from __future__ import annotations

import re

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each control character replaced by a visible escape (see the module)."""
    return _UNSAFE.sub(_escape, text)
