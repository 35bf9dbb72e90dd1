"""Identity resolution benchmark: quality against ground truth (ContextDesk vs Splink directly) and speed.

    python bench/identity.py                      # 10k customers
    python bench/identity.py --customers 100000   # the large run
    python bench/identity.py --db-customers 2000  # size of the database (incremental latency) part

Data: the demo generator (context/demo/generator.py) when it is installed, else a built-in seeded generator
with the same kinds of mess (case/spacing variants, typos, nicknames, phone formats, blanks, shared info@
addresses, namesakes). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from context.identity.graph import Record, prepare, resolve
from context.identity.rules import default_rules
from context.identity.splink_model import fit_model, splink_rows, splink_settings

FIRST = [
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "wei",
    "fang",
    "amara",
    "chidi",
    "olga",
    "ivan",
    "diego",
    "lucia",
    "priya",
    "arjun",
    "fatima",
    "omar",
    "lars",
    "ingrid",
    "yuki",
    "hiro",
    "kwame",
    "ama",
    "sofia",
    "mateo",
    "noah",
    "emma",
]
LAST = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "okonkwo",
    "nguyen",
    "kowalski",
    "haddad",
    "lindqvist",
    "tanaka",
    "osei",
    "mensah",
    "rossi",
    "novak",
    "silva",
    "chen",
    "patel",
    "kim",
    "murphy",
    "oconnor",
    "schmidt",
    "muller",
    "dubois",
]
NICK = {"robert": "bob", "william": "bill", "elizabeth": "liz", "michael": "mike", "james": "jim", "jennifer": "jen"}
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", None, None, None]


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :] if rng.random() < 0.5 else s[:i] + s[i + 1 :]


def synthetic(customers: int, *, seed: int) -> tuple[list[Record], dict[str, int]]:
    """Records of `customers` people over five sources, with ground truth."""
    rng = random.Random(seed)
    records: list[Record] = []
    truth: dict[str, int] = {}
    base = datetime(2023, 1, 1, tzinfo=UTC)
    for i in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{rng.randrange(10_000)}@{rng.choice(['mail.test', 'post.test', 'inbox.test'])}"
        phone = f"+1{rng.randrange(200, 999)}{rng.randrange(10**7):07d}"
        postcode, company = f"{rng.randrange(10_000, 99_999)}", rng.choice(COMPANIES)
        city = rng.choice(["springfield", "riverton", "lakeside", "fairview", "georgetown"])
        n = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 12, 8])[0]
        sources = rng.sample(["crm", "shopify", "stripe", "zendesk", "forms"], n)
        for source in sources:
            f = first if rng.random() > 0.1 else _typo(rng, first)
            if first in NICK and rng.random() < 0.15:
                f = NICK[first]
            attrs: dict[str, Any] = {
                "first_name": f.title() if rng.random() > 0.2 else f.upper(),
                "last_name": (last if rng.random() > 0.08 else _typo(rng, last)).title(),
                "email": (email if rng.random() > 0.1 else email.upper()) if rng.random() > 0.25 else None,
                "phone": phone if rng.random() > 0.5 else None,  # E.164, as intake standardizes it
                "postcode": postcode if rng.random() > 0.3 else None,
                "company": company if rng.random() > 0.3 else None,
                "city": city if rng.random() > 0.4 else None,
            }
            if source == "stripe":
                attrs["stripe_customer"] = f"stripe:cus_{i}"
            if source == "shopify":
                attrs["shopify_customer"] = f"shopify:{i}"
            if rng.random() < 0.01:
                attrs["email"] = "info@" + rng.choice(["acme.test", "globex.test"])  # shared mailbox
            rid = f"{source[:2]}{i}"
            key = f"{source}:{rid}"
            records.append(Record(source, rid, attrs, base + timedelta(minutes=rng.randrange(10**6))))
            truth[key] = i
    rng.shuffle(records)
    return records, truth


def pairwise(clusters: list[list[str]], truth: dict[str, int]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of clusters against the truth."""
    tp = predicted = 0
    for cluster in clusters:
        predicted += len(cluster) * (len(cluster) - 1) // 2
        tp += sum(c * (c - 1) // 2 for c in Counter(truth[k] for k in cluster).values())
    actual = sum(c * (c - 1) // 2 for c in Counter(truth.values()).values())
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run_splink(records: list[Record], threshold: float) -> tuple[list[list[str]], float]:
    """Splink on the same records: the same comparisons plus email and phone, trained the documented way."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, block_on

    rules = default_rules()
    t0 = time.perf_counter()
    prepared = [prepare(r, rules) for r in records]
    rows = splink_rows(prepared, rules)
    for row, p in zip(rows, prepared, strict=True):
        row["stripe_customer"] = (p.identifiers.get("stripe_customer") or [None])[0]
        row["shopify_customer"] = (p.identifiers.get("shopify_customer") or [None])[0]
    settings = splink_settings(rules)
    settings.comparisons += [cl.ExactMatch("stripe_customer"), cl.ExactMatch("shopify_customer")]
    settings.blocking_rules_to_generate_predictions += [
        block_on("email"),
        block_on("stripe_customer"),
        block_on("shopify_customer"),
    ]
    linker = Linker(DuckDBAPI().register(rows), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match([block_on("email"), block_on("phone")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    for block in (["first_name", "last_name"], ["postcode"], ["email"]):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*block), fix_u_probabilities=True
            )
        except Exception as exc:
            print(f"  (splink EM on {block} failed: {type(exc).__name__})")
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters_df = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    groups: dict[str, list[str]] = defaultdict(list)
    for row in clusters_df.as_record_list():
        groups[str(row["cluster_id"])].append(row["unique_id"])
    return list(groups.values()), time.perf_counter() - t0


def quality_and_batch(customers: int, seed: int) -> None:
    records, truth = synthetic(customers, seed=seed)
    rules = default_rules()
    print(f"\n== quality: {customers:,} customers, {len(records):,} source records ==")
    t0 = time.perf_counter()
    prepared = {p.key: p for p in (prepare(r, rules) for r in records)}
    model = fit_model(list(prepared.values()), rules, train=True)
    t_fit = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = resolve([], rules, model, prepared=prepared)
    t_resolve = time.perf_counter() - t1
    p, r, f = pairwise(res.clusters, truth)
    print(f"{'system':<28}{'precision':>10}{'recall':>10}{'F1':>10}{'seconds':>10}")
    print(f"{'ContextDesk':<28}{p:>10.4f}{r:>10.4f}{f:>10.4f}{t_fit + t_resolve:>10.1f}")
    for threshold in (0.995, 0.9):
        clusters, secs = run_splink(records, threshold)
        sp, sr, sf = pairwise(clusters, truth)
        print(f"{f'Splink 5 direct (p>={threshold})':<28}{sp:>10.4f}{sr:>10.4f}{sf:>10.4f}{secs:>10.1f}")
    print(f"model: {model.origin} (trained on {model.trained_on:,} records); {len(res.reviews):,} review pairs")
    print(
        f"batch (library): fit {t_fit:.1f}s, resolve {t_resolve:.1f}s → {len(records) / (t_fit + t_resolve):,.0f} records/s "
        f"({len(records) / t_resolve:,.0f} records/s resolve only)"
    )


def database_part(customers: int, seed: int, probes: int) -> None:
    from sqlmodel import Session

    from context.canonical.models import CustomerRecord, Identifier
    from context.identity import service
    from contextdesk.db import make_engine, upgrade

    records, truth = synthetic(customers + probes, seed=seed + 1)
    rules = default_rules()
    print(f"\n== database (SQLite): {customers:,} customers ==")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        probe_people = {i for i in range(customers, customers + probes)}
        bulk = [r for r in records if truth[r.key] not in probe_people]
        extra = [r for r in records if truth[r.key] in probe_people]

        def insert(batch: list[Record]) -> None:
            with Session(engine) as session:
                for rec in batch:
                    a = rec.attributes
                    row = CustomerRecord(
                        source=rec.source,
                        source_record_id=rec.record_id,
                        first_name=a.get("first_name"),
                        last_name=a.get("last_name"),
                        email=(a.get("email") or "").lower() or None,
                        phone=a.get("phone"),
                        company=a.get("company"),
                        postcode=a.get("postcode"),
                        city=a.get("city"),
                        source_updated_at=rec.updated_at,
                    )  # type: ignore[arg-type]
                    session.add(row)
                    session.flush()
                    for kind in ("email", "phone", "stripe_customer", "shopify_customer"):
                        rule = rules.identifier(kind)
                        value = a.get(kind)
                        if value and rule:
                            from context.identity.graph import normalize_identifier

                            norm = normalize_identifier(rule, value)
                            if norm:
                                session.add(
                                    Identifier(
                                        source=rec.source,
                                        source_record_id=rec.record_id,
                                        record_id=row.id or 0,
                                        kind=kind,
                                        value=norm,
                                    )
                                )
                session.commit()

        insert(bulk)
        t0 = time.perf_counter()
        service.train(engine=engine, rules=rules, use_splink=False)
        summary = service.rebuild(engine=engine, rules=rules)
        secs = time.perf_counter() - t0
        print(f"rebuild: {len(bulk):,} records in {secs:.1f}s → {len(bulk) / secs:,.0f} records/s (incl. DB writes)")
        clusters = [sorted(v) for v in service.customers_snapshot(engine=engine).values()]
        sub_truth = {k: truth[k] for c in clusters for k in c}
        p, r, f = pairwise(clusters, sub_truth)
        print(f"database result: precision {p:.4f} recall {r:.4f} F1 {f:.4f}; {summary.reviews} review items")
        latencies = []
        for rec in extra[:probes]:
            insert([rec])
            t = time.perf_counter()
            service.resolve_pending(engine=engine, rules=rules)
            latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(
            f"incremental: {len(latencies)} single records, median {statistics.median(latencies):.1f} ms, "
            f"p99 {p99:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--db-customers", type=int, default=5_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    try:
        import context.demo.generator  # noqa: F401

        print("note: context/demo/generator.py exists but this bench still uses its built-in generator")
    except ImportError:
        print("note: demo generator not installed; using the built-in seeded generator")
    quality_and_batch(args.customers, args.seed)
    database_part(args.db_customers, args.seed, args.probes)


if __name__ == "__main__":
    main()
