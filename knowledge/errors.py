"""Exceptions of the `knowledge` package.

KnowledgeError                    root: anything raised on purpose by knowledge/
├── DocumentError                 one document could not be read or parsed (names the file/URL and the field)
├── EmbedderError                 the embedding model is missing, misconfigured or failed
│   └── EmbedderMismatchError     the index was built with another embedder than the one asked to query it
├── StoreError                    the vector store (Chroma) could not be opened or written
└── EvalSetError                  a labelled question file is invalid (names the file, question id and field)
"""

from __future__ import annotations


class KnowledgeError(Exception):
    """Root of every error raised on purpose by the knowledge package."""


class DocumentError(KnowledgeError):
    """A document could not be read or parsed; reported per document, never stops an ingest run."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.problem = message


class EmbedderError(KnowledgeError):
    """The embedder could not be loaded or failed to embed."""


class EmbedderMismatchError(EmbedderError):
    """An index built with one embedder is queried or extended with another (vectors would be garbage)."""

    def __init__(self, where: str, indexed: str, configured: str) -> None:
        super().__init__(
            f"the knowledge index at {where} was built with embedder {indexed}, but the configured embedder "
            f"is {configured}: configure the same embedder, or rebuild the index "
            "(`contextdesk kb ingest --rebuild ...`)"
        )
        self.indexed = indexed
        self.configured = configured


class StoreError(KnowledgeError):
    """The vector store could not be opened or written."""


class EvalSetError(KnowledgeError):
    """A labelled question set is invalid."""
