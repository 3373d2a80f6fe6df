"""Every block, action and callback ID the Slack front end uses, in one place.

Slack echoes these back in interaction payloads, so changing one breaks buttons on messages
already posted: add new IDs rather than renaming old ones.
"""

from __future__ import annotations

COMMAND = "/conference"

# -- modals (callback IDs) -------------------------------------------------------------------
CREATE_VIEW = "room_create"
EDIT_VIEW = "room_edit"
DELETE_VIEW = "room_delete"
SHARE_VIEW = "room_share"
APOLOGY_VIEW = "apology"
HOME_VIEW = "home"
ROSTER_VIEW = "roster"  # "Show participants" (notify_on_close: forgotten when closed)

# -- input blocks (block IDs; inline errors are keyed by these) ------------------------------
NAME_BLOCK = "name"
CONFERENCE_ID_BLOCK = "conference_id"
PIN_BLOCK = "pin"
REMOVE_PIN_BLOCK = "remove_pin"
LIMIT_BLOCK = "max_participants"
LANGUAGE_BLOCK = "language"
REASON_BLOCK = "reason"
CHANNEL_BLOCK = "channel"
INCLUDE_PIN_BLOCK = "include_pin"
MODERATOR_PIN_BLOCK = "moderator_pin"
OPTIONS_BLOCK = "call_options"  # one checkbox per call option; option values: Room.options()

# The element inside each input block: one per block, so the action ID can be shared.
INPUT = "value"

# A domain error's ``field`` -> the input block that shows it.
FIELD_BLOCKS = {
    "name": NAME_BLOCK,
    "conference_id": CONFERENCE_ID_BLOCK,
    "pin": PIN_BLOCK,
    "max_participants": LIMIT_BLOCK,
    "language": LANGUAGE_BLOCK,
    "reason": REASON_BLOCK,
    "moderator_pin": MODERATOR_PIN_BLOCK,
    "options": OPTIONS_BLOCK,
}

# -- buttons (action IDs) ---------------------------------------------------------------------
HELP_CREATE = "help_create"
HELP_LIST = "help_list"
ROOM_EDIT = "room_edit"
ROOM_SHARE = "room_share"
ROOM_DELETE = "room_delete"
APPROVE_DELETION = "deletion_approve"
DENY_DELETION = "deletion_deny"
CONFIRM_SERVER_DELETE = "server_delete_confirm"
# The admins' alert of a room under PIN guessing ("Change PIN" is ROOM_EDIT).
LOCK_PIN_ENTRY = "lockout_lock_pin_entry"
UNLOCK_PIN_ENTRY = "lockout_unlock_pin_entry"
# The roster: opened from a dial-in card or the Home tab (value: the room id); in the modal,
# per caller (value "ROOM_ID:UNIQUEID") and per room (value: the room id).
SHOW_PARTICIPANTS = "roster_show"
ROSTER_MUTE = "roster_mute"
ROSTER_UNMUTE = "roster_unmute"
ROSTER_KICK = "roster_kick"
ROSTER_MUTE_OTHERS = "roster_mute_others"
ROSTER_LOCK = "roster_lock"
ROSTER_UNLOCK = "roster_unlock"
ROSTER_RECORD_START = "roster_record_start"
ROSTER_RECORD_STOP = "roster_record_stop"
ROSTER_END = "roster_end"

# Block IDs of messages the app updates later.
DECISION_BLOCK = "deletion_decision"
LOCKOUT_ACTIONS_BLOCK = "lockout_actions"
LOCKOUT_STATE_BLOCK = "lockout_state"

# The lobby (issue 11): Admit and Refuse on the message asking a room's owners.
LOBBY_ADMIT = "lobby_admit"
LOBBY_REFUSE = "lobby_refuse"
LOBBY_ACTIONS_BLOCK = "lobby_actions"
LOBBY_STATE_BLOCK = "lobby_state"

# Browser join (issue 12): on every dial-in card and in the roster (value: the room id).
JOIN_FROM_BROWSER = "web_join"
