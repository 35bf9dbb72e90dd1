"""The load pipeline of a business, from its one contextdesk.yaml: sync → resolve identities → recompute profiles.

The CLI (`contextdesk sync`, `demo run`), the eval and test fixtures and the benches all load a business through
`load_business`, so each reads the same YAML the same way (intake sources, identity rules, profile settings)
instead of spelling the three steps with defaults of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from context.dbtypes import Clock
    from context.identity.models import ResolveSummary
    from context.intake.models import SourceSummary
    from context.intake.service import ProgressCallback
    from context.profiles.models import RecomputeSummary


@dataclass(frozen=True)
class LoadReport:
    """What each step of a load did."""

    sources: list[SourceSummary]
    identity: ResolveSummary
    profiles: RecomputeSummary


def load_business(
    *,
    engine: Engine,
    config_file: Path,
    clock: Clock,
    source_names: Sequence[str] | None = None,
    workers: int = 1,
    on_progress: ProgressCallback | None = None,
) -> LoadReport:
    """Sync the configured sources, resolve the new records into customers, recompute the changed profiles."""
    from context.customer_context import load_context_config
    from context.identity.rules import load_rules
    from context.identity.service import resolve_pending
    from context.intake.config import load_intake_config
    from context.intake.service import sync
    from context.profiles.service import recompute_profiles

    sources = sync(
        engine=engine,
        config=load_intake_config(config_file),
        clock=clock,
        source_names=source_names,
        on_progress=on_progress,
        workers=workers,
    )
    identity = resolve_pending(engine=engine, rules=load_rules(config_file), now=clock())
    profiles = recompute_profiles(engine=engine, config=load_context_config(config_file).profiles, now=clock())
    return LoadReport(sources=sources, identity=identity, profiles=profiles)
