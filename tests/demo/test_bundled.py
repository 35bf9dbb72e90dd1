"""The bundled demo business and the `contextdesk demo generate` command."""

from __future__ import annotations

import filecmp
from pathlib import Path

from typer.testing import CliRunner

from context.intake.config import load_intake_config
from contextdesk.cli import app
from demo import BUNDLED_CUSTOMERS, BUNDLED_SEED, DATA_DIR, bundled_config_path, generate
from demo.check import check_mapping
from demo.mapping import CONFIG_FILE, GROUND_TRUTH_FILE, SOURCE_FILES
from tests.demo.helpers import read_source, truth


def test_bundled_config_loads_and_maps_real_columns() -> None:
    path = bundled_config_path()
    assert path.is_file()
    assert {s.name for s in load_intake_config(path).sources} == set(SOURCE_FILES)
    assert check_mapping(path) == []


def test_bundled_data_is_what_the_generator_writes(tmp_path: Path) -> None:
    generate(tmp_path, customers=BUNDLED_CUSTOMERS, seed=BUNDLED_SEED)
    for name in [*SOURCE_FILES.values(), GROUND_TRUTH_FILE, CONFIG_FILE]:
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), f"{name} is stale: regenerate it"


def test_bundled_data_is_commit_sized_and_fully_labelled() -> None:
    assert sum(f.stat().st_size for f in DATA_DIR.iterdir()) < 10 * 1024 * 1024
    gt = truth(DATA_DIR)
    assert len(set(gt.values())) == BUNDLED_CUSTOMERS
    assert sum(len(read_source(DATA_DIR, s)) for s in SOURCE_FILES) == len(gt)


def test_cli_generate_writes_the_sources_and_prints_counts(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "generate", "--customers", "60", "--out", str(out), "--seed", "5"])
    assert result.exit_code == 0, result.output
    for name in SOURCE_FILES.values():
        assert (out / name).is_file()
        assert name in result.output
    crm_rows = len(read_source(out, "crm"))
    assert f"{crm_rows:,}" in result.output
    assert check_mapping(out / CONFIG_FILE) == []


def test_cli_generate_json_summary_and_bad_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "generate", "-n", "30", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"persons": 30' in result.output and '"total_records"' in result.output
    refused = CliRunner().invoke(app, ["demo", "generate", "-n", "5", "--out", str(tmp_path / "x")])
    assert refused.exit_code == 1
    assert "at least 12" in refused.output
    assert not (tmp_path / "x").exists()
