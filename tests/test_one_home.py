"""One home per concept: who may import the demo, who counts tokens, who parses phone numbers.

Each check scans the production packages' source (imports inside functions included) and compares what
it finds with the owners listed here. Known debts are listed explicitly, with what paying them needs: the
test fails when a new one appears and also when a listed one is paid, so the list stays true.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contextdesk", "evals", "handoff", "agent", "context", "knowledge")
DEMO_PACKAGES = ("demo",)


@functools.cache
def _modules() -> tuple[tuple[str, ast.Module], ...]:
    """(path relative to the repository, parsed module) of every production module."""
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("contextdesk/migrations/versions/"):
                continue  # frozen history, not code that runs with the app
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)))
    return tuple(out)


def _imported(tree: ast.Module) -> set[str]:
    """Every module name an import statement anywhere in `tree` names (`from a import b` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _importers_of(targets: tuple[str, ...]) -> set[str]:
    return {
        rel
        for rel, tree in _modules()
        if any(name == t or name.startswith(t + ".") for name in _imported(tree) for t in targets)
    }


def test_no_production_package_imports_the_demo() -> None:
    # The demo is its own top-level package (demo/): the data spine knows nothing of it. Only the composition
    # root wires it in: the CLI (`contextdesk demo ...`, `kb ... --demo`, `eval` on the demo suite) and the demo
    # page's signed personas (contextdesk/demo_routes.py, served only when the app runs in demo mode).
    def allowed(rel: str) -> bool:
        return rel.startswith("contextdesk/cli/") or rel == "contextdesk/demo_routes.py"

    importers = {rel for rel in _importers_of(DEMO_PACKAGES) if not allowed(rel)}
    assert importers == set(), "production modules must not import the demo"


def test_cl100k_token_counting_has_one_home() -> None:
    owner = "context/tokens.py"  # upstream of the context renderer, the prompt budget and the LLM layer
    users = _importers_of(("tiktoken",))
    assert users == {owner}


def test_only_the_listed_functions_count_tokens() -> None:
    expected = {
        ("context/tokens.py", "count_tokens"),
        # Chat-format overhead (per message, reply priming) on top of count_tokens; the LangChain hook reuses it.
        ("agent/llm/tokens.py", "count_message_tokens"),
        ("agent/llm/tokens.py", "count_chat_tokens"),
        ("agent/llm/openai_chat.py", "get_num_tokens_from_messages"),
        # A different tokenizer on purpose: chunks are sized in the embedding model's word pieces.
        ("knowledge/chunking.py", "minilm_token_counter"),
    }
    found = {
        (rel, node.name)
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and ("count" in node.name or "num" in node.name)
        and "token" in node.name
    }
    assert found == expected


def test_phone_numbers_are_parsed_in_intake_standardization() -> None:
    owner = "context/intake/standardize.py"
    users = _importers_of(("phonenumbers",))
    assert users == {owner}


def _string_literals(tree: ast.Module) -> Iterator[str]:
    """String constants in code (f-string parts included), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def test_the_demo_sources_id_formats_live_in_the_demo_config_only() -> None:
    # The demo's identifier formats (demo/mapping.py); a real business configures its own in
    # contextdesk.yaml, so code that spells them out works only on the demo's data.
    prefixes = ("stripe:", "shopify:customer:", "crm:contact:", "zendesk:user:")
    found = {rel for rel, tree in _modules() if any(s.startswith(prefixes) for s in _string_literals(tree))}
    assert found == set(), "demo identifier formats in production code"


def test_validation_errors_are_worded_in_one_place() -> None:
    # Every config, settings and suite error lists its invalid fields through context.errors.validation_problems;
    # the HTTP layer turns request validation into its structured per-field error body.
    owners = {"context/errors.py", "contextdesk/http_errors.py"}
    found = {
        rel
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "errors"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "exc"
    }
    assert found == owners


def test_core_tables_have_one_helper() -> None:
    # context.dbtypes.table_of is the one way to get a model's Core table.
    found = {
        rel
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "__table__"
    }
    assert found <= {"context/dbtypes.py", "contextdesk/models_registry.py", "contextdesk/migrations/env.py"}, found


def _string_sets(tree: ast.AST) -> list[frozenset[str]]:
    """Every tuple, list, set or Literal[...] of two or more plain strings in a module, as a set."""
    found = []
    for node in ast.walk(tree):
        elts = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elts = node.elts
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            elts = node.slice.elts
        if elts and len(elts) > 1 and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
            found.append(frozenset(str(e.value) for e in elts if isinstance(e, ast.Constant)))
    return found


def test_status_route_reason_and_section_vocabularies_have_one_home() -> None:
    # One Literal each, read with typing.get_args by its users: a second spelled-out copy is how they drifted.
    from agent.models import REASON_CODES, ROUTES
    from context.customer_context.models import CONTEXT_SECTIONS
    from context.profiles.models import ACCOUNT_STATUSES

    assert set(ROUTES) == (set(ACCOUNT_STATUSES) - {"unknown"}) | {"visitor"}
    owners = {
        frozenset(ACCOUNT_STATUSES): "context/profiles/models.py",
        frozenset(ROUTES): "agent/models.py",
        frozenset(REASON_CODES): "agent/models.py",
        frozenset(CONTEXT_SECTIONS): "context/customer_context/models.py",
    }
    found = {
        (rel, owners[s]) for rel, tree in _modules() for s in _string_sets(tree) if s in owners and owners[s] != rel
    }
    assert found == set(), "a vocabulary spelled out outside its owner"


def test_only_the_providers_helper_and_the_root_touch_app_state() -> None:
    # Routes take their dependencies through the Annotated providers of the owning package (docs/architecture.md);
    # those read `app.state` through context.appstate.wired, and only the composition root sets it.
    def touches_app_state(tree: ast.Module) -> bool:
        return any(
            isinstance(node, ast.Attribute) and node.attr == "state" and _attribute_name(node.value) == "app"
            for node in ast.walk(tree)
        )

    below_the_root = {rel for rel, tree in _modules() if touches_app_state(tree) and not rel.startswith("contextdesk/")}
    assert below_the_root == {"context/appstate.py"}, "a route reads app.state: declare a provider instead"


def _attribute_name(node: ast.expr) -> str | None:
    """The last name of `x.y.app` or `app` (None for anything else)."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None
