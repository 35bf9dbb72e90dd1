"""Builders the composition root shares between the app, the CLI, evals, benches and tests (light imports only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from context.dbtypes import Clock
    from context.intake.connectors import Connections
    from contextdesk.settings import Settings
    from knowledge.embedders import Embedder


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
