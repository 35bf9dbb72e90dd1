"""Benchmark: chat turn overhead without an LLM (identity, context, retrieval, prompt, grounded reply, persistence).

Builds the demo business (personas + generated people: generate → sync → resolve → profiles) in a scratch
SQLite database, indexes the demo help center with the bundled MiniLM, then runs 50 concurrent conversations
(verified personas and anonymous visitors), each asking a series of different, non-escalating questions
through the in-process chat service with the grounded responder. Prints per-turn latency p50/p99 and turns/s.

    python bench/chat.py                          # 50 conversations × 6 turns, all 47 demo articles
    python bench/chat.py --conversations 50 --turns 4 --articles 15

Goal (issue 6): p50 ≤ 25 ms, p99 ≤ 80 ms, ≥ 100 turns/s with no errors, on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from demo import context_config as demo_context_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from agent.config import parse_agent_config
from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from agent.visitor_identity import sign_identity
from context.identity import service as identity
from context.identity.rules import load_rules
from context.intake.config import load_intake_config
from context.intake.service import sync
from context.profiles import recompute_profiles
from contextdesk.clock import system_now
from contextdesk.db import make_engine, upgrade
from demo import generate
from demo.help_center import ARTICLES_DIR
from demo.personas import PERSONAS
from knowledge.embedders import MiniLMEmbedder
from knowledge.service import ingest
from knowledge.store import open_store
from tests.clock import NOW, tick

QUESTIONS = [
    "where is my order?",
    "how long do refunds take to reach my card?",
    "when does my plan renew?",
    "how do I update my payment method?",
    "do you ship internationally?",
    "how should I store loose leaf tea?",
    "what's included in the Plus box?",
    "my magic link login email never arrived",
]
SECRET = SecretStr("bench-identity-secret-0123456789")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=6, help="turns per conversation (≤ 8)")
    parser.add_argument("--customers", type=int, default=2000, help="demo people to generate")
    parser.add_argument("--articles", type=int, default=0, help="index only the first N demo articles (0 = all)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    try:
        t0 = time.perf_counter()
        data = generate(work / "demo", customers=args.customers, seed=7)
        engine = make_engine(f"sqlite:///{work / 'chat.db'}")
        upgrade(engine)
        sync(clock=tick, engine=engine, config=load_intake_config(data.config_path), workers=0)
        identity.resolve_pending(now=NOW, engine=engine, rules=load_rules(data.config_path))
        recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles)
        print(f"demo business ({args.customers} people) ready in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        articles = sorted(ARTICLES_DIR.glob("*.md"))
        if args.articles:
            folder = work / "help"
            folder.mkdir()
            for path in articles[: args.articles]:
                shutil.copy(path, folder / path.name)
            sources = [folder]
        else:
            sources = [ARTICLES_DIR]
        store = open_store(path=work / "chroma", embedder=MiniLMEmbedder())
        ingest(sources, store=store)
        print(f"help center indexed ({store.count()} chunks) in {time.perf_counter() - t0:.1f} s")

        limits = {
            "messages_per_minute_per_conversation": 10_000,
            "messages_per_minute_per_ip": 1_000_000,
            "conversations_per_minute_per_ip": 1_000_000,
        }
        deps = AgentDeps(
            engine=engine,
            now=system_now,
            config=parse_agent_config({"agent": {"limits": limits}}),
            store=store,
            identity_secret=SECRET,
        )
        # Warm-up: load the embedder, the BM25 index and the tokenizer once.
        warm = start_conversation(deps=deps, request=ConversationCreate())
        handle_message(deps=deps, conversation_id=warm.id, content="hello, do you sell tea?")

        emails = [p.email for p in PERSONAS]
        conversations = []
        for i in range(args.conversations):
            if i % 5 == 4:  # one in five is an anonymous visitor
                request = ConversationCreate()
            else:
                email = emails[i % len(emails)]
                request = ConversationCreate(
                    email=email, user_hash=sign_identity(secret=SECRET, kind="email", identifier=email)
                )
            conversations.append(start_conversation(deps=deps, request=request).id)

        latencies: list[float] = []
        errors: list[str] = []
        escalations = 0

        def run(index: int) -> None:
            nonlocal escalations
            cid = conversations[index]
            for turn in range(args.turns):
                question = QUESTIONS[(index + turn) % len(QUESTIONS)]
                t = time.perf_counter()
                try:
                    reply = handle_message(deps=deps, conversation_id=cid, content=question)
                except Exception as exc:  # a benchmark counts failures instead of stopping
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append((time.perf_counter() - t) * 1000)
                escalations += reply.escalation.escalate

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.conversations) as pool:
            list(pool.map(run, range(args.conversations)))
        wall = time.perf_counter() - t0
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{len(latencies)} turns in {args.conversations} concurrent conversations: "
            f"turn overhead p50 {p50:.1f} ms, p99 {p99:.1f} ms, {len(latencies) / wall:.1f} turns/s, "
            f"{len(errors)} errors, {escalations} escalations"
        )
        print("goal: p50 ≤ 25 ms, p99 ≤ 80 ms, ≥ 100 turns/s, no errors")
        for e in errors[:5]:
            print("  error:", e)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
