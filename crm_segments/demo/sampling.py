"""Fast weighted choice for the demo generator (random.choices is several times slower per call)."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items with relative weights; ``pick`` draws one with a single ``rng.random()`` call."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        if not pairs:
            raise ValueError("Weighted needs at least one item")
        self._items = [item for item, _ in pairs]
        self._cumulative = list(accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect(self._cumulative, rng.random() * self._total)]

    @property
    def items(self) -> list[T]:
        return list(self._items)


# Plain-arithmetic draws: random.randrange/choice/randint cost several times more per call, which
# adds up over the tens of millions of draws in a large seed.
def below(rng: random.Random, n: int) -> int:
    """An integer in [0, n)."""
    return int(rng.random() * n)


def between(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def pick_one(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]
