"""The admin check every admin-only listener shares: admins pass; anyone else is told so, in
one wording, and the attempt goes to the audit log.

(Room owners and guests are the service's rules: ``require_manager``, ``refuse_guest``.)
"""

from __future__ import annotations

from slack_bolt.context.respond.async_respond import AsyncRespond

from commands.context import SlackContext, actor

ONLY_ADMINS = (
    "Only workspace admins and owners, and the people listed in SLACK_ADMIN_USERS, "
    "can {what}. Nothing changed."
)


async def require_admin(
    ctx: SlackContext,
    user_id: str,
    respond: AsyncRespond,
    what: str,
    *,
    action: str = "slack.refused",
    target: str = "server",
) -> bool:
    """True for an admin. Anyone else is refused (``what``: what they tried, as in "only
    admins can ..."), and the audit log gets ``action`` on ``target``."""
    if await ctx.admins.is_admin(user_id):
        return True
    await ctx.deps.service.record(actor(user_id), action, target, f"Not an admin: {what}")
    await respond(
        text=ONLY_ADMINS.format(what=what), response_type="ephemeral", replace_original=False
    )
    return False
