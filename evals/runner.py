"""Running suites: targets (in-process service or a live server over HTTP), variants of the store for
perturbations and inline customers, checks on every turn, failure tagging, metrics.

In-process runs use a private copy of the store (SQLite), so eval conversations never land in the real one and
perturbations can change data freely. Scenarios run in parallel threads when `workers > 1` (each conversation
is independent; the agent's rate limits are per conversation and per client key, and every scenario has its own).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent import service
from agent.config import SiteIdentity
from agent.errors import AgentError
from agent.intents import TOPIC_OF_INTENT
from agent.limits import RateLimiter
from agent.models import ConversationCreate, Turn
from agent.service import AgentDeps
from agent.visitor_identity import sign_identity, verify_identity
from context.customer_context import ContextConfig
from context.dbtypes import table_of
from context.intake.models import SyncRun
from evals.errors import EvalError, TargetError
from evals.expectations import (
    Corpus,
    Truth,
    asked_known,
    check_turn,
    classify,
    fact_present,
    invented_check,
    privacy_check,
)
from evals.failures import tag_scenario
from evals.judge import Judge
from evals.metrics import compute_metrics, goals_of
from evals.models import (
    CustomerSpec,
    Expect,
    ExpectationResult,
    Perturbation,
    RunResult,
    Scenario,
    ScenarioResult,
    Suite,
    TurnResult,
)
from evals.perturbations import Applied, apply_perturbation, copy_store, insert_inline_customer
from evals.truth import build_corpus, truth_for

log = logging.getLogger(__name__)

#: Reference time of the demo business (docs/demo-business.md): a Monday morning in business hours.
DEMO_NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # = demo.reference.STORY_NOW (a test checks it)
SummaryCheck = Callable[[int], tuple[bool | None, str]]
_FORGED = "0" * 64


# --- targets -----------------------------------------------------------------------------------------------------


class Target(Protocol):
    """Where the agent under test runs."""

    name: str

    def start(self, identity: ConversationCreate, *, client: str) -> str:
        """Open a conversation; returns its id."""
        ...

    def send(self, conversation_id: str, text: str, *, client: str, index: int) -> TurnResult:
        """Send a customer message; the turn as observed (reply and metadata)."""
        ...


def _turn_metadata(out: TurnResult, data: dict[str, Any]) -> None:
    prompt = data.get("prompt") or {}
    out.passages = list(data.get("passages") or [])
    out.privacy_withheld = list(prompt.get("privacy_withheld") or [])
    out.context_dropped = [str(d) for d in (prompt.get("context_dropped") or [])]
    out.grounding_issues = list(data.get("grounding_issues") or [])
    out.fallback_reason = data.get("fallback_reason")
    out.prompt_tokens = data.get("prompt_tokens")
    out.completion_tokens = data.get("completion_tokens")
    out.verified = data.get("verified")
    out.customer_id = data.get("customer_id")
    if "context_fields_used" in data:
        out.context_fields_used = list(data.get("context_fields_used") or [])
        out.fields_reported = True
    audience = {p.get("chunk_id"): p.get("audience") for p in out.passages}
    for c in out.citations:
        c.setdefault("audience", audience.get(c.get("passage_id")))


class InProcessTarget:
    """The chat service called directly (agent.service), reading turn metadata from the store."""

    name = "in-process"

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    def start(self, identity: ConversationCreate, *, client: str) -> str:
        """Open a conversation through the service."""
        return service.start_conversation(deps=self.deps, request=identity, client_ip=client).id

    def send(self, conversation_id: str, text: str, *, client: str, index: int) -> TurnResult:
        """One turn through the service, with the stored turn's metadata."""
        try:
            reply = service.handle_message(
                deps=self.deps, conversation_id=conversation_id, content=text, client_ip=client
            )
        except AgentError as exc:
            return TurnResult(index=index, message=text, error=f"{type(exc).__name__}: {exc}")
        out = TurnResult(
            index=index,
            message=text,
            reply=reply.reply,
            route=reply.route,
            intent=reply.intent,
            escalated=reply.escalation.escalate,
            reason_code=reply.escalation.reason_code,
            handoff_id=reply.escalation.handoff_id,
            human_eta=reply.escalation.human_eta,
            citations=[c.model_dump() for c in reply.citations],
            responder=reply.responder,
            model=reply.model,
            latency_ms=reply.latency_ms,
        )
        if reply.turn_id is not None:
            with Session(self.deps.engine) as session:
                row = session.get(Turn, reply.turn_id)
                if row is not None:
                    _turn_metadata(out, row.model_dump())
        return out


