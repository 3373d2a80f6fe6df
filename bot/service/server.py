"""The conference server: its extension and phone number."""

from __future__ import annotations

from bot import errors
from bot.models import Server
from bot.rules import clean_extension, clean_phone_number
from bot.service.base import ServiceBase, no_server, now_iso


class ServerMixin(ServiceBase):
    """The one conference server: set it up, give it a phone number, delete it."""

    async def get_server(self) -> Server | None:
        async with self.repo.read():
            return await self.repo.get_server()

    async def require_server(self) -> Server:
        server = await self.get_server()
        if server is None:
            raise no_server()
        return server

    async def setup_server(self, extension: str, actor: str) -> Server:
        """Create the conference server, or change the extension of the existing one."""
        ext = clean_extension(extension)
        async with self.repo.write() as repo:
            if ext in await repo.conference_ids():
                room = await repo.room_by_conference_id(ext)
                assert room is not None
                raise errors.ConferenceIdIsExtension(
                    f'Extension {ext} is the conference ID of room "{room.name}". Pick another '
                    "extension, or change that room's conference ID first.",
                    field="extension",
                )
            before = await repo.get_server()
            now = now_iso()
            if before is None:
                await repo.insert_server(ext, actor, now)
                await self._audit(
                    actor,
                    "server.create",
                    "server",
                    f"Created the conference server on extension {ext}",
                    None,
                    {"extension": ext},
                )
            else:
                await repo.update_server(
                    extension=ext, phone_number=before.phone_number, actor=actor, now=now
                )
                await self._audit(
                    actor,
                    "server.update",
                    "server",
                    f"Extension {before.extension} -> {ext}",
                    {"extension": before.extension},
                    {"extension": ext},
                )
            server = await repo.get_server()
        assert server is not None
        await self._notify_server(server)
        return server

    async def assign_number(self, number: str, actor: str) -> Server:
        """Assign (or replace) the server's phone number."""
        clean = clean_phone_number(number)
        return await self._set_number(clean, actor)

    async def unassign_number(self, actor: str) -> Server:
        return await self._set_number(None, actor)

    async def _set_number(self, number: str | None, actor: str) -> Server:
        async with self.repo.write() as repo:
            before = await self._server_in(repo)
            old = before.phone_number
            if number is None and old is None:
                raise errors.NotFound("The conference server has no phone number to unassign.")
            await repo.update_server(
                extension=before.extension, phone_number=number, actor=actor, now=now_iso()
            )
            if number is None:
                action, summary = "number.unassign", f"Unassigned phone number {old}"
            elif old:
                action, summary = "number.assign", f"Phone number {old} -> {number}"
            else:
                action, summary = "number.assign", f"Assigned phone number {number}"
            await self._audit(
                actor, action, "server", summary, {"phone_number": old}, {"phone_number": number}
            )
            server = await repo.get_server()
        assert server is not None
        await self._notify_server(server)
        return server

    async def delete_server(self, actor: str) -> None:
        """Delete the server; refused, with what is left to do, while rooms or a number remain."""
        async with self.repo.write() as repo:
            server = await self._server_in(repo)
            rooms = await repo.list_rooms()
            todo: list[str] = []
            if rooms:
                # A few names, then a count: the message must stay short (a Slack message,
                # a terminal) however many rooms there are.
                names = ", ".join(f'"{r.name}" (ID {r.conference_id})' for r in rooms[:10])
                if len(rooms) > 10:
                    names += f" and {len(rooms) - 10} more"
                what = f"its {len(rooms)} rooms" if len(rooms) > 1 else "its room"
                todo.append(f"delete {what}: {names}")
            if server.phone_number:
                todo.append(f"unassign its phone number {server.phone_number}")
            if todo:
                raise errors.ServerNotEmpty(
                    "The conference server cannot be deleted yet. First "
                    + ", then ".join(todo)
                    + "."
                )
            await repo.delete_server()
            await self._audit(
                actor,
                "server.delete",
                "server",
                f"Deleted the conference server (extension {server.extension})",
                {"extension": server.extension},
                None,
            )
        await self._notify_server(None)
