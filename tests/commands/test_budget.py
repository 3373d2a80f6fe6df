"""The token bucket keeps Slack's per-minute tiers exactly; the queue lets rooms take turns."""

from __future__ import annotations

import random

from commands.budget import FairQueue, SlackBudget, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def most_in_a_window(times: list[float], window: float) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


def test_never_more_than_the_limit_in_any_window_even_after_a_quiet_spell() -> None:
    clock = Clock()
    bucket = TokenBucket(50, 60.0, clock=clock)
    rng = random.Random(7)
    sent: list[float] = []
    for busy in (180.0, 7.0, 95.0, 30.0):  # busy spells (a try every 0-100 ms), then a lull
        end = clock.now + busy
        while clock.now < end:
            clock.now += rng.random() / 10
            if bucket.take():
                sent.append(clock.now)
        clock.now += rng.choice([10.0, 45.0, 61.0])
    assert most_in_a_window(sent, 60.0) == 50  # the whole tier is used, never more
    assert len(sent) > 50 * 4


def test_the_sustained_rate_and_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 60.0, burst=2, clock=clock)
    assert bucket.take() and bucket.take() and not bucket.take()
    assert abs(bucket.delay() - 6.0) < 1e-9  # one token every 60/10 s
    clock.now = 6.0
    assert bucket.take() and not bucket.take()


def test_retry_after_pauses_the_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(50, clock=clock)
    bucket.pause(30)
    assert not bucket.take() and bucket.delay() == 30
    clock.now = 30
    assert bucket.take()


def test_default_tiers_with_a_margin() -> None:
    budget = SlackBudget(clock=Clock())
    assert (budget.bucket("chat.update").limit, budget.bucket("views.publish").limit) == (50, 100)
    assert budget.bucket("chat.update").window == 61.0
    assert budget.bucket("chat.update") is budget.bucket("chat.update")  # one, shared


def test_groups_take_turns_the_least_recently_served_first() -> None:
    queue: FairQueue[str] = FairQueue()
    for key in ("a1", "a2", "a3"):
        queue.add("A", key)
    assert queue.pop(lambda _k: True) == "a1"
    queue.add("B", "b1")
    queue.add("C", "c1")
    queue.add("A", "a2")  # already waiting: keeps its place
    order = [queue.pop(lambda _k: True) for _ in range(4)]
    assert order == ["b1", "c1", "a2", "a3"]
    assert queue.pop(lambda _k: True) is None and len(queue) == 0


def test_a_key_that_is_not_ready_lets_the_next_one_go() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.add("A", "a1")
    queue.add("B", "b1")
    assert queue.pop(lambda k: k != "a1") == "b1"
    assert list(queue) == ["a1"]


async def test_spend_waits_for_a_token_of_the_shared_bucket() -> None:
    """A live message sent outside LiveCards' queues (a lobby outcome) waits its turn in the
    same bucket: the third call in a 2-a-window budget goes a window later."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    budget = SlackBudget({"chat.update": 2}, window=10.0, clock=lambda: now[0])
    sent = []
    for _ in range(5):
        await budget.spend("chat.update", sleep)
        sent.append(now[0])
    assert sent == [0.0, 0.0, 10.0, 10.0, 20.0]
    assert budget.bucket("chat.update").spent() == 1
