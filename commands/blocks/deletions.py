"""A deletion request in the admins' channel: with Approve and Deny, then with the verdict."""

from __future__ import annotations

from typing import Any

from bot.models import DeletionRequest
from commands import ids
from commands.blocks.kit import button, confirm_dialog, count_text, esc, section, who


def deletion_request(request: DeletionRequest, count: int, online: bool) -> dict[str, Any]:
    """The message in the admins' channel, with Approve and Deny."""
    reason = esc(request.reason) if request.reason else "_no reason given_"
    text = (
        f"{who(request.requester)} asks to delete room *{esc(request.room_name)}* "
        f"(conference ID `{request.conference_id}`)."
    )
    confirm = confirm_dialog(
        "Delete the room?",
        f'Room "{esc(request.room_name)}" is deleted and anyone in the call is disconnected.',
        "Delete",
    )
    return {
        "text": f"Deletion request #{request.id}: room {esc(request.room_name)}",
        "blocks": [
            section(f"*Deletion request #{request.id}*\n{text}"),
            section(f"*Reason:* {reason}\n*Right now:* {count_text(count, online)}"),
            {
                "type": "actions",
                "block_id": ids.DECISION_BLOCK,
                "elements": [
                    button(
                        "Approve",
                        ids.APPROVE_DELETION,
                        str(request.id),
                        style="danger",
                        confirm=confirm,
                    ),
                    button("Deny", ids.DENY_DELETION, str(request.id)),
                ],
            },
        ],
    }


def deletion_decided(request: DeletionRequest) -> dict[str, Any]:
    """The same message once decided: no buttons, who decided what."""
    verdict = {
        "approved": "approved; the room is deleted",
        "denied": "denied; the room stays",
        "cancelled": "cancelled",
    }.get(request.status.value, request.status.value)
    by = f" by {who(request.decided_by)}" if request.decided_by else ""
    reason = esc(request.reason) if request.reason else "_no reason given_"
    return {
        "text": f"Deletion request #{request.id}: {request.status.value}",
        "blocks": [
            section(
                f"*Deletion request #{request.id}*: room *{esc(request.room_name)}* "
                f"(conference ID `{request.conference_id}`), asked by {who(request.requester)}"
            ),
            section(f"*Reason:* {reason}"),
            section(f"*{verdict.capitalize()}*{by}.", block_id=ids.DECISION_BLOCK),
        ],
    }
