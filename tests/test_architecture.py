"""The import-linter contracts in pyproject.toml hold and really reject imports against the flow; docs/architecture.md
names only code that exists."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contextdesk", "evals", "handoff", "agent", "context", "knowledge")

# In a subprocess so the linter's sys.path change and grimp's module cache never leak into other tests.
_LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [sys.executable, "-c", _LINT], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's Python sources and its pyproject.toml (with the contracts), copied to a temporary directory."""
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name,
            tmp_path / name,
            # Only the import graph matters; skipping data keeps the copy small (the demo data is megabytes).
            ignore=lambda d, names: [n for n in names if not n.endswith(".py") and not (Path(d) / n).is_dir()],
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_the_one_way_flow() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_copy_without_changes_passes(project_copy: Path) -> None:
    # Guards the two tests below: they fail because of the planted import, not because the copy is broken.
    result = _lint(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upstream_package_importing_a_downstream_one_breaks_the_flow(project_copy: Path) -> None:
    # A lazy import inside a function, the way a shortcut usually sneaks in.
    (project_copy / "context" / "profiles" / "shortcut.py").write_text(
        '"""Planted violation."""\n\n\ndef reply() -> object:\n    from agent import service\n\n    return service\n'
    )
    result = _lint(project_copy)
    assert result.returncode != 0
    assert "Data flows one way" in result.stdout and "BROKEN" in result.stdout
    assert "context.profiles.shortcut -> agent" in result.stdout


def test_a_sibling_importing_the_other_sibling_breaks_the_flow(project_copy: Path) -> None:
    (project_copy / "knowledge" / "shortcut.py").write_text('"""Planted violation."""\n\nimport context.profiles\n')
    result = _lint(project_copy)
    assert result.returncode != 0
    assert "knowledge.shortcut -> context.profiles" in result.stdout


def test_intake_importing_profiles_breaks_the_order_inside_context(project_copy: Path) -> None:
    (project_copy / "context" / "intake" / "shortcut.py").write_text(
        '"""Planted violation."""\n\nfrom context.profiles import service\n'
    )
    result = _lint(project_copy)
    assert result.returncode != 0
    assert "Inside context" in result.stdout
    assert "context.intake.shortcut -> context.profiles.service" in result.stdout


def test_a_new_module_in_context_must_be_given_a_layer(project_copy: Path) -> None:
    (project_copy / "context" / "helpers.py").write_text('"""A module the contract does not place yet."""\n')
    result = _lint(project_copy)
    assert result.returncode != 0
    assert "not listed as layers" in result.stdout and "- context.helpers" in result.stdout


def _resolves(dotted: str) -> bool:
    """Whether `dotted` is an importable module or an attribute path inside one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_the_architecture_doc_names_only_code_that_exists() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    quoted = re.findall(r"`([^`\s]+)`", doc)
    files = (".yaml", ".yml", ".md", ".toml", ".py")  # `contextdesk.yaml` is a file name, not a module
    names = [q for q in quoted if re.fullmatch(rf"(?:{'|'.join(PACKAGES)})(?:\.\w+)+", q) and not q.endswith(files)]
    paths = [q for q in quoted if "/" in q and q.split("/", 1)[0] in PACKAGES]
    assert len(names) > 40 and len(paths) > 3  # the doc is written in these names; a rewrite must keep them
    assert [n for n in names if not _resolves(n)] == []
    assert [p for p in paths if not (ROOT / p).exists()] == []
