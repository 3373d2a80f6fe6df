"""The names the bot and Asterisk share: a room's ConfBridge bridge and the AstDB key layout.

Defined here once for Python. The static dialplan (``deploy/templates/extensions.conf``)
reads the same keys and joins the same bridges; it is text, so it keeps a copy with a comment
pointing here: change one, change the other.

AstDB layout (written by ``telephony.astdb``)::

    conference/server/extension       = 800
    conference/server/number          = +15551234567          (absent when none)
    conference/rooms/<CONFID>/room    = stable room id (its bridge is room-<id>)
    conference/rooms/<CONFID>/pin     = PIN digits, or empty for none
    conference/rooms/<CONFID>/max     = participant limit
    conference/rooms/<CONFID>/lang    = en | es
    conference/rooms/<CONFID>/modpin  = moderator PIN digits, or empty for none
    conference/rooms/<CONFID>/opts    = call options, one letter each (empty: none):
                                        w wait for a moderator, e end with the last
                                        moderator, m start muted, l lobby

A bridge is named after the room's stable id, not its conference ID, so a re-numbered room
keeps its calls.

Lockouts (written by the dialplan itself, read and cleared by ``telephony.lockouts``)::

    conference/lockouts/pin/<ROOM>/<CALLER>/fails|since|until|reported
    conference/lockouts/id/<CALLER>/fails|since|until|reported
    conference/lockouts/room/<ROOM>/fails|callers|alerted|reported|until

``<ROOM>`` is the room's stable id; ``<CALLER>`` is :func:`caller_key`.

A live call's state the dialplan needs (written by the bot) and the lobby (both sides)::

    conference/live/<ROOM>/recording        = 1 while the room's call is recorded: callers
                                              joining hear so first (absent: not recorded)
    conference/live/<ROOM>/file             = the file it is recorded to (the bot's: so a
                                              restarted bot still uploads it)
    conference/lobby/<ROOM>/<UNIQUEID>      = waiting (the dialplan, when the caller starts
                                              waiting) | admit | refuse (the bot, on an
                                              owner's click); the dialplan deletes it when
                                              the caller stops waiting

Browser join (issue 12; written by ``telephony.weblinks``, read and deleted on join by the
dialplan's ``[from-webrtc]``). ``<LINK>`` is :func:`is_link_id`'s ``web-<16 hex>``, also the
link's PJSIP endpoint, auth and SIP user name::

    pjsip/endpoint/<LINK>                   = the endpoint, JSON (sorcery's astdb wizard)
    pjsip/auth/<LINK>                       = its auth, JSON: md5_cred only, no password
    conference/weblinks/<LINK>/confid       = the room's conference ID at issue time
    conference/weblinks/<LINK>/trusted      = 1 (an owner or admin: no PIN) | 0
    conference/weblinks/<LINK>/user         = the Slack user id it was issued to
    conference/weblinks/<LINK>/room         = the room's stable id (written last, deleted
                                              first: the key a join needs)

A browser caller's lockout key (:func:`caller_key`) is ``web~<SLACK USER>``.
"""

from __future__ import annotations

import re

BRIDGE_PREFIX = "room-"

FAMILY = "conference"
SERVER_FAMILY = f"{FAMILY}/server"
ROOMS_FAMILY = f"{FAMILY}/rooms"

# Keys of SERVER_FAMILY
EXTENSION_KEY = "extension"
NUMBER_KEY = "number"
# Keys of room_family(conference_id); ROOM_KEY is written last (telephony.astdb)
PIN_KEY = "pin"
MAX_KEY = "max"
LANG_KEY = "lang"
MODPIN_KEY = "modpin"
OPTS_KEY = "opts"
# The letters of OPTS_KEY, by Room field (join_notes is the bot's alone: not in AstDB).
OPTION_LETTERS = {"wait_for_moderator": "w", "end_with_moderator": "e", "start_muted": "m",
                  "lobby": "l"}  # fmt: skip
ROOM_KEY = "room"

# Lockouts: families under LOCKOUTS_FAMILY and the keys in them (extensions.conf's
# "Lockouts" section reads and writes the same).
LOCKOUTS_FAMILY = f"{FAMILY}/lockouts"
PIN_SCOPE = "pin"  # one caller's wrong PINs for one room: <family>/pin/<room>/<caller>
ID_SCOPE = "id"  # one caller's unknown conference IDs: <family>/id/<caller>
ROOM_SCOPE = "room"  # every caller's wrong PINs for one room: <family>/room/<room>
FAILS_KEY = "fails"  # the latest failures, epoch seconds, "-" between
SINCE_KEY = "since"  # a lockout began (epoch seconds)
UNTIL_KEY = "until"  # a lockout, or an admin's lock of a room's PIN entry, ends
REPORTED_KEY = "reported"  # the since (or alerted) value the bot has audited or posted
CALLERS_KEY = "callers"  # a room's latest failing callers' numbers, "-" between
ALERTED_KEY = "alerted"  # when a room's threshold last alerted the admins
# The dialplan's GROUP() category for calls in the IVR (at most LOCKOUT_IVR_CALLS a caller).
IVR_GROUP = "ivr-calls"
CALLER_SEPARATOR = "~"
_CALLER_NUMBER = re.compile(r"[^0-9A-Za-z+]")
_ENDPOINT = re.compile(r"[^-_.0-9A-Za-z]")

# A live call's state for the dialplan, and the lobby (see the module's docstring).
LIVE_FAMILY = f"{FAMILY}/live"
RECORDING_KEY = "recording"
RECORDING_FILE_KEY = "file"  # the file it is recorded to (the bot's alone)
LOBBY_FAMILY = f"{FAMILY}/lobby"
LOBBY_WAITING = "waiting"
LOBBY_ADMIT = "admit"
LOBBY_REFUSE = "refuse"


