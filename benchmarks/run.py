"""Run benchmark scenarios and record wall time and peak memory.

    python -m benchmarks.run seed --profiles 100000 --profiles 1000000
    python -m benchmarks.run --list

Each scenario runs in a fresh child process, so its peak RSS is its own (getrusage of that process,
plus the largest process it started). By default every run gets a freshly made and migrated
private PostgreSQL database (``crm_bench`` on 127.0.0.1), dropped afterwards unless ``--keep``;
``--schema models`` builds the schema from the models instead of the migrations.
Results are appended as JSON lines to benchmarks/results/results.jsonl and printed as a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.database import (
    DEFAULT_ADMIN_URL,
    DEFAULT_DATABASE,
    drop_database,
    recreate_database,
    server_version,
)

RESULTS = Path(__file__).resolve().parent / "results" / "results.jsonl"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.registry import load_scenarios

    scenarios = load_scenarios()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all")
    parser.add_argument("--profiles", type=int, action="append",
                        help="profile count; repeat for several sizes (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="use this (migrated, empty) database instead of a private one")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="where the private database is created (default: %(default)s)")
    parser.add_argument("--database-name", default=DEFAULT_DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the private database after the run")
    parser.add_argument("--schema", choices=("migrations", "models"), default="migrations",
                        help="build the schema with the Alembic migrations (default) or straight from "
                             "the models (when the models are ahead of the migration)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="JSON-lines file the results are appended to (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)

    if args.list:
        for scenario in scenarios.values():
            print(f"{scenario.name:<20} {scenario.description}")
        return 0
    names = args.scenarios or list(scenarios)
    unknown = [name for name in names if name not in scenarios]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(scenarios)}")
    sizes = args.profiles or [100_000]
    if any(size < 1 for size in sizes):
        parser.error("--profiles must be at least 1")

    results = []
    for name in names:
        for profiles in sizes:
            result = run_one(name, profiles=profiles, seed=args.seed, database_url=args.database_url,
                             admin_url=args.admin_url, database_name=args.database_name, keep=args.keep,
                             schema=args.schema)
            record(result, args.results)
            results.append(result)
            outcome = result["error"] if "error" in result else f"{result['seconds']:.1f} s"
            print(f"{name} @ {profiles:,}: {outcome}", file=sys.stderr, flush=True)
    print(table(results))
    return 1 if any("error" in result for result in results) else 0


def run_one(name: str, *, profiles: int, seed: int, database_url: str | None, admin_url: str,
            database_name: str, keep: bool, schema: str = "migrations") -> dict[str, Any]:
    url = database_url or recreate_database(admin_url, database_name)
    try:
        build_schema(url, schema)
        from benchmarks.registry import SCENARIOS

        load_before = os.getloadavg()
        if SCENARIOS[name].prepare is not None:
            _in_child("prepare", name, url, profiles, seed)
        outcome = _in_child("run", name, url, profiles, seed)
        load_after = os.getloadavg()
    finally:
        if database_url is None and not keep:
            drop_database(admin_url, database_name)
    return {
        "scenario": name, "profiles": profiles, "seed": seed, "schema": schema,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": server_version(admin_url if database_url is None else url),
        "commit": _commit(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
        **outcome,
    }


def build_schema(url: str, schema: str) -> None:
    if schema == "migrations":
        from crm_segments import migrate

        migrate.upgrade(url)
        return
    import crm_segments.models  # noqa: F401  (fills Base.metadata)
    from crm_segments.db import Base, make_engine

    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def _in_child(step: str, name: str, url: str, profiles: int, seed: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(step, name, url, profiles, seed, sender))
    process.start()
    sender.close()
    try:
        outcome: dict[str, Any] = receiver.recv()
    except EOFError:
        outcome = {"error": f"the {step} process died (exit code {process.exitcode})"}
    process.join()
    if step == "prepare" and "error" in outcome:
        raise RuntimeError(f"preparing {name} failed: {outcome['error']}")
    return outcome


def _child(step: str, name: str, url: str, profiles: int, seed: int, sender: Any) -> None:
    from benchmarks.context import BenchContext
    from benchmarks.registry import load_scenarios

    scenario = load_scenarios()[name]
    context = BenchContext(database_url=url, profiles=profiles, seed=seed)
    try:
        if step == "prepare":
            assert scenario.prepare is not None
            scenario.prepare(context)
            sender.send({})
            return
        started = time.perf_counter()
        details = scenario.run(context)
        seconds = time.perf_counter() - started
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        sender.send({
            "seconds": round(seconds, 2),
            # ru_maxrss is in KiB on Linux; the children figure is the largest child, not a sum.
            "peak_rss_mb": round(own.ru_maxrss / 1024, 1),
            "peak_child_rss_mb": round(children.ru_maxrss / 1024, 1),
            "client_cpu_seconds": round(
                own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 1),
            **details,
        })
    except Exception:
        sender.send({"error": traceback.format_exc(limit=5)})
    finally:
        context.close()


def record(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(result, sort_keys=True) + "\n")


def table(results: list[dict[str, Any]]) -> str:
    header = ("scenario", "profiles", "seconds", "peak RSS MB (proc + child)", "rows", "rows/s",
              "the rows by COPY: s (with triggers / without)", "load before/after")
    lines = [header]
    for r in results:
        if "error" in r:
            lines.append((r["scenario"], f"{r['profiles']:,}", "error", "", "", "", "", ""))
            continue
        lines.append((
            r["scenario"], f"{r['profiles']:,}", f"{r['seconds']:.1f}",
            f"{r['peak_rss_mb']:.0f} + {r['peak_child_rss_mb']:.0f}",
            f"{r['total_rows']:,}" if "total_rows" in r else "",
            f"{r['rows_per_second']:,}" if "rows_per_second" in r else "",
            (f"{r['copy_seconds']:.1f} / {r['copy_without_triggers_seconds']:.1f}"
             if "copy_seconds" in r else ""),
            f"{r['load_average_before'][0]:.1f} / {r['load_average_after'][0]:.1f}",
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    rendered = [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
                for line in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
