"""What the framework-against-framework benchmarks share (bench/fibers.py, bench/sync.py).

Every (framework, benchmark) pair runs in a fresh interpreter: the script runs
itself with ``--child FRAMEWORK BENCHMARK``, the child pins itself to one core
and prints its result as one JSON line, ``{"value": ...}``, ``{"skip": why}``
or ``{"error": what}``. The parent collects those lines and prints a Markdown
table on stdout, its progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, dict[str, Any]]]  # framework -> benchmark -> child's doc


class Skip(Exception):
    """The framework lacks what this benchmark needs."""


def best(reps: int, run: Callable[[], float]) -> float:
    """Smallest of *reps* timings: the run least disturbed by the rest of the machine."""
    times = []
    for _ in range(reps):
        gc.collect()
        times.append(run())
    return min(times)


def emit(doc: dict[str, Any]) -> None:
    print(json.dumps(doc), flush=True)


def child(measure: Callable[[], dict[str, Any]], import_error_skips: bool = False) -> None:
    """In the child: pin to one core, run *measure* and emit what it returns.

    Skip (and ImportError, if *import_error_skips*) becomes a skip; any other
    exception an error, reported in the table while the other benchmarks go on.
    """
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        doc = measure()
    except ImportError as e:
        if import_error_skips:
            doc = {"skip": f"import failed: {e}"}
        else:
            doc = {"error": f"{type(e).__name__}: {e}"}
    except Skip as e:
        doc = {"skip": str(e)}
    except Exception as e:
        doc = {"error": f"{type(e).__name__}: {e}"}
    emit(doc)


def run_child(
    script: str, framework: str, benchmark: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON line, or an error."""
    cmd = [
        sys.executable, script, "--child", framework, benchmark,
        "--reps", str(args.reps), "--scale", str(args.scale),
    ]  # fmt: skip
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        return {"error": f"exit status {r.returncode}: {tail}"}
    doc: dict[str, Any] = json.loads(lines[-1])
    return doc


def parse_args(
    doc: str | None, frameworks: list[str], benchmarks: list[str], reps: int, timeout: float
) -> argparse.Namespace:
    """The options every benchmark script takes; *reps* and *timeout* are its defaults."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frameworks", help="comma-separated subset of: " + ", ".join(frameworks))
    ap.add_argument("--benchmarks", help="comma-separated subset of: " + ", ".join(benchmarks))
    ap.add_argument("--reps", type=int, default=reps, help="timed runs per process (best is kept)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the iteration counts")
    ap.add_argument("--timeout", type=float, default=timeout, help="seconds per subprocess")
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "BENCHMARK"), help=argparse.SUPPRESS)
    return ap.parse_args()


def pick(names: str | None, known: list[str]) -> list[str]:
    """The names of the comma-separated *names* (all if None), in *known*'s order."""
    if names is None:
        return known
    chosen = {n.strip() for n in names.split(",")}
    if chosen - set(known):
        sys.exit(f"unknown: {', '.join(sorted(chosen - set(known)))}")
    return [k for k in known if k in chosen]


def run_all(
    script: str,
    frameworks: list[str],
    benchmarks: list[str],
    args: argparse.Namespace,
    progress: Callable[[str, str, dict[str, Any]], str],
) -> Results:
    """Every (framework, benchmark) pair in its own child; *progress* formats a stderr line."""
    results: Results = {}
    for fw in frameworks:
        for b in benchmarks:
            doc = run_child(script, fw, b, args)
            results.setdefault(fw, {})[b] = doc
            print(progress(fw, b, doc), file=sys.stderr, flush=True)
    return results


def print_header(title: str, script: str) -> str:
    """The report's title and the command that made it; returns the date."""
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{title}, {date}")
    print()
    print(f"    python {script} {' '.join(sys.argv[1:])}".rstrip())
    print()
    return date


def print_notes(
    results: Results, frameworks: list[str], expected: Container[tuple[str, str]] = ()
) -> None:
    """One line per skipped or failed measurement, except the *expected* ones."""
    notes = [
        f"- {fw} {b}: {doc.get('skip') or doc.get('error')}"
        for fw in frameworks
        for b, doc in results[fw].items()
        if "value" not in doc and (fw, b) not in expected
    ]
    if notes:
        print()
        print("\n".join(notes))


def write_json(path: Path | None, date: str, reps: int, results: Results) -> None:
    if path:
        doc = {"date": date, "argv": sys.argv, "reps": reps, "results": results}
        path.write_text(json.dumps(doc, indent=1) + "\n")