class HttpTarget:
    """A running server, over the real chat API (as the widget would), plus the turns API when a key is given."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 60.0, retries: int = 5) -> None:
        self.name = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.name, timeout=timeout_s)
        self.api_key = api_key
        self.retries = retries

    def _post(self, path: str, body: dict[str, Any], client: str) -> dict[str, Any]:
        for _ in range(self.retries + 1):
            try:
                resp = self.client.post(path, json=body, headers={"X-Eval-Client": client})
            except httpx.HTTPError as exc:
                raise TargetError(f"{self.name}{path}: {type(exc).__name__}: {exc}") from exc
            if resp.status_code == 429:  # the server's rate limit: wait as told, then retry
                time.sleep(min(float(resp.headers.get("Retry-After", "1")), 10.0))
                continue
            if resp.status_code >= 400:
                raise TargetError(f"{self.name}{path}: HTTP {resp.status_code}: {resp.text[:300]}")
            data: dict[str, Any] = resp.json()
            return data
        raise TargetError(f"{self.name}{path}: still rate limited after {self.retries} retries")

    def start(self, identity: ConversationCreate, *, client: str) -> str:
        """POST /v1/conversations."""
        return str(self._post("/v1/conversations", identity.model_dump(exclude_none=True), client)["id"])

    def send(self, conversation_id: str, text: str, *, client: str, index: int) -> TurnResult:
        """POST …/messages, then (with an API key) GET …/turns for the turn's metadata."""
        try:
            data = self._post(f"/v1/conversations/{conversation_id}/messages", {"content": text}, client)
        except TargetError as exc:
            return TurnResult(index=index, message=text, error=str(exc))
        esc = data.get("escalation") or {}
        out = TurnResult(
            index=index,
            message=text,
            reply=data.get("reply"),
            route=data.get("route"),
            intent=data.get("intent"),
            escalated=bool(esc.get("escalate")),
            reason_code=esc.get("reason_code"),
            handoff_id=esc.get("handoff_id"),
            human_eta=esc.get("human_eta"),
            citations=list(data.get("citations") or []),
            responder=data.get("responder"),
            model=data.get("model"),
            latency_ms=float(data.get("latency_ms") or 0.0),
            fields_reported=False,  # unless the turns API reports them (below)
        )
        if self.api_key and data.get("turn_id") is not None:
            resp = self.client.get(f"/v1/conversations/{conversation_id}/turns", headers={"X-API-Key": self.api_key})
            if resp.status_code == 200:
                for t in resp.json():
                    if t.get("id") == data["turn_id"]:
                        _turn_metadata(out, t)
        return out

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


# --- the run -----------------------------------------------------------------------------------------------------


@dataclass
class EvalEnv:
    """What a run needs besides the target: the store (ground truth), config, help-center text, identity secret."""

    engine: Engine
    context_config: ContextConfig
    kb: dict[str, str]
    secret: SecretStr
    # When the run happened (stamped on the report); the scenarios themselves run at `now`.
    clock: Callable[[], datetime]
    now: datetime = DEMO_NOW
    # In-process copies record every source as last synced then (a demo loaded days away from the week its
    # shifted story is told in is not stale in that story); None keeps the store's own sync times.
    synced_at: datetime | None = None
    judge: Judge | None = None
    summary_check: Callable[[Engine, datetime], SummaryCheck | None] | None = None
    workers: int = 1
    # What a signed site user id means in the target's config (agent.visitor_identity), to sign scenarios' user ids.
    identity: SiteIdentity = field(default_factory=SiteIdentity)