# Browser join (see the module's docstring).
WEBLINKS_FAMILY = f"{FAMILY}/weblinks"
WEBLINK_PREFIX = "web-"
WEBLINK_CONFID_KEY = "confid"
WEBLINK_TRUSTED_KEY = "trusted"
WEBLINK_USER_KEY = "user"
WEBLINK_ROOM_KEY = "room"
# In write order: the room key last (and deleted first), so a half-written link never joins.
WEBLINK_KEYS = (WEBLINK_CONFID_KEY, WEBLINK_TRUSTED_KEY, WEBLINK_USER_KEY, WEBLINK_ROOM_KEY)
PJSIP_ENDPOINT_FAMILY = "pjsip/endpoint"  # sorcery.conf: astdb,pjsip -> pjsip/<type>
PJSIP_AUTH_FAMILY = "pjsip/auth"
WEB_ENDPOINT = "web"  # the cep of every browser caller (extensions.conf [from-webrtc])
WEBRTC_CONTEXT = "from-webrtc"
_LINK_ID = re.compile(r"web-[0-9a-f]{16}")
_LINK_CHANNEL = re.compile(r"PJSIP/(web-[0-9a-f]{16})-[0-9a-f]+")


def is_link_id(text: str) -> bool:
    """Whether ``text`` is a browser link's id: ``web-`` and 16 lower-case hex digits."""
    return _LINK_ID.fullmatch(text) is not None


def weblink_family(link_id: str) -> str:
    """``conference/weblinks/<LINK>``: what the dialplan reads of one browser link."""
    if not is_link_id(link_id):
        raise ValueError(f"not a browser link id: {link_id!r}")
    return f"{WEBLINKS_FAMILY}/{link_id}"


def link_of_channel(channel: str) -> str | None:
    """The browser link a channel (``PJSIP/web-<hex>-00000012``) came in on, or None."""
    match = _LINK_CHANNEL.fullmatch(channel)
    return match.group(1) if match else None


def web_caller_key(slack_user: str) -> str:
    """The lockout key of a Slack user's browser joins: ``web~U0123ABCD``."""
    return caller_key(WEB_ENDPOINT, slack_user)


def live_family(room_id: int) -> str:
    """``conference/live/<ROOM>``: what the dialplan reads of a room's live call."""
    return f"{LIVE_FAMILY}/{room_id}"


def lobby_family(room_id: int) -> str:
    """``conference/lobby/<ROOM>``: one key per caller waiting (by channel Uniqueid)."""
    return f"{LOBBY_FAMILY}/{room_id}"


# An AstDB key as DBGetTree gives it: "/conference/rooms/4321/pin"
_STORED_ROOM = re.compile(rf"^/{re.escape(ROOMS_FAMILY)}/([0-9]+)/")


def bridge_name(room_id: int) -> str:
    """The ConfBridge bridge of the room with stable id ``room_id``."""
    return f"{BRIDGE_PREFIX}{room_id}"


def room_of(bridge: str) -> int | None:
    """The room id of a bridge named by the dialplan, or None for any other bridge."""
    if not bridge.startswith(BRIDGE_PREFIX):
        return None
    rest = bridge[len(BRIDGE_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def option_letters(options: dict[str, bool]) -> str:
    """The ``opts`` value of a room's call options (``Room.options()``): "wml", or ""."""
    return "".join(letter for name, letter in OPTION_LETTERS.items() if options.get(name))


def room_family(conference_id: str) -> str:
    """The AstDB family holding one room's keys, by the conference ID callers type."""
    return f"{ROOMS_FAMILY}/{conference_id}"


def stored_conference_id(line: str) -> str | None:
    """The conference ID an AstDB key (``DBGetTree``'s ``Key``) is about, if any."""
    match = _STORED_ROOM.match(line.strip())
    return match.group(1) if match else None


def caller_number(text: str) -> str:
    """A caller ID number as the dialplan keeps it: only ``[0-9A-Za-z+]``, at most 32."""
    return _CALLER_NUMBER.sub("", text)[:32]


def endpoint_name(text: str) -> str:
    """An endpoint (phone account or trunk) name as the dialplan keeps it."""
    return _ENDPOINT.sub("", text)[:64]


def caller_key(endpoint: str, number: str) -> str:
    """Whose counters: the endpoint the call came in on and its caller ID number, both
    filtered as the dialplan filters them (``lockout-caller``): ``alice~alice``,
    ``trunk~+15551234567``."""
    return f"{endpoint_name(endpoint)}{CALLER_SEPARATOR}{caller_number(number)}"


def split_caller_key(key: str) -> tuple[str, str] | None:
    """(endpoint, number) of a :func:`caller_key`, or None for anything else."""
    endpoint, sep, number = key.partition(CALLER_SEPARATOR)
    if not sep or caller_key(endpoint, number) != key:
        return None
    return endpoint, number


def lockout_family(scope: str, *, room_id: int | None = None, caller: str | None = None) -> str:
    """The AstDB family of one lockout entry: ``pin`` needs both, ``id`` the caller,
    ``room`` the room."""
    parts = [LOCKOUTS_FAMILY, scope]
    if scope in (PIN_SCOPE, ROOM_SCOPE):
        if room_id is None:
            raise ValueError(f"a {scope} lockout needs a room")
        parts.append(str(room_id))
    if scope in (PIN_SCOPE, ID_SCOPE):
        if caller is None or split_caller_key(caller) is None:
            raise ValueError(f"a {scope} lockout needs a caller key, got {caller!r}")
        parts.append(caller)
    elif scope != ROOM_SCOPE:
        raise ValueError(f"no lockout scope {scope!r}")
    return "/".join(parts)
