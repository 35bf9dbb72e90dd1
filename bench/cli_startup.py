"""Benchmark `contextdesk` start-up: how long `--help` and the light commands take, with the goal beside them.

    python bench/cli_startup.py [--runs 5]

Syncs a three-customer business into a fresh data dir (not timed), then runs each command --runs times as
a new process and prints the median wall time, the goal (≤ 1 s), and two ratios against baselines measured
in the same run, so a loaded machine shows up in the baselines too:

- `python -c pass`: the interpreter alone;
- `python -c "import sqlalchemy, pydantic_settings"`: the floor of any command that opens the database (what
  is left above it is our own code). The light reads go through Core (context/readtables.py): no sqlmodel, no
  ORM, so those are not in the floor.

Byte-code is cached (in the temporary folder) as in an installed package, even under PYTHONDONTWRITEBYTECODE.
A command that fails is an error in the table, not a fast figure: each is run once with check=True first.

It also lists which heavy libraries each command imported (none of langchain, chromadb, splink, onnxruntime,
openai, tiktoken, nor sqlmodel and its ORM, is the point).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# `python bench/x.py` puts bench/ first on sys.path; drop it so a bench script never shadows a package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

GOAL_SECONDS = 1.0
HEAVY = (
    "langchain",
    "langchain_core",
    "chromadb",
    "splink",
    "onnxruntime",
    "duckdb",
    "openai",
    "tiktoken",
    "numpy",
    "sqlmodel",
)

CSV = """contact_id,email,first_name,last_name,phone,updated
c1,jane@example.com,Jane,Doe,+1 415 555 0101,2024-05-01
c2,bob@example.com,Bob,Roe,+1 415 555 0102,2024-05-02
c3,ann@example.com,Ann,Poe,,2024-05-03
"""

CONFIG = """sources:
  - name: crm
    kind: csv
    path: crm.csv
    id: contact_id
    updated_at: updated
    fields:
      email: email
      first_name: first_name
      last_name: last_name
      phone: phone
"""


def timed(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int) -> tuple[float, float]:
    """(median, best) wall time of running argv as a fresh process; the best shows the cost without load spikes."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def heavy_imports(argv: list[str], *, cwd: Path, env: dict[str, str]) -> list[str]:
    """Heavy top-level packages a command imported (read from `python -X importtime`)."""
    result = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], cwd=cwd, env=env, capture_output=True)
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.decode(errors="replace").splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return sorted(names & set(HEAVY))


def main() -> None:
    """Set up a small business, time the commands, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "crm.csv").write_text(CSV, encoding="utf-8")
        (folder / "contextdesk.yaml").write_text(CONFIG, encoding="utf-8")
        env = {**os.environ, "CONTEXTDESK_HOME": str(folder / "home"), "PYTHONPATH": str(root)}
        # Byte-code cached as an installed package has it (pip compiles on install): with
        # PYTHONDONTWRITEBYTECODE every run re-compiles our sources, ~0.1-0.2 s a user never pays.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        env.pop("DATABASE_URL", None)
        env.pop("CONTEXTDESK_DATABASE_URL", None)
        cli = [sys.executable, "-m", "contextdesk.cli"]
        subprocess.run([*cli, "sync"], cwd=folder, env=env, capture_output=True, check=True)

        floor_code = "import sqlalchemy, pydantic_settings"
        subprocess.run([sys.executable, "-c", floor_code], env=env, check=True)
        bare = timed([sys.executable, "-c", "pass"], cwd=folder, env=env, runs=args.runs)[0]
        floor = timed([sys.executable, "-c", floor_code], cwd=folder, env=env, runs=args.runs)[0]
        commands = {
            "contextdesk --help": [*cli, "--help"],
            "contextdesk customers show jane@example.com": [*cli, "customers", "show", "jane@example.com"],
            "contextdesk quarantine list": [*cli, "quarantine", "list"],
            "contextdesk identity review list": [*cli, "identity", "review", "list"],
        }
        print(f"baseline `python -c pass`: {bare:.3f} s; database floor `{floor_code}`: {floor:.3f} s")
        print(f"median (and best) of {args.runs} runs each; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        print()
        header = f"{'command':<44} {'median s':>8} {'best s':>7} {'goal':>7} {'× pass':>7} {'× floor':>8}"
        print(f"{header}  met (median)  heavy imports")
        for label, argv in commands.items():
            subprocess.run(argv, cwd=folder, env=env, capture_output=True, check=True)  # warm: byte-code written
            seconds, best = timed(argv, cwd=folder, env=env, runs=args.runs)
            heavy = heavy_imports(argv, cwd=folder, env=env)
            met = "yes" if seconds <= GOAL_SECONDS else "NO"
            ratios = f"{seconds / bare:>7.1f} {seconds / floor:>8.2f}"
            print(
                f"{label:<44} {seconds:>8.3f} {best:>7.3f} {'≤ 1.0':>7} {ratios}  {met:<12}  "
                + (", ".join(heavy) or "none")
            )


if __name__ == "__main__":
    main()
