"""The intake commands as a user runs them: a real `contextdesk` process on a real data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.context.intake.factories import VALUE_MAPS, crm_row, crm_source, write_config, write_csv


def summary_row(output: str, source: str) -> list[str]:
    """The cells of a source's row in the printed sync summary table."""
    table = output.split("Sync summary", 1)[1]
    return next(line.split() for line in table.splitlines() if line.strip().startswith(source))


def run_cli(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTEXTDESK_HOME": str(home), "COLUMNS": "200"}
    env.pop("DATABASE_URL", None)
    env.pop("CONTEXTDESK_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "contextdesk.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_sync_prints_a_summary_and_quarantine_explains(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        [crm_row("1", email="jane@example.com"), crm_row("2", email="bob at example.com", phone="12")],
    )
    write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    home = tmp_path / "home"
    first = run_cli("sync", "--no-resolve", home=home, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Sync summary" in first.stdout
    assert summary_row(first.stdout, "crm")[1:5] == ["ok", "2", "2", "0"]  # status, read, new, changed

    second = run_cli("sync", "--no-resolve", home=home, cwd=tmp_path)
    assert summary_row(second.stdout, "crm")[1:6] == ["ok", "2", "0", "0", "2"]  # all unchanged

    listing = run_cli("quarantine", "list", home=home, cwd=tmp_path)
    assert listing.returncode == 0
    assert "bob at example.com" in listing.stdout and "invalid email address" in listing.stdout
    assert "not a valid phone number" in listing.stdout


def test_a_broken_source_exits_nonzero_and_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text('contact_id,email\n1,"unterminated\n', encoding="utf-8")
    write_config(tmp_path, [crm_source(fields={"email": "email"}, required=[], identifiers={})], value_maps=VALUE_MAPS)
    result = run_cli("sync", "--no-resolve", home=tmp_path / "home", cwd=tmp_path)
    assert result.returncode == 1
    assert "crm.csv" in result.stdout and "line 2" in result.stdout


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("sync", home=tmp_path / "home", cwd=tmp_path)
    assert result.returncode == 1
    assert "no contextdesk.yaml found" in result.stderr


def test_invalid_settings_and_unreachable_database_are_one_clear_line(tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("1", email="jane@example.com")])
    write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    env = {**os.environ, "CONTEXTDESK_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    bad_key = subprocess.run(
        [sys.executable, "-m", "contextdesk.cli", "sync"],
        cwd=tmp_path,
        env={**env, "CONTEXTDESK_API_KEY": "short"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad_key.returncode == 1 and "Traceback" not in bad_key.stderr
    assert "CONTEXTDESK_API_KEY must be at least 16 characters" in bad_key.stderr
    no_db = subprocess.run(
        [sys.executable, "-m", "contextdesk.cli", "sync"],
        cwd=tmp_path,
        env={**env, "DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert no_db.returncode == 1 and "Traceback" not in no_db.stderr
    assert "cannot use the database at" in no_db.stderr and "secret" not in no_db.stderr