@dataclass
class _Variant:
    key: tuple[str, ...]
    perturbations: list[Perturbation]
    target: Target
    engine: Engine
    corpus: Corpus
    applied: dict[tuple[str, str], Applied] = field(default_factory=dict)
    inline_ids: dict[str, str] = field(default_factory=dict)
    truths: dict[str | None, Truth] = field(default_factory=dict)
    summary_check: SummaryCheck | None = None


def identity_of(
    spec: CustomerSpec,
    *,
    secret: SecretStr,
    scenario_id: str,
    inline_id: str | None,
    binding: SiteIdentity | None = None,
) -> ConversationCreate:
    """The signed (or deliberately forged, or absent) identity a site's backend would hand the widget."""
    binding = binding or SiteIdentity()
    if spec.visitor:
        return ConversationCreate()
    if spec.inline is not None:
        # An inline customer is known by its email (a site user id binds to one configured identifier kind).
        email = spec.inline.email.strip().lower()
        return ConversationCreate(email=email, user_hash=sign_identity(secret=secret, kind="email", identifier=email))
    if spec.user_id:
        h = (
            _FORGED
            if spec.forged
            else sign_identity(secret=secret, kind="user_id", identifier=spec.user_id, binding=binding)
        )
        return ConversationCreate(user_id=spec.user_id, user_hash=h)
    email = (spec.email or "").strip().lower()
    h = _FORGED if spec.forged else sign_identity(secret=secret, kind="email", identifier=email)
    return ConversationCreate(email=email, user_hash=h)


def _expected_customer(spec: CustomerSpec, engine: Engine, env: EvalEnv, inline_id: str | None) -> str | None:
    if not spec.verified:
        return None
    ident = identity_of(spec, secret=env.secret, scenario_id="", inline_id=inline_id, binding=env.identity)
    return verify_identity(
        engine=engine,
        secret=env.secret,
        now=env.now,
        binding=env.identity,
        user_id=ident.user_id,
        email=ident.email,
        user_hash=ident.user_hash,
    ).customer_id


_SECTIONS_OF_SOURCE = {
    "shopify": ("orders",),
    "stripe": ("subscriptions", "status"),
    "zendesk": ("tickets",),
    "crm": ("crm",),
}


def _sections(p: Perturbation) -> tuple[str, ...]:
    if p.kind in {"stale", "source_removed"}:
        return _SECTIONS_OF_SOURCE.get(p.source or "", ())
    if p.kind == "conflict":
        return ("orders",) if p.entity == "order" else ("subscriptions", "status")
    field = p.field or ""
    return ("subscriptions", "status") if field.startswith("subscriptions") else (field.split(".")[0],)


def touches(expect: Expect, p: Perturbation) -> bool:
    """Whether a turn's answer relies on data the perturbation changes."""
    if p.kind == "field_blanked" and p.field:
        field = p.field
        return any(alt == field or field.startswith(alt + ".") for f in expect.uses_fields for alt in f.split("|"))
    wanted = _sections(p)
    return any(f.split(".")[0] in wanted for f in expect.uses_fields)


def _affected(expect: Expect, applied: Applied, p: Perturbation) -> bool:
    if applied.removed_values and any(
        any(fact_present(v, r) or fact_present(r, v) for r in applied.removed_values) for v in expect.contains
    ):
        return True
    return touches(expect, p)


