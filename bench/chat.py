"""Benchmark: chat turns through the real HTTP server with the production worker set-up, grounded responder.

Loads the demo business (`contextdesk.pipeline.load_business`: generate → sync → resolve → profiles), indexes the
demo help center into a `chroma run` server (the embedded index if the `chroma` command is missing), starts
`contextdesk serve --workers N` (N = cores) with Redis rate limits when Redis answers, then prints, on SQLite and
on PostgreSQL (when 127.0.0.1:5432 answers):

- CPU per turn: one conversation alone, the server processes' (and Chroma server's) CPU time ÷ turns;
- the ceiling it implies: cores ÷ CPU per turn;
- throughput and latency p50/p99 at 50 concurrent conversations (verified personas and anonymous visitors asking
  different, non-escalating questions), errors, and throughput as a share of the ceiling;
- where a turn's time goes in the server at that load: the steps' times of each turn's trace (`step_ms`);
- open loop (`--rate R …`): turns arriving at R per second, evenly spaced, whatever the replies' pace: latency
  p50/p99 from each turn's scheduled arrival, and the achieved rate beside the offered one. The 50 closed-loop
  clients each wait for their reply, so there mean latency = 50 ÷ throughput and p99 ≤ 150 ms cannot hold below
  ~330 turns/s; the open loop shows the latency at a given offered load;
- time to the first checked sentence over SSE (`Accept: text/event-stream`) for concurrent conversations with a
  scripted model streaming at 50 tokens/s, p50/p99, and the whole streamed turn.

    python bench/chat.py                               # both databases, 50 conversations × 6 turns
    python bench/chat.py --db sqlite --turns 4 --customers 500
    python bench/chat.py --db sqlite --rate 100 150 200 --stream-conversations 0   # three open-loop rates

The load client runs on the same machine and takes CPU from the server: the figures are a lower bound. CPU per
turn counts the server processes and the Chroma server, not PostgreSQL's or Redis's own processes (on SQLite the
database work is inside the server processes). The machine's load average is printed beside: other work on the
machine lowers throughput and the share of the ceiling.
Goals (issue 14, 2 cores): ≥ 200 turns/s at 50 concurrent conversations with 0 errors, ≥ 80% of the ceiling,
p99 ≤ 150 ms; with a scripted model streaming at 50 tokens/s (the loopback server of tests/agent/fake_openai.py),
time to first sentence p50 ≤ 600 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import yaml
from sqlalchemy import text

from agent.visitor_identity import sign_identity
from contextdesk.db import make_engine, upgrade
from contextdesk.pipeline import load_business
from demo import generate
from demo.help_center import ARTICLES_DIR
from demo.personas import PERSONAS
from knowledge.embedders import MiniLMEmbedder
from knowledge.service import ingest
from knowledge.store import open_store
from tests.agent.fake_openai import FakeOpenAI, RecordedRequest, Scripted, answer_json
from tests.clock import tick

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
SECRET = "bench-identity-secret-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN = os.environ.get("CONTEXTDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_TPS, GOAL_SHARE, GOAL_P99_MS = 200.0, 0.80, 150.0
GOAL_TTFS_MS = 600.0
#: The scripted model's pace: ~4 characters a token, 50 tokens/s (issue 14's streaming goal).
TOKEN_CHARS, TOKENS_PER_S = 4, 50.0
STREAMED_ANSWER = (
    "Thanks for asking, I can help with that. "
    "Our help center has the details, and I have summarised them below for you. "
    "If anything is still unclear, just reply here and I will go through it with you step by step."
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    tick_hz = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick_hz
    return total


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _redis_answers() -> bool:
    try:
        from redis import Redis, RedisError

        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except (ImportError, RedisError):
        return False


def _postgres_answers() -> bool:
    try:
        with make_engine(POSTGRES_ADMIN).connect() as connection:
            connection.execute(text("select 1"))
        return True
    except Exception:
        return False


@contextmanager
def _chroma_server(path: Path) -> Iterator[tuple[int, int] | None]:
    """(port, pid) of a `chroma run` server on loopback, or None without the command."""
    command = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(command).exists():
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen(
        [command, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def _serve(env: dict[str, str], cwd: Path, workers: int) -> Iterator[tuple[str, list[int]]]:
    """`contextdesk serve --workers N`; yields (base URL, pids of the supervisor and its workers)."""
    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "contextdesk.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=cwd,
        env={**os.environ, **env, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit("contextdesk serve exited")
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        yield base, [proc.pid, *_children(proc.pid)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _identity(i: int) -> dict[str, str]:
    if i % 5 == 4:  # one in five is an anonymous visitor
        return {}
    email = PERSONAS[i % len(PERSONAS)].email
    return {"email": email, "user_hash": sign_identity(secret=SECRET, kind="email", identifier=email)}


async def _run(base: str, conversations: int, turns: int) -> tuple[list[float], list[str], float]:
    """`conversations` concurrent conversations of `turns` turns each: (latencies ms, errors, wall seconds)."""
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=conversations, max_keepalive_connections=conversations)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        ids = []
        for i in range(conversations):
            r = await client.post("/v1/conversations", json=_identity(i))
            ids.append(r.json()["id"])

        async def converse(index: int) -> None:
            for turn in range(turns):
                question = QUESTIONS[(index + turn) % len(QUESTIONS)]
                t = time.perf_counter()
                try:
                    r = await client.post(f"/v1/conversations/{ids[index]}/messages", json={"content": question})
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
                    continue
                latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(converse(i) for i in range(conversations)))
        return latencies, errors, time.perf_counter() - t0


async def _run_open(base: str, rate: float, seconds: float, turns: int) -> tuple[list[float], list[str], float, int]:
    """Open loop: turns arrive at `rate` per second, evenly spaced, for `seconds`, whatever the replies' pace.

    Arrival k is turn k // pool of conversation k % pool (pool = enough conversations of `turns` turns each), so a
    conversation's turns come pool ÷ rate seconds apart. Latency runs from the scheduled arrival, not from when
    the client got round to sending (a late send is the server's backlog too). Returns (latencies ms, errors,
    seconds from the first arrival to the last reply, arrivals offered).
    """
    total = max(1, round(rate * seconds))
    pool = max(1, -(-total // turns))
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        gate = asyncio.Semaphore(16)

        async def create(i: int) -> str:
            async with gate:
                r = await client.post("/v1/conversations", json=_identity(i))
                return str(r.json()["id"])

        ids = await asyncio.gather(*(create(i) for i in range(pool)))
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.25
        last_end = start

        async def arrive(k: int) -> None:
            nonlocal last_end
            at = start + k / rate
            await asyncio.sleep(max(0.0, at - loop.time()))
            index = k % pool
            question = QUESTIONS[(index + k // pool) % len(QUESTIONS)]
            try:
                r = await client.post(f"/v1/conversations/{ids[index]}/messages", json={"content": question})
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            end = loop.time()
            last_end = max(last_end, end)
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text[:200]}")
                return
            latencies.append((end - at) * 1000)

        await asyncio.gather(*(arrive(k) for k in range(total)))
    return latencies, errors, last_end - start, total


async def _run_streams(base: str, conversations: int, turns: int) -> tuple[list[float], list[float], list[str]]:
    """Concurrent conversations asking over SSE: (time to first sentence ms, whole turn ms, errors)."""
    first: list[float] = []
    whole: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=conversations, max_keepalive_connections=conversations)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        ids = [(await client.post("/v1/conversations", json=_identity(i))).json()["id"] for i in range(conversations)]

        async def converse(index: int) -> None:
            for turn in range(turns):
                question = QUESTIONS[(index + turn) % len(QUESTIONS)]
                t = time.perf_counter()
                seen_first = False
                try:
                    async with client.stream(
                        "POST",
                        f"/v1/conversations/{ids[index]}/messages",
                        json={"content": question},
                        headers={"Accept": "text/event-stream"},
                    ) as r:
                        if r.status_code != 200:
                            errors.append(f"{r.status_code}: {(await r.aread())[:200]!r}")
                            continue
                        async for line in r.aiter_lines():
                            if line.startswith("event:") and "sentence" in line and not seen_first:
                                seen_first = True
                                first.append((time.perf_counter() - t) * 1000)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if not seen_first:
                    errors.append("a streamed turn sent no sentence")
                whole.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(converse(i) for i in range(conversations)))
    return first, whole, errors


@contextmanager
def _scripted_model() -> Iterator[FakeOpenAI]:
    """The loopback OpenAI-compatible server (tests/agent/fake_openai.py) streaming at 50 tokens/s."""

    def reply(_request: RecordedRequest) -> Scripted:
        return Scripted(content=answer_json(STREAMED_ANSWER), chunk_chars=TOKEN_CHARS, chunk_delay_s=1 / TOKENS_PER_S)

    fake = FakeOpenAI().start()
    fake.responder = reply
    try:
        yield fake
    finally:
        fake.stop()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def bench_database(label: str, url: str, args: argparse.Namespace, work: Path, data_config: Path) -> None:
    """Load the business into `url`, serve it, print the figures."""
    cores = os.cpu_count() or 1
    workers = args.workers or cores
    t0 = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    load_business(engine=engine, config_file=data_config, clock=tick)
    engine.dispose()
    print(f"[{label}] demo business ({args.customers} people) loaded in {time.perf_counter() - t0:.1f} s")

    home = work / f"home-{label}"
    with _chroma_server(work / f"chroma-{label}") as chroma:
        embedder = MiniLMEmbedder()
        if chroma is None:
            store = open_store(path=home / "chroma", embedder=embedder)
        else:
            store = open_store(host="127.0.0.1", port=chroma[0], embedder=embedder)
        ingest([ARTICLES_DIR], store=store)
        env = {
            "CONTEXTDESK_HOME": str(home),
            "CONTEXTDESK_DATABASE_URL": url,
            "CONTEXTDESK_CONFIG_FILE": str(data_config),
            "CONTEXTDESK_IDENTITY_SECRET": SECRET,
            "CONTEXTDESK_HANDOFF_WORKER": "false",
            "CONTEXTDESK_WEBHOOK_WORKER": "false",
        }
        if chroma is not None:
            env |= {"CONTEXTDESK_CHROMA_HOST": "127.0.0.1", "CONTEXTDESK_CHROMA_PORT": str(chroma[0])}
        redis = _redis_answers()
        if redis:
            env["CONTEXTDESK_REDIS_URL"] = REDIS_URL
        setup = f"{workers} workers, {'Redis' if redis else 'in-memory'} limits, " + (
            "Chroma server" if chroma else "embedded Chroma"
        )
        with _serve(env, work, workers) as (base, pids):
            measured = pids + ([chroma[1]] if chroma else [])
            asyncio.run(_run(base, 2, 4))  # warm-up: embedder, BM25 index, tokenizer in every worker
            asyncio.run(_run(base, workers * 4, 2))
            # CPU per turn: one conversation alone, sequential turns.
            before = _cpu_seconds(measured)
            single, single_errors, _ = asyncio.run(_run(base, 1, args.single_turns))
            cpu_per_turn = (_cpu_seconds(measured) - before) / max(1, len(single))
            ceiling = cores / cpu_per_turn if cpu_per_turn > 0 else float("inf")
            first_turn = _last_turn_id(url) + 1
            latencies, errors, wall = asyncio.run(_run(base, args.conversations, args.turns))
            load_closed = os.getloadavg()[0]
            last_closed_turn = _last_turn_id(url)
            open_runs = [
                (rate, asyncio.run(_run_open(base, rate, args.rate_seconds, args.turns))) for rate in args.rate
            ]
        steps = _step_breakdown(url, first_turn, last_closed_turn)  # the closed loop's turns
        streaming = None
        if args.stream_conversations > 0:
            # The same server set-up with a model that streams: time to the first checked sentence.
            with _scripted_model() as model:
                llm = {"CONTEXTDESK_LLM_BASE_URL": model.base_url, "CONTEXTDESK_LLM_MODEL": "fake-primary"}
                with _serve(env | llm, work, workers) as (stream_base, _pids):
                    asyncio.run(_run_streams(stream_base, 2, 1))  # warm-up
                    streaming = asyncio.run(_run_streams(stream_base, args.stream_conversations, args.stream_turns))
    tps = len(latencies) / wall
    p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    load = os.getloadavg()[0]
    print(f"[{label}] {setup}; machine load average {load:.1f} on {cores} cores")

    def row(name: str, value: str, goal: str, ok: bool | None) -> None:
        mark = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"  {name:<38} {value:>14}   goal {goal}{mark}")

    row("CPU per turn (one conversation)", f"{cpu_per_turn * 1000:.1f} ms", "-", None)
    row(f"ceiling ({cores} cores ÷ CPU per turn)", f"{ceiling:.0f} turns/s", "-", None)
    row(f"single conversation p50 ({len(single)} turns)", f"{statistics.median(single):.1f} ms", "-", None)
    row(f"throughput, {args.conversations} concurrent", f"{tps:.1f} turns/s", f"≥ {GOAL_TPS:.0f}", tps >= GOAL_TPS)
    row("  share of the ceiling", f"{tps / ceiling:.0%}", f"≥ {GOAL_SHARE:.0%}", tps / ceiling >= GOAL_SHARE)
    row("latency p50", f"{p50:.1f} ms", "-", None)
    row("latency p99", f"{p99:.1f} ms", f"≤ {GOAL_P99_MS:.0f} ms", p99 <= GOAL_P99_MS)
    row("errors", f"{len(errors) + len(single_errors)}", "0", not errors and not single_errors)
    for e in (single_errors + errors)[:5]:
        print("    error:", e)
    print(
        f"  (closed loop: each of the {args.conversations} clients sends its next turn when the last one is answered,"
        f" so mean latency = {args.conversations} ÷ throughput; p99 ≤ {GOAL_P99_MS:.0f} ms needs ≥"
        f" {args.conversations / (GOAL_P99_MS / 1000):.0f} turns/s there; load average {load_closed:.1f})"
    )
    for rate, (open_latencies, open_errors, open_wall, offered) in open_runs:
        achieved = len(open_latencies) / open_wall if open_wall > 0 else 0.0
        nan = float("nan")
        o50 = statistics.median(open_latencies) if open_latencies else nan
        o99 = _percentile(open_latencies, 0.99) if open_latencies else nan
        print(
            f"  open loop at {rate:.0f} turns/s offered ({offered} turns in {args.rate_seconds:.0f} s, evenly spaced):"
        )
        row("  achieved rate", f"{achieved:.1f} turns/s", f"= {rate:.0f} offered", achieved >= 0.98 * rate)
        row("  latency p50", f"{o50:.1f} ms", "-", None)
        row("  latency p99", f"{o99:.1f} ms", f"≤ {GOAL_P99_MS:.0f} ms", o99 <= GOAL_P99_MS)
        row("  errors", f"{len(open_errors)}", "0", not open_errors)
        for e in open_errors[:3]:
            print("    error:", e)
    if steps:
        print(f"  where a turn's time goes at {args.conversations} concurrent (server side, p50 / mean ms):")
        for name, values in steps.items():
            print(f"    {name:<36} {statistics.median(values):>8.1f} / {statistics.mean(values):.1f}")
    if streaming is not None:
        first, whole, stream_errors = streaming
        ttfs = statistics.median(first) if first else float("nan")
        label_s = f"time to first sentence p50, {args.stream_conversations} streaming"
        row(label_s, f"{ttfs:.0f} ms", f"≤ {GOAL_TTFS_MS:.0f} ms", ttfs <= GOAL_TTFS_MS)
        row("  time to first sentence p99", f"{_percentile(first, 0.99):.0f} ms", "-", None)
        row("  whole streamed turn p50", f"{statistics.median(whole) if whole else float('nan'):.0f} ms", "-", None)
        row("  streaming errors", f"{len(stream_errors)}", "0", not stream_errors)
        for e in stream_errors[:3]:
            print("    error:", e)


def _last_turn_id(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("select coalesce(max(id), 0) from agent_turns")).scalar_one())
    finally:
        engine.dispose()


def _step_breakdown(url: str, first_turn: int, last_turn: int) -> dict[str, list[float]]:
    """Per step of the turns `first_turn`..`last_turn`: their TurnTrace `step_ms`, and store = latency − the steps."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("select latency_ms, prompt from agent_turns where id between :first and :last"),
                {"first": first_turn, "last": last_turn},
            ).all()
    finally:
        engine.dispose()
    out: dict[str, list[float]] = {}
    for latency, prompt in rows:
        record = prompt if isinstance(prompt, dict) else json.loads(prompt or "{}")
        timings = record.get("step_ms") or {}
        if not timings:
            continue
        for name, ms in timings.items():
            out.setdefault(name, []).append(float(ms))
        out.setdefault("store (latency − the steps above)", []).append(float(latency) - sum(timings.values()))
        out.setdefault("turn latency (server side)", []).append(float(latency))
    return out


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=6, help="turns per conversation")
    parser.add_argument("--single-turns", type=int, default=40, help="turns of the lone conversation (CPU/turn)")
    parser.add_argument("--customers", type=int, default=2000, help="demo people to generate")
    parser.add_argument("--workers", type=int, default=0, help="server processes (0 = one per core)")
    parser.add_argument("--db", choices=["both", "sqlite", "postgres"], default="both")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="*",
        default=[150.0],
        help="open-loop arrival rates to offer, turns/s (none: closed loop only)",
    )
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="how long each open-loop rate is offered")
    parser.add_argument(
        "--stream-conversations", type=int, default=20, help="concurrent SSE conversations with a streaming model"
    )
    parser.add_argument("--stream-turns", type=int, default=2, help="turns per streaming conversation")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    try:
        data = generate(work / "demo", customers=args.customers, seed=7)
        # The demo's contextdesk.yaml with limits a load test needs (one client address sends everything).
        config = yaml.safe_load(data.config_path.read_text(encoding="utf-8")) or {}
        config.setdefault("agent", {})["limits"] = {
            "messages_per_minute_per_conversation": 100_000,
            "messages_per_minute_per_ip": 10_000_000,
            "conversations_per_minute_per_ip": 10_000_000,
        }
        data_config = data.config_path.with_name("contextdesk.bench.yaml")
        data_config.write_text(yaml.safe_dump(config), encoding="utf-8")
        if args.db in ("both", "sqlite"):
            bench_database("sqlite", f"sqlite:///{work / 'chat.db'}", args, work, data_config)
        if args.db in ("both", "postgres"):
            if not _postgres_answers():
                print("[postgres] skipped: PostgreSQL not reachable at", POSTGRES_ADMIN)
                return
            name = f"bench_chat_{os.getpid()}"
            admin = make_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                bench_database("postgres", POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", args, work, data_config)
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
