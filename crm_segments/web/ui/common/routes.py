"""A page module's routes and template helpers, held until the UI blueprint is built.

A page module decorates its views with the same decorators a Blueprint has (``@routes.route``,
``@routes.app_template_global`` ...); they only note the call. The module's ``register`` then adds
them to the blueprint it is given, so importing a module changes nothing and the blueprint's
contents are decided by the one ordered list in ``crm_segments.web.ui``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint

F = TypeVar("F", bound=Callable[..., Any])


class PageRoutes:
    def __init__(self) -> None:
        self._deferred: list[Callable[[Blueprint], object]] = []

    def _defer(self, method: str, *args: Any, **options: Any) -> Callable[[F], F]:
        def decorator(function: F) -> F:
            self._deferred.append(lambda bp: getattr(bp, method)(*args, **options)(function))
            return function
        return decorator

    def route(self, rule: str, **options: Any) -> Callable[[F], F]:
        return self._defer("route", rule, **options)

    def get(self, rule: str, **options: Any) -> Callable[[F], F]:
        return self._defer("get", rule, **options)

    def post(self, rule: str, **options: Any) -> Callable[[F], F]:
        return self._defer("post", rule, **options)

    def app_template_global(self, name: str | None = None) -> Callable[[F], F]:
        return self._defer("app_template_global", name)

    def app_template_filter(self, name: str | None = None) -> Callable[[F], F]:
        return self._defer("app_template_filter", name)

    def app_context_processor(self, function: F) -> F:
        self._deferred.append(lambda bp: bp.app_context_processor(function))
        return function

    def add_to(self, bp: Blueprint) -> None:
        """Add every noted route and helper to ``bp``, in the order they were declared."""
        for add in self._deferred:
            add(bp)