def perturbed_expect(expect: Expect, applied: Applied, p: Perturbation, *, public_text: str = "") -> Expect:
    """The expectation of a turn under a perturbation: say what is unknown (or escalate), never state the removed
    facts as known; privacy and invented-fact checks still run. Turns the perturbation does not touch keep theirs."""
    if not _affected(expect, applied, p):
        return expect
    # A removed value the help center also shows (e.g. an example order number) cannot tell us anything.
    removed = [v for v in applied.removed_values if v and not fact_present(v, public_text)]
    return expect.model_copy(
        update={
            "contains": [],
            "any_of": [],
            "cites": [],
            "matches": [],
            "uses_fields": [],
            "not_contains": list(dict.fromkeys([*expect.not_contains, *removed, *applied.conflicting_values])),
            "says_unknown_or_escalates": True,
            "escalate": None,
            "reason_code": None,
        }
    )


def applicable(scenario: Scenario, p: Perturbation) -> bool:
    """Whether a command-line perturbation applies: a verified customer whose answers need account facts."""
    return (
        scenario.customer.verified
        and scenario.customer.inline is None
        and any(touches(t.expect, p) for t in scenario.turns)
    )


class Runner:
    """Runs suites against a target factory and collects results."""

    def __init__(
        self,
        env: EvalEnv,
        *,
        make_target: Callable[[Engine], Target],
        in_process: bool,
        workdir: Path | None = None,
    ) -> None:
        self.env = env
        self.make_target = make_target
        self.in_process = in_process
        self._tmp = tempfile.TemporaryDirectory(prefix="contextdesk-eval-") if workdir is None else None
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.kb_corpus: Corpus | None = None
        self.notes: list[str] = []
        self.target_name = "in-process" if in_process else "http"

    def _variant(self, key: tuple[str, ...], perturbations: list[Perturbation], scenarios: list[Scenario]) -> _Variant:
        env = self.env
        if self.in_process:
            name = hashlib.sha1("|".join(key).encode()).hexdigest()[:10]
            engine = copy_store(env.engine, self.workdir / f"store-{name}.db")
            if env.synced_at is not None:
                with engine.begin() as conn:
                    runs = table_of(SyncRun)
                    conn.execute(runs.update().values(started_at=env.synced_at, finished_at=env.synced_at))
        else:
            engine = env.engine
        inline_ids = {}
        for s in scenarios:
            if s.customer.inline is not None:
                inline_ids[s.id] = insert_inline_customer(
                    engine,
                    scenario_id=s.id,
                    customer=s.customer.inline,
                    now=env.now,
                    profiles=env.context_config.profiles,
                )
        applied: dict[tuple[str, str], Applied] = {}
        for s in scenarios:
            changes = [*s.context_changes, *perturbations]
            if not changes or not s.customer.verified:
                continue
            cid = _expected_customer(s.customer, engine, env, inline_ids.get(s.id))
            if cid is None:
                continue
            for p in changes:
                if (cid, p.key) not in applied:
                    applied[(cid, p.key)] = apply_perturbation(
                        engine, customer_id=cid, perturbation=p, now=env.now, profiles=env.context_config.profiles
                    )
        if self.kb_corpus is None or engine is not env.engine:
            corpus = build_corpus(engine, env.kb)
        else:
            corpus = self.kb_corpus
        self.kb_corpus = self.kb_corpus or corpus
        check = env.summary_check(engine, env.now) if env.summary_check else None
        return _Variant(key, perturbations, self.make_target(engine), engine, corpus, applied, inline_ids, {}, check)

    def _truth(self, v: _Variant, cid: str | None) -> Truth:
        if cid not in v.truths:
            v.truths[cid] = truth_for(
                engine=v.engine, customer_id=cid, config=self.env.context_config, now=self.env.now
            )
        return v.truths[cid]

    def run_scenario(self, v: _Variant, s: Scenario, *, cli: Perturbation | None, repeat: int) -> ScenarioResult:
        """Replay one scenario's turns and check every reply."""
        env = self.env
        started = time.perf_counter()
        inline_id = v.inline_ids.get(s.id)
        expected = _expected_customer(s.customer, v.engine, env, inline_id)
        truth = self._truth(v, expected)
        client = f"eval-{s.id}-{repeat}-{cli.key if cli else ''}"
        turns: list[TurnResult] = []
        try:
            conv = v.target.start(
                identity_of(s.customer, secret=env.secret, scenario_id=s.id, inline_id=inline_id, binding=env.identity),
                client=client,
            )
        except (EvalError, AgentError, httpx.HTTPError) as exc:
            err = TurnResult(index=0, message=s.turns[0].say, error=f"could not start: {exc}")
            err.expectations = [
                ExpectationResult(
                    kind="target", expected="conversation starts", passed=False, detail=str(exc), cause="target_error"
                )
            ]
            return self._result(s, cli, repeat, [err], started)
        typed = ""
        transcript = ""
        applied = [
            v.applied[(expected, p.key)]
            for p in [*s.context_changes, *v.perturbations]
            if expected is not None and (expected, p.key) in v.applied
        ]
        for i, spec in enumerate(s.turns):
            typed += "\n" + spec.say
            turn = v.target.send(conv, spec.say, client=client, index=i)
            expect = spec.expect
            if cli is not None and expected is not None and (expected, cli.key) in v.applied:
                expect = perturbed_expect(expect, v.applied[(expected, cli.key)], cli, public_text=v.corpus.kb_text)
            if turn.error:
                turn.expectations.append(
                    ExpectationResult(kind="target", expected="a reply", passed=False, detail=turn.error)
                )
            else:
                turn.expectations = check_turn(expect, turn, summary_check=v.summary_check)
                reply = turn.reply or ""
                topic = TOPIC_OF_INTENT.get(turn.intent or "")
                turn.expectations.append(
                    privacy_check(
                        reply,
                        truth=truth,
                        corpus=v.corpus,
                        typed=typed,
                        topic_delivery=topic == "delivery",
                        citations=turn.citations,
                    )
                )
                # The "when a person answers" line comes from the clock and business hours, not from data.
                eta = turn.human_eta or ""
                turn.expectations.append(invented_check(reply, truth=truth, corpus=v.corpus, typed=typed + "\n" + eta))
                turn.asked_known = asked_known(reply, truth)
                turn.needs_account_facts = bool(expect.uses_fields) and s.customer.verified
                if turn.needs_account_facts:
                    used = [e for e in turn.expectations if e.kind == "uses_fields"]
                    turn.used_right_fields = used[0].passed if used else None
                    facts = [e for e in turn.expectations if e.kind in {"contains", "any_of"}]
                    turn.facts_in_text = all(e.passed for e in facts) if facts else None
                if env.judge is not None and expect.judge and turn.reply:
                    turn.judge = env.judge.score(message=spec.say, reply=turn.reply, transcript=transcript)
            transcript += f"\ncustomer: {spec.say}\nassistant: {turn.reply or ''}"
            turns.append(turn)
        result = self._result(s, cli, repeat, turns, started)
        tag_scenario(result, scenario=s, truth=truth, kb=env.kb, expected_customer=expected)
        del applied
        return result

    def _result(
        self, s: Scenario, cli: Perturbation | None, repeat: int, turns: list[TurnResult], started: float
    ) -> ScenarioResult:
        wants = [t.expect.escalate for t in s.turns if t.expect.escalate is not None]
        who = s.customer.email or s.customer.user_id or (s.customer.inline.email if s.customer.inline else "visitor")
        if s.customer.forged:
            who = f"forged:{who}"
        return ScenarioResult(
            id=s.id,
            category=s.category,
            perturbation=cli.key if cli else None,
            context_changes=[p.key for p in s.context_changes],
            repeat=repeat,
            customer=who,
            passed=bool(turns) and all(t.passed for t in turns),
            turns=turns,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            expects_escalation=(True in wants) if wants else None,
            escalated=any(t.escalated for t in turns),
        )

    def run(
        self,
        suites: Sequence[Suite],
        *,
        repeat: int = 1,
        perturbations: Sequence[Perturbation] = (),
        base: bool = True,
        on_total: Callable[[int], None] | None = None,
        on_done: Callable[[ScenarioResult], None] | None = None,
        suite_names: Sequence[str] = (),
    ) -> RunResult:
        """Every scenario × repeat (and × perturbation), grouped by store variant; metrics at the end."""
        started_at = self.env.clock()
        t0 = time.perf_counter()
        scenarios = [s for suite in suites for s in suite.scenarios]
        plan: dict[tuple[str, ...], tuple[list[Perturbation], list[tuple[Scenario, Perturbation | None, int]]]] = {}
        for s in scenarios:
            if base:
                key = tuple(p.key for p in s.context_changes) + (("inline",) if s.customer.inline else ())
                if key and not self.in_process:
                    self.notes.append(
                        f"{s.id}: skipped (context changes and inline customers need --target in-process)"
                    )
                else:
                    plan.setdefault(key, ([], []))[1].extend((s, None, r) for r in range(repeat))
            for p in perturbations:
                if not applicable(s, p):
                    continue
                if not self.in_process:
                    self.notes.append(f"{s.id}@{p.key}: skipped (perturbations need --target in-process)")
                    continue
                key = (*(q.key for q in s.context_changes), "cli:" + p.key)
                entry = plan.setdefault(key, ([p], []))
                entry[1].extend((s, p, r) for r in range(repeat))
        total = sum(len(items) for _, items in plan.values())
        if on_total:
            on_total(total)
        results: list[ScenarioResult] = []
        for key, (perts, items) in plan.items():
            variant = self._variant(key, perts, sorted({id(s): s for s, _, _ in items}.values(), key=lambda x: x.id))

            def one(item: tuple[Scenario, Perturbation | None, int], variant: _Variant = variant) -> ScenarioResult:
                s, p, r = item
                res = self.run_scenario(variant, s, cli=p, repeat=r)
                if on_done:
                    on_done(res)
                return res

            if self.env.workers > 1:
                with ThreadPoolExecutor(self.env.workers) as pool:
                    results.extend(pool.map(one, items))
            else:
                results.extend(one(item) for item in items)
        order = {s.id: i for i, s in enumerate(scenarios)}
        results.sort(key=lambda r: (r.perturbation is not None, r.perturbation or "", order.get(r.id, 0), r.repeat))
        duration = time.perf_counter() - t0
        metrics = compute_metrics(results, repeat=repeat)
        responders = sorted({t.responder for r in results for t in r.turns if t.responder and t.responder != "none"})
        run = RunResult(
            suites=list(suite_names) or [s.name for s in suites],
            target=self.target_name,
            started_at=started_at,
            duration_s=round(duration, 2),
            repeat=repeat,
            perturbations=[p.key for p in perturbations],
            responder=",".join(responders) or None,
            scenarios=results,
            metrics=metrics,
            notes=sorted(set(self.notes)),
        )
        run.goals = goals_of(run)
        return run

    def close(self) -> None:
        """Remove the private store copies."""
        if self._tmp is not None:
            self._tmp.cleanup()


def in_process_runner(env: EvalEnv, deps: AgentDeps, *, workdir: Path | None = None) -> Runner:
    """A runner on the chat service in this process (on private copies of the store)."""

    env = dataclasses.replace(env, identity=deps.config.identity)

    def make(engine: Engine) -> Target:
        return InProcessTarget(dataclasses.replace(deps, engine=engine, limiter=RateLimiter(), now=lambda: env.now))

    return Runner(env, make_target=make, in_process=True, workdir=workdir)


def http_runner(env: EvalEnv, base_url: str, *, api_key: str | None = None) -> Runner:
    """A runner against a live server (the store is read for ground truth only)."""
    target = HttpTarget(base_url, api_key=api_key)
    runner = Runner(env, make_target=lambda _engine: target, in_process=False)
    runner.target_name = target.name
    return runner


__all__ = [
    "DEMO_NOW",
    "EvalEnv",
    "HttpTarget",
    "InProcessTarget",
    "Runner",
    "classify",
    "http_runner",
    "in_process_runner",
]
