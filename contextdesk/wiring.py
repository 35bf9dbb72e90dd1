"""Builders the composition root shares between the app, the CLI, evals, benches and tests (light imports only)."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from context.dbtypes import Clock
    from context.intake.connectors import Connections
    from context.live.lookup import LiveLookups
    from context.live.propagate import PropagationDeps
    from contextdesk.settings import Settings
    from knowledge.embedders import Embedder


def settle_startup_objects() -> None:
    """Put what start-up built (modules, classes, models, the app) out of the cyclic garbage collector's reach.

    A server process tracks ~100k long-lived objects after its imports; every full collection walks all of them
    again, 20-50 ms landing on whichever chat turn or webhook pass is running (the p99 of an incremental identity
    resolve was one such pass). Collected once first, so no garbage is frozen with them. Called by the long-running
    processes (`serve`'s workers, `contextdesk worker`) when they are ready, not by `create_app`: a test process
    builds hundreds of apps.
    """
    gc.collect()
    gc.freeze()


def build_embedder(settings: Settings) -> Embedder:
    """The embedder `CONTEXTDESK_EMBEDDER` names (settings validate the name, so there is no silent fallback)."""
    if settings.embedder == "openai":
        from knowledge.embedders import OpenAIEmbedder

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAIEmbedder(
            model=settings.openai_embedding_model,
            base_url=settings.llm_base_url,
            api_key=key,
            timeout_seconds=settings.llm_timeout_seconds,
        )
    if settings.embedder == "e5":
        from knowledge.embedders_e5 import E5Embedder

        return E5Embedder()
    from knowledge.embedders import MiniLMEmbedder

    return MiniLMEmbedder()


def build_connections(settings: Settings, *, clock: Clock) -> Connections:
    """How connectors reach vendors: the credentials of `CONTEXTDESK_SOURCES`, real sleeps, the given clock."""
    from context.intake.connectors import Connections

    return Connections(credentials=dict(settings.sources), clock=clock)


def build_propagation(settings: Settings, engine: Engine, *, clock: Clock) -> PropagationDeps:
    """Webhook processing for the configured sources: intake config, identity rules, profiles, connections."""
    from context.identity.rules import default_rules, load_rules
    from context.intake.config import IntakeConfig, load_intake_config, load_yaml
    from context.live.propagate import PropagationDeps
    from context.profiles.config import load_profiles_config

    path = settings.resolved_config_file
    # A contextdesk.yaml without sources (only agent settings, say) has nothing to receive or sync.
    has_sources = path is not None and "sources" in load_yaml(path)
    return PropagationDeps(
        engine=engine,
        intake=load_intake_config(path) if path and has_sources else IntakeConfig(),
        profiles=load_profiles_config(path),
        rules=load_rules(path) if path and has_sources else default_rules(),
        connections=build_connections(settings, clock=clock),
        clock=clock,
    )


def build_live_lookup(settings: Settings, propagation: PropagationDeps) -> LiveLookups | None:
    """Chat-time lookups for the sources with `live:` groups (None when no source has any), cache wired to webhooks."""
    from context.live.lookup import LiveLookups, live_connections

    timeout = settings.live_lookup_timeout_seconds
    lookup = LiveLookups(
        intake=propagation.intake,
        connections=live_connections(propagation.connections, timeout_s=timeout),
        clock=propagation.clock,
        timeout_s=timeout,
    )
    if not lookup.enabled:
        return None
    # A recomputed profile (a processed webhook, a sync) makes that customer's cached answers stale.
    propagation.on_change.append(lookup.forget_customers)
    return lookup
