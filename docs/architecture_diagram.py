"""Draw the packages of crm_segments and their imports as a Mermaid diagram, from the code itself.

    python docs/architecture_diagram.py          rewrite the diagram in docs/architecture.md and README.md
    python docs/architecture_diagram.py --check  exit 1 when either is out of date with the code

The layers are pyproject.toml's import-linter contract (the order `lint-imports` enforces); the
arrows are the imports between packages found by grimp, import-linter's own graph. An arrow that the
others already imply (A imports B, B imports C: A -> C is not drawn) is left out, so the picture shows
how the layers stack; `lint-imports` checks every import.
"""

from __future__ import annotations

import re
import sys
import tomllib
from itertools import pairwise
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "crm_segments"
TARGETS = (ROOT / "docs" / "architecture.md", ROOT / "README.md")
START, END = "<!-- import diagram: start -->", "<!-- import diagram: end -->"


def layers() -> list[list[str]]:
    """The contract's layers, top first, each a list of package names (without ``crm_segments.``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[name.strip().removeprefix(f"{PACKAGE}.") for name in re.split(r"[|:]", layer)]
            for layer in contract["layers"]]


def package_imports(packages: list[str]) -> set[tuple[str, str]]:
    """(importer, imported) for each pair of the given packages with a direct import between them."""
    graph = grimp.build_graph(PACKAGE)

    def package_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in packages else None

    found = set()
    for module in graph.modules:
        importer = package_of(module)
        for imported in map(package_of, graph.find_modules_directly_imported_by(module)):
            if importer and imported and importer != imported:
                found.add((importer, imported))
    return found


def without_implied(arrows: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Drop A -> C when a longer path A -> ... -> C exists (the graph has no circle between layers)."""

    def reaches(start: str, goal: str, skip: tuple[str, str]) -> bool:
        seen, todo = {start}, [start]
        while todo:
            node = todo.pop()
            for a, b in arrows:
                if a == node and (a, b) != skip and b not in seen:
                    if b == goal:
                        return True
                    seen.add(b)
                    todo.append(b)
        return False

    return {arrow for arrow in arrows if not reaches(*arrow, skip=arrow)}


def mermaid() -> str:
    stack = layers()
    packages = [name for layer in stack for name in layer]
    lines = ["```mermaid", "flowchart TB"]
    for number, layer in enumerate(stack, start=1):
        lines.append(f'  subgraph L{number}[" "]')
        lines.extend(f"    {name}" for name in layer)
        lines.append("  end")
    lines.extend(f"  L{upper} ~~~ L{lower}" for upper, lower in pairwise(range(1, len(stack) + 1)))
    lines.extend(f"  {a} --> {b}" for a, b in sorted(without_implied(package_imports(packages))))
    lines.append("```")
    return "\n".join(lines)


def with_diagram(text: str, diagram: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{diagram}\n{END}{after}"


def main(argv: list[str]) -> int:
    diagram = mermaid()
    stale = []
    for target in TARGETS:
        text = target.read_text()
        new = with_diagram(text, diagram)
        if new != text:
            stale.append(target.relative_to(ROOT))
            if "--check" not in argv:
                target.write_text(new)
    if stale and "--check" in argv:
        print(f"out of date with the code: {', '.join(map(str, stale))};"
              " run python docs/architecture_diagram.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
