"""The pages are wired by explicit calls: crm_segments.web.ui lists every page module's register,
and nothing under web/ imports modules by name."""

from __future__ import annotations

import ast
from pathlib import Path

from flask import Flask

import crm_segments.web
from crm_segments.web import ui
from crm_segments.web.record_paths import install_record_paths

WEB = Path(crm_segments.web.__file__).parent


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
        elif isinstance(node, ast.Name) and node.id == "__import__":
            names.add("__import__")
    return names


def test_no_module_under_web_imports_modules_by_name() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 40  # the walk does find the pages
    offenders = [str(p.relative_to(WEB)) for p in modules
                 if {"importlib", "__import__"} & _imported_names(p)
                 or any(n.startswith("importlib.") for n in _imported_names(p))]
    assert offenders == []


def _routed_views(path: Path) -> set[str]:
    """Names of the functions a page module routes with ``@routes.route/get/post``."""
    return {node.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                and isinstance(d.func.value, ast.Name) and d.func.value.id == "routes"
                and d.func.attr in ("route", "get", "post") for d in node.decorator_list)}


def test_every_routed_view_of_every_page_module_is_on_the_app(app: Flask) -> None:
    views = {p.relative_to(WEB): names for p in (WEB / "ui").rglob("*.py") if (names := _routed_views(p))}
    assert len(views) > 20
    missing = {str(path): sorted(name for name in names if f"crm_ui.{name}" not in app.view_functions)
               for path, names in views.items()}
    assert {path: names for path, names in missing.items() if names} == {}


def test_each_app_gets_its_own_blueprint_with_the_same_pages(app: Flask) -> None:
    first, second = ui.create_blueprint(), ui.create_blueprint()
    assert first is not second
    other = Flask("other")
    install_record_paths(other)  # the record pages' <record_kind:...> converter
    other.register_blueprint(second)
    ours = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("crm_ui.")}
    theirs = {rule.endpoint for rule in other.url_map.iter_rules()}
    assert "crm_ui.profile" in ours and ours <= theirs | {"crm_ui.static"}
