"""Scenarios register themselves here with ``@scenario``; the runner looks them up by name."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.context import BenchContext

ScenarioFunction = Callable[[BenchContext], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: ScenarioFunction  # returns details to record (row counts, rates...); the runner times it
    prepare: Callable[[BenchContext], None] | None = None  # untimed set-up, in a process of its own


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, description: str, *, prepare: Callable[[BenchContext], None] | None = None
             ) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register a scenario. ``prepare`` (e.g. ``BenchContext.ensure_demo_data``) runs untimed first."""

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} is registered twice")
        SCENARIOS[name] = Scenario(name, description, function, prepare)
        return function

    return register


def load_scenarios() -> dict[str, Scenario]:
    """Import every module in benchmarks/scenarios/, so adding a scenario is adding a module."""
    import benchmarks.scenarios as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return SCENARIOS
