"""``/conference server delete`` (admins): asks to confirm with a button, like the CLI asks."""

from __future__ import annotations

from commands import ids, render
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    if [a.lower() for a in args] == ["delete"]:
        return None
    return "Usage: `/conference server delete`."


async def run(inv: Invocation) -> None:
    if not await inv.require_admin("delete the conference server"):
        return
    server = await inv.service.require_server()
    confirm = {
        "title": render.plain("Delete the server?", 100),
        "text": render.plain("The conference server and its extension are removed.", 300),
        "confirm": render.plain("Delete", 30),
        "deny": render.plain("Cancel", 30),
        "style": "danger",
    }
    await inv.respond(
        response_type="ephemeral",
        text=f"Delete the conference server (extension {server.extension})?",
        blocks=[
            render.section(f"Delete the conference server (extension {server.extension})?"),
            {
                "type": "actions",
                "elements": [
                    render.button(
                        "Delete the server",
                        ids.CONFIRM_SERVER_DELETE,
                        "delete",
                        style="danger",
                        confirm=confirm,
                    )
                ],
            },
        ],
    )
