"""``guard``: Bolt gets the acknowledgement as soon as the listener has it, the work after it
goes on in a task, and failures reach the right place. Listeners are called as Bolt calls
the guarded function, with its arguments (here a stand-in with the attributes guard reads)."""

from __future__ import annotations

import asyncio
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

import pytest
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.kwargs_injection.async_args import AsyncArgs

from bot.errors import RoomNotFound
from commands.guard import guard


class Respond:
    response_url = "https://hooks.slack.test/r1"  # no session to pool it on: used as it is

    def __init__(self) -> None:
        self.said: list[dict[str, Any]] = []

    async def __call__(self, **message: Any) -> None:
        self.said.append(message)


def bolt_args(**extra: Any) -> tuple[AsyncArgs, AsyncAck, Respond]:
    ack, respond = AsyncAck(), Respond()
    args = SimpleNamespace(
        ack=ack,
        respond=respond,
        client=SimpleNamespace(session=None),
        body={"command": "/conference", "text": "list", "user_id": "U1"},
        **extra,
    )
    return cast(AsyncArgs, args), ack, respond


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_answer_in_the_ack_runs_inline_and_starts_no_task() -> None:
    async def helps(ack: AsyncAck) -> None:
        await ack(text="help")

    args, ack, _ = bolt_args()
    before = len(asyncio.all_tasks())
    await guard(helps)(args)
    assert ack.response is not None and ack.response.body == "help"
    assert len(asyncio.all_tasks()) == before


async def test_work_after_an_empty_ack_goes_on_after_bolt_has_the_answer() -> None:
    steps: list[str] = []

    async def lists(ack: AsyncAck, respond: Respond) -> None:
        await ack()
        steps.append("acked")
        await respond(text="the rooms")  # would not wait on its own
        steps.append("responded")

    args, ack, respond = bolt_args()
    await guard(lists)(args)
    assert ack.response is not None and steps == []  # Bolt answers before any of the work
    await settle()
    assert steps == ["acked", "responded"] and respond.said == [{"text": "the rooms"}]


async def test_waits_before_the_ack_hold_the_answer_back() -> None:
    gate = asyncio.Event()

    async def saves(ack: AsyncAck) -> None:
        await gate.wait()  # a database write whose problems go in the ack
        await ack(response_action="errors", errors={"name": "taken"})

    args, ack, _ = bolt_args()
    guarded = asyncio.create_task(guard(saves)(args))
    await settle()
    assert not guarded.done() and ack.response is None
    gate.set()
    await guarded
    assert ack.response is not None and '"taken"' in ack.response.body


async def test_a_failure_before_the_ack_goes_to_bolts_error_handler() -> None:
    async def fails(ack: AsyncAck) -> None:
        await asyncio.sleep(0)
        raise RoomNotFound('There is no room named or numbered "x".')

    args, ack, respond = bolt_args()
    with pytest.raises(RoomNotFound):
        await guard(fails)(args)
    assert ack.response is None and respond.said == []


async def test_a_failure_after_the_ack_is_told_to_the_person() -> None:
    async def fails_later(ack: AsyncAck) -> None:
        await ack()
        await asyncio.sleep(0)
        raise RoomNotFound('There is no room named or numbered "x".')

    args, ack, respond = bolt_args()
    await guard(fails_later)(args)  # no exception: Bolt has its ack
    assert ack.response is not None
    await settle()
    assert respond.said == [
        {
            "text": 'There is no room named or numbered "x".',
            "response_type": "ephemeral",
            "replace_original": False,
        }
    ]


async def test_a_dependency_bound_first_is_not_a_bolt_argument() -> None:
    seen: list[object] = []

    async def listener(ctx: object, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        seen.append((ctx, body["user_id"]))

    args, ack, _ = bolt_args()
    guarded = guard(partial(listener, "the context"))
    assert guarded.__name__ == "listener"
    await guarded(args)
    await settle()
    assert seen == [("the context", "U1")]


@pytest.mark.parametrize("started", [True, False], ids=["waiting", "not yet resumed"])
async def test_an_event_listener_needs_no_ack_and_is_cancelled_cleanly(started: bool) -> None:
    seen: list[str] = []

    async def opened(event: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("cleaned up")

    args, _, _ = bolt_args(event={"type": "app_home_opened"})
    await guard(opened)(args)  # returns at its first wait: Bolt acknowledges events itself
    (task,) = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if started:
        await asyncio.sleep(0)  # the task now waits where the listener waited
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen == (["cancelled", "cleaned up"] if started else ["cleaned up"])
