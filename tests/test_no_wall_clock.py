"""Nothing below the composition root reads the wall clock: every "now" is injected (contextdesk.clock.system_now
is the one reader). Results then cannot depend on the day the code runs; `.ci/run` also runs the time-sensitive
tests under a clock moved a year ahead to prove it.

Durations (time.monotonic, time.perf_counter) are fine: they measure, they do not say what time it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every package below the composition root (contextdesk/).
BELOW_THE_ROOT = ("context", "knowledge", "agent", "handoff", "evals")

#: module-or-class attribute → why it reads the wall clock.
WALL_CLOCK_ATTRIBUTES = {
    ("datetime", "now"): "datetime.now()",
    ("datetime", "utcnow"): "datetime.utcnow()",
    ("datetime", "today"): "datetime.today()",
    ("date", "today"): "date.today()",
    ("time", "time"): "time.time()",
    ("time", "time_ns"): "time.time_ns()",
}
#: Functions that read the wall clock when called without a time argument.
NOW_WITHOUT_ARGUMENTS = {("time", "localtime"), ("time", "gmtime"), ("time", "ctime"), ("time", "strftime")}
NAMES = {"utcnow": "utcnow()", "formatdate": "formatdate() without a timestamp"}


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place in `source` that reads (or hands out a reference to) the wall clock."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            pair = _dotted(node)
            if pair in WALL_CLOCK_ATTRIBUTES:
                found.append((node.lineno, WALL_CLOCK_ATTRIBUTES[pair]))
        elif isinstance(node, ast.Call):
            pair = _dotted(node.func)
            if pair in NOW_WITHOUT_ARGUMENTS and len(node.args) < (2 if pair == ("time", "strftime") else 1):
                found.append((node.lineno, f"{pair[0]}.{pair[1]}() without a time"))
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name == "utcnow":
                found.append((node.lineno, NAMES[name]))
            if name == "formatdate" and not node.args:
                found.append((node.lineno, NAMES[name]))
        elif isinstance(node, ast.Name) and node.id == "utcnow" and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, "a reference to utcnow"))
    return sorted(set(found))


def test_no_module_below_the_composition_root_reads_the_wall_clock() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for package in BELOW_THE_ROOT
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for line, what in wall_clock_reads(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "read the injected clock instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "snippet",
    [
        "from datetime import datetime\nx = datetime.now()",
        "import datetime as dt\nfrom datetime import date\nd = date.today()",
        "import time\nstamp = int(time.time())",
        "import time\nday = time.strftime('%Y-%m-%d')",
        "from email.utils import formatdate\nh = formatdate(localtime=False)",
        "from dataclasses import field\nfrom datetime import datetime\nf = field(default_factory=datetime.now)",
    ],
)
def test_the_check_catches_each_way_of_reading_the_clock(snippet: str) -> None:
    assert wall_clock_reads(snippet), snippet


def test_durations_and_explicit_times_are_allowed() -> None:
    allowed = (
        "import time\nfrom datetime import UTC, datetime\n"
        "t0 = time.perf_counter()\nm = time.monotonic()\n"
        "s = time.strftime('%Y', time.gmtime(0))\nd = datetime.fromtimestamp(0, UTC)\n"
    )
    assert wall_clock_reads(allowed) == []
