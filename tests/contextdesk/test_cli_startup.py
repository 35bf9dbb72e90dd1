"""`contextdesk --help` and the light commands start without the heavy libraries (start-up time).

The times themselves are printed by bench/cli_startup.py; here we assert the import graph, which is what
makes start-up fast and does not depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.context.intake.factories import VALUE_MAPS, crm_row, crm_source, write_config, write_csv

# stripe: the SDK loads only when a Stripe source is opened (context/intake/connectors/stripe.py).
# pyspark, py4j: only `identity link --engine spark` loads them (context/identity/sparklink.py).
HEAVY = (
    "langchain",
    "langchain_core",
    "langchain_openai",
    "chromadb",
    "splink",
    "onnxruntime",
    "duckdb",
    "openai",
    "stripe",
    "pyspark",
    "py4j",
)


def imported_modules(*args: str, cwd: Path) -> set[str]:
    """Top-level package names a real `contextdesk ARGS` process imported (from `python -X importtime`)."""
    return {name.split(".")[0] for name in imported_module_paths(*args, cwd=cwd)}


def imported_module_paths(*args: str, cwd: Path) -> set[str]:
    """Every module (dotted name) a real `contextdesk ARGS` process imported (from `python -X importtime`)."""
    env = {**os.environ, "CONTEXTDESK_HOME": str(cwd / "home")}
    env.pop("DATABASE_URL", None)
    env.pop("CONTEXTDESK_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "contextdesk.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "contextdesk" in names, result.stderr[-2000:]
    return names


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = imported_modules("--help", cwd=tmp_path)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    # Not even the database layer: --help only needs the command tree.
    assert "sqlalchemy" not in loaded


def test_light_commands_import_no_heavy_library(tmp_path: Path) -> None:
    # A real customer, so `customers show` builds a whole context (orders, status, identifiers).
    write_csv(tmp_path / "crm.csv", [crm_row("1", email="jane@example.com")])
    write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    env = {**os.environ, "CONTEXTDESK_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    env.pop("CONTEXTDESK_DATABASE_URL", None)
    synced = subprocess.run(
        [sys.executable, "-m", "contextdesk.cli", "sync"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert synced.returncode == 0, synced.stderr
    for command, reads in LIGHT_READS.items():
        modules = imported_module_paths(*command, cwd=tmp_path)
        loaded = {name.split(".")[0] for name in modules}
        # httpx is for connectors that call a vendor, numpy for scoring a batch of identities; a read of the
        # local store needs neither.
        heavy = loaded & {*HEAVY, "tiktoken", "httpx", "numpy"}
        assert not heavy, (command, sorted(heavy))
        # Nor the modules that define every table (each SQLModel table class costs 5-15 ms to build) or the
        # identity resolver: a read builds the tables it reads (context/intake/quarantine.py,
        # context/identity/reviews.py, context/identity/aliases.py, ...) and nothing else.
        unwanted = modules & (TABLE_MODULES - reads)
        assert not unwanted, (command, sorted(unwanted))
        assert not modules & RESOLVER, (command, sorted(modules & RESOLVER))
        # A read through the tables' Core copies (context/readtables.py) needs no ORM: no sqlmodel, no mapper.
        orm = modules & {"sqlmodel", "sqlalchemy.orm"}
        assert not orm, (command, sorted(orm))


#: Every module that defines the tables of a whole package (contextdesk.models_registry lists them).
TABLE_MODULES = {
    "context.intake.models",
    "context.canonical.models",
    "context.identity.models",
    "context.profiles.models",
    "agent.models",
    "handoff.models",
}
#: The identity resolver and its scoring: only resolving, merging or explaining needs them.
RESOLVER = {"context.identity.resolution", "context.identity.graph", "context.identity.scoring"}
#: The light reads, with the whole-package table modules each may build: none (each reads its tables, the
#: customer context its records, orders, tickets and profiles, through their Core copies in context/readtables.py).
LIGHT_READS: dict[tuple[str, ...], set[str]] = {
    ("quarantine", "list"): set(),
    ("customers", "show", "jane@example.com"): set(),
    ("identity", "review", "list"): set(),
}


def test_the_table_list_here_is_the_registry() -> None:
    from contextdesk.models_registry import TABLE_MODULES as REGISTERED

    assert {module.__name__ for module in REGISTERED} == TABLE_MODULES
