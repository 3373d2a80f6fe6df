"""Running a listener so that Slack gets its acknowledgement the moment the listener has it.

The app runs with ``process_before_response=True``: Bolt answers Slack when the registered
function returns. ``guard`` runs the listener right there, in Bolt's own task, up to the
point where it has acknowledged and then waits for something (a database read, a Web API
call, or the yield after an empty ``ack()``): the rest of it becomes a task, and Bolt answers
at once, in the same step of the event loop. A listener that answers in the ack itself and
ends there (help, usage, a form error) costs no task at all.

What a listener raises before ``ack()`` goes to Bolt's error handler
(``commands.error_handler``), which answers in the acknowledgement itself; what it raises
after is reported here, to the person, with the same wording.

(Bolt's own background mode polls for the ack every 10 ms, and loses the ack when a listener
fails after it, so Slack would wait out its 3-second timeout.)
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.response import BoltResponse

from commands.error_handler import deliver, message_for
from commands.respond import pooled

Listener = Callable[..., Coroutine[Any, Any, None]]

_FINISHED = object()  # what _drive returns once the listener has returned
_NOT_STARTED = object()


@types.coroutine
def _drive(
    coro: Coroutine[Any, Any, None], hand_off: Callable[[], bool], waiting: Any = _NOT_STARTED
) -> Generator[Any, Any, Any]:
    """Run ``coro`` in the task that awaits this, as ``await coro`` would, but stop where it
    suspends while ``hand_off()`` is true: then return what it is waiting on, and
    ``_drive(coro, never, waiting)`` awaited in another task runs the rest. Returns
    ``_FINISHED`` once the coroutine has returned; passes on what it raises."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        if waiting is not _NOT_STARTED:
            try:
                sent, thrown = (yield waiting), None  # the task waits, as for the coroutine
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a failed wait, or a cancellation: the coroutine's
                sent, thrown = None, exc
        try:
            waiting = coro.send(sent) if thrown is None else coro.throw(thrown)
        except StopIteration:
            return _FINISHED
        if hand_off():
            return waiting


def _never() -> bool:
    return False


class _AckThenYield:
    """The ``ack`` a guarded listener gets: Bolt's, followed by a yield to the event loop
    when the acknowledgement is empty. An empty ack means that work follows (a listener
    with nothing more to do answers in the ack itself), and at that yield ``guard`` hands
    the work to a task; so work that would not wait on its own (the room list comes from
    memory) runs after Slack has its answer, not before."""

    def __init__(self, ack: AsyncAck) -> None:
        self._ack = ack

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await self._ack(*args, **kwargs)
        if not args and not kwargs:
            await asyncio.sleep(0)
        return response


def guard(listener: Listener) -> Callable[[AsyncArgs], Coroutine[Any, Any, None]]:
    """Wrap a listener for ``app.command``/``action``/``view``/``event``.

    It gets Bolt's arguments by parameter name, as Bolt itself gives them, with ``respond``
    over the app's HTTP session. Dependencies are bound first, positionally
    (``functools.partial(listener, ctx)``), so they are not parameters Bolt sees.
    """
    names = list(inspect.signature(listener).parameters)
    wants_ack = "ack" in names  # Bolt acknowledges events itself, after the listener
    running: set[asyncio.Task[None]] = set()  # the tasks finishing its runs, kept from the GC

    async def guarded(args: AsyncArgs) -> None:
        kwargs = {name: getattr(args, name) for name in names}
        if "respond" in kwargs:
            kwargs["respond"] = pooled(args.respond, args.client)
        ack = args.ack
        if wants_ack:
            kwargs["ack"] = _AckThenYield(ack)

        def acked() -> bool:
            return not wants_ack or ack.response is not None

        coro = listener(**kwargs)
        try:
            waiting = await _drive(coro, acked)
        except Exception as error:
            if not acked():
                raise  # Bolt's error handler answers in the acknowledgement
            _spawn(running, _report(error, args))
            return
        if waiting is not _FINISHED:
            task = _spawn(running, _finish(coro, waiting, args))
            # A task cancelled before its first step never runs _finish: close the listener
            # then, so its ``finally`` blocks run (afterwards closing it changes nothing).
            task.add_done_callback(lambda _: coro.close())

    # Bolt injects arguments by parameter name, so ``guarded`` must not look like
    # ``listener`` to inspect (no functools.wraps); the names are for Bolt's log lines.
    named = getattr(listener, "func", listener)  # a functools.partial names its function
    guarded.__name__ = named.__name__
    guarded.__qualname__ = named.__qualname__
    return guarded


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any, args: AsyncArgs) -> None:
    try:
        await _drive(coro, _never, waiting)
    except Exception as error:
        await _report(error, args)


async def _report(error: Exception, args: AsyncArgs) -> None:
    body = args.body
    await deliver(message_for(error, body), body, args.client, pooled(args.respond, args.client))


def _spawn(running: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(work)
    running.add(task)
    task.add_done_callback(running.discard)
    return task
