"""The identity rules on Splink's Spark backend, for data beyond one machine (`identity link --engine spark`).

The same parts as the default engine, run on Spark: every record is prepared by `graph.prepare` on the
executors (cleaning, names split, nickname keys, swapped dates); the comparison levels are
`comparisons.splink_comparison` in Spark SQL; m/u are trained by `splink_model.train_linker` (u by random
sampling, m by EM on `em_blocks`), implausible estimates fall back to the priors and degenerate fields get
weight 0, as `fit_model` does. Splink then scores every candidate pair of the blocking rules: pairs at or
above `upper` link, pairs between `lower` and `upper` whose records end up apart are reviews (one per pair of
clusters), and identifier values (blocklisted and hub values removed; `name_guard` / `require_name` checked
pair by pair) link as deterministic edges. Clusters are connected components (Splink's clustering on Spark).

What the default engine adds and this one does not: identifier `limit`s, `shared_max_names`, the household
rule, the chain guard (`conflict_below`) and frozen term-frequency tables (Splink computes its own on the data);
without them no value is common, so a name's typo level holds every pair at its threshold, as a single level.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from context.identity.comparisons import derived_columns
from context.identity.csvlink import LinkReport, check_columns, read_header, source_names
from context.identity.errors import EngineError, InputError
from context.identity.graph import Edge, Prepared, Record, Resolution, ReviewItem, names_agree, names_conflict, prepare
from context.identity.rules import IdentityRules
from context.identity.scoring import DEGENERATE_SHARE, FSModel, clean, prior_model
from context.identity.splink_model import (
    DETERMINISTIC_RECALL,
    MIN_TF_RECORDS,
    MIN_TRAINING_RECORDS,
    degenerate,
    read_params,
    splink_settings,
    train_linker,
)

SPARK_MISSING = (
    "the Spark engine needs pyspark, which is not installed: pip install -c constraints.txt 'contextdesk[spark]' "
    "(Spark also needs Java 17 or newer on the PATH); or run without --engine spark"
)
# Columns this module adds beside the rules' own (prefixed so they cannot meet a user's column).
SOURCE, RECORD_ID, GIVEN, FAMILY, SUFFIX = "cd_source", "cd_record_id", "cd_given", "cd_family", "cd_suffix"
NAME_KEY, ID = "cd_name_key", "cd_input_id"
# Where `local_session` keeps Spark's scratch files (removed when `link_csv_spark` stops the session it started).
SCRATCH_CONF = "spark.contextdesk.scratch"
log = logging.getLogger(__name__)


def require_pyspark() -> None:
    """Raise EngineError with the install hint when pyspark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise EngineError(SPARK_MISSING) from exc


def local_session(*, master: str = "local[*]", app_name: str = "contextdesk-identity") -> Any:
    """A Spark session on this machine with Splink's similarity functions (on a cluster, build your own)."""
    require_pyspark()
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    # Executors run Python from this interpreter and import this package from where the driver did (a source
    # checkout is not on their path otherwise).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    cores = os.cpu_count() or 2
    scratch = tempfile.mkdtemp(prefix="contextdesk-spark-")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
        .config(SCRATCH_CONF, scratch)
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(max(2 * cores, 4)))
        .config("spark.default.parallelism", str(max(2 * cores, 4)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # pyspark's error when the JVM does not start (no Java, too old a Java)
        shutil.rmtree(scratch, ignore_errors=True)
        raise EngineError(
            f"could not start Spark (it needs Java 17 or newer on the PATH or in JAVA_HOME): {exc}"
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    # Splink breaks the lineage of its intermediate tables by writing them as parquet here: without that, every
    # EM iteration's query plan holds all earlier ones and planning time grows without bound.
    session.sparkContext.setCheckpointDir(os.path.join(scratch, "checkpoints"))
    return session


def id_column_name(kind: str) -> str:
    """The column holding an identifier kind's usable values (normalized, blocklist removed)."""
    return f"cd_id_{kind}"


def _extra_blocking_columns(rules: IdentityRules) -> list[str]:
    fields = {f.name for f in rules.probabilistic.fields}
    return sorted({c for block in rules.probabilistic.blocking for c in block} - fields)


def prepared_columns(rules: IdentityRules) -> list[str]:
    """The string columns of a prepared row, in order (identifier columns, arrays, follow)."""
    cols = ["unique_id", SOURCE, RECORD_ID, GIVEN, FAMILY, SUFFIX, NAME_KEY]
    for comp in rules.probabilistic.fields:
        cols.append(comp.name)
        cols += list(derived_columns(comp))
    return cols + _extra_blocking_columns(rules)


def prepared_row(p: Prepared, record_id: str, attrs: Mapping[str, Any], rules: IdentityRules) -> list[Any]:
    """One prepared record as the Spark row of `prepared_columns` plus one value list per identifier kind."""
    row: list[Any] = [p.key, p.source, record_id, p.first_name, p.last_name, p.suffix, p.name_key]
    for comp in rules.probabilistic.fields:
        value = p.values.get(comp.name)
        row.append(value)
        row += [fn(value) for fn in derived_columns(comp).values()]
    row += [clean(attrs.get(c), field=c) for c in _extra_blocking_columns(rules)]
    for rule in rules.identifiers:
        row.append([v for v in p.identifiers.get(rule.kind, []) if not rule.is_blocked(v)])
    return row


def _prepare_partition(rows: Iterator[Any], source: str, id_column: str, rules_data: dict[str, Any]) -> Iterator[Any]:
    """Executor side: raw CSV rows of one source -> prepared rows (rules rebuilt once per partition)."""
    rules = IdentityRules.model_validate(rules_data)
    for raw in rows:
        attrs = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in raw.asDict().items()}
        record_id = attrs.get(id_column) or ""
        yield prepared_row(prepare(Record(source, record_id, attrs), rules), record_id, attrs, rules)


def prepare_frame(spark: Any, frame: Any, source: str, rules: IdentityRules, *, id_column: str) -> Any:
    """A Spark DataFrame of one source's raw records, prepared on the executors (the default engine's cleaning)."""
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    schema = StructType(
        [StructField(c, StringType()) for c in prepared_columns(rules)]
        + [StructField(id_column_name(r.kind), ArrayType(StringType())) for r in rules.identifiers]
    )
    rules_data = rules.model_dump(mode="json")
    rdd = frame.rdd.mapPartitions(lambda rows: _prepare_partition(rows, source, id_column, rules_data))
    return spark.createDataFrame(rdd, schema)


def _names_ok(require_name: bool) -> Callable[..., bool]:
    """A pair check on (given, family, suffix) of both sides: the identifier's name guard, as the default engine."""

    def check(gl: str | None, fl: str | None, sl: str | None, gr: str | None, fr: str | None, sr: str | None) -> bool:
        a = Prepared("l", (0, "", ""), {}, {}, gl, None, [], fl, sl)
        b = Prepared("r", (0, "", ""), {}, {}, gr, None, [], fr, sr)
        return names_agree(a, b) if require_name else not names_conflict(a, b)

    return check


def identifier_edges(prepared: Any, rules: IdentityRules) -> Any:
    """Deterministic edges (unique_id_l, unique_id_r, match_probability 1.0, rule) from shared identifier values."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType

    edges = None
    for rule in rules.identifiers:
        column = id_column_name(rule.kind)
        held = prepared.select("unique_id", GIVEN, FAMILY, SUFFIX, NAME_KEY, F.explode(column).alias("value"))
        if rule.hub_max_names is not None:
            # A value on more distinct names than the rule allows is a hub and links nobody.
            names = held.groupBy("value").agg(F.countDistinct(NAME_KEY).alias("names"))
            held = held.join(names.where(F.col("names") <= rule.hub_max_names).select("value"), "value")
        if rule.name_guard or rule.require_name:
            left = held.select([F.col(c).alias(f"{c}_l") for c in held.columns])
            right = held.select([F.col(c).alias(f"{c}_r") for c in held.columns])
            pairs = left.join(
                right, (F.col("value_l") == F.col("value_r")) & (F.col("unique_id_l") < F.col("unique_id_r"))
            )
            ok = F.udf(_names_ok(rule.require_name), BooleanType())
            names_l = [F.col(f"{c}_l") for c in (GIVEN, FAMILY, SUFFIX)]
            names_r = [F.col(f"{c}_r") for c in (GIVEN, FAMILY, SUFFIX)]
            found = pairs.where(ok(*names_l, *names_r)).select("unique_id_l", "unique_id_r")
        else:
            # No name check: every holder joins the value's smallest key (a star, not all pairs).
            first = held.groupBy("value").agg(F.min("unique_id").alias("unique_id_l"))
            found = (
                held.join(first, "value")
                .where(F.col("unique_id") != F.col("unique_id_l"))
                .select("unique_id_l", F.col("unique_id").alias("unique_id_r"))
            )
        found = found.distinct().withColumn("match_probability", F.lit(1.0)).withColumn("rule", F.lit(rule.kind))
        edges = found if edges is None else edges.unionByName(found)
    return edges


@dataclass
class SparkLink:
    """What `link_spark` produced: Spark DataFrames (nothing collected) and the model it scored with."""

    clusters: Any  # unique_id, cd_source, cd_record_id, cluster_id, match_probability (best accepted link)
    links: Any  # unique_id_l, unique_id_r, match_probability, rule ('splink' or an identifier kind)
    reviews: Any  # unique_id_l, unique_id_r, match_probability: one per pair of clusters, the strongest
    model: FSModel
    records: int
    pairs_scored: int


def link_spark(
    spark: Any,
    frames: Mapping[str, Any],
    rules: IdentityRules,
    *,
    id_column: str,
    train: bool = True,
    link_only: bool = False,
    seed: int = 42,
    break_lineage_method: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> SparkLink:
    """Dedupe or link Spark DataFrames of raw records (source name -> frame, every column a string)."""
    require_pyspark()
    from splink import SparkAPI

    if not frames or (link_only and len(frames) < 2):
        raise InputError("link_spark needs input frames (two or more with link_only)")
    say = progress or (lambda _msg: None)
    everyone, n = _prepare_all(spark, frames, rules, id_column=id_column)
    say(f"prepared {n:,} records on Spark")
    link_type: Literal["link_only", "dedupe_only"] = "link_only" if link_only else "dedupe_only"
    db = SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method)
    inputs = [db.register(t) for t in _splink_tables(everyone, list(frames), rules, link_only=link_only)]
    with _quiet_splink():
        model, settings = _fit(inputs, everyone, rules, n=n, link_type=link_type, train=train, seed=seed, say=say)
        say("scoring candidate pairs with Splink")
        predicted, pairs_scored = _score(inputs, settings, rules, link_type=link_type)
        links = _links(predicted, everyone, rules)
        say("clustering")
        clusters = _clusters(everyone, links, db, rules)
    reviews = _reviews(predicted, clusters, rules)
    return SparkLink(clusters, links, reviews, model, n, pairs_scored)


def _prepare_all(spark: Any, frames: Mapping[str, Any], rules: IdentityRules, *, id_column: str) -> tuple[Any, int]:
    """Every source's records prepared on the executors, in one persisted frame, and how many there are."""
    prepared = [prepare_frame(spark, frame, name, rules, id_column=id_column) for name, frame in frames.items()]
    everyone = prepared[0]
    for frame in prepared[1:]:
        everyone = everyone.unionByName(frame)
    everyone = everyone.persist()
    return everyone, everyone.count()


def _splink_tables(everyone: Any, sources: Sequence[str], rules: IdentityRules, *, link_only: bool) -> list[Any]:
    """The frames Splink reads: one per source when linking only, else one; identifiers as scalar first values."""
    from pyspark.sql import functions as F

    splink_cols = [c for c in prepared_columns(rules) if c not in (SOURCE, RECORD_ID, SUFFIX, NAME_KEY)]
    splink_cols += [id_column_name(r.kind) for r in rules.identifiers]
    tables = (
        [everyone.where(F.col(SOURCE) == name).select(*splink_cols) for name in sources]
        if link_only
        else [everyone.select(*splink_cols)]
    )
    # Scalar copies of the identifiers (the first usable value) for the deterministic rules of the prior.
    return [
        t.withColumns(
            {f"{id_column_name(r.kind)}_1": F.col(id_column_name(r.kind))[0] for r in rules.identifiers}
        ).drop(*[id_column_name(r.kind) for r in rules.identifiers])
        for t in tables
    ]


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink's INFO lines (every EM iteration) silenced for the length of the block."""
    splink_logger = logging.getLogger("splink")
    previous_level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_logger.setLevel(previous_level)


def _fit(
    inputs: Sequence[Any],
    everyone: Any,
    rules: IdentityRules,
    *,
    n: int,
    link_type: Literal["link_only", "dedupe_only"],
    train: bool,
    seed: int,
    say: Callable[[str], None],
) -> tuple[FSModel, dict[str, Any]]:
    """The model to score with (trained by Splink when there is enough data, else the priors) and its settings."""
    from splink import Linker, block_on

    linker = Linker(list(inputs), splink_settings(rules, link_type=link_type, dialect="spark"), log_level=None)
    model = prior_model(rules)
    model.trained_on = n
    saved: dict[str, Any]
    if train and n >= MIN_TRAINING_RECORDS and rules.probabilistic.fields:
        say("training m/u with Splink on Spark")
        saved = train_linker(linker, rules, seed=seed, block_on=block_on)
        trained = read_params(saved, rules)
        model.fields.update(trained)
        model.origin = "splink" if trained else "prior"
        model.prior_match_probability = _estimate_prior(linker, rules, block_on)
    else:
        saved = linker.misc.save_model_to_json()
    _neutralize_degenerate(everyone, rules, model)
    return model, _with_model(saved, rules, model)


def _score(
    inputs: Sequence[Any],
    settings: Mapping[str, Any],
    rules: IdentityRules,
    *,
    link_type: Literal["link_only", "dedupe_only"],
) -> tuple[Any, int]:
    """Splink's predictions at or above `lower` (persisted), and how many candidate pairs the blocking rules made."""
    from splink import Linker, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    scoring = Linker(list(inputs), dict(settings), log_level=None)
    predicted = scoring.inference.predict(threshold_match_probability=rules.probabilistic.lower).as_spark_dataframe()
    predicted = predicted.select("unique_id_l", "unique_id_r", "match_probability").persist()
    counted = count_comparisons_from_blocking_rules(
        list(inputs),
        blocking_rules=[block_on(*b) for b in rules.probabilistic.blocking],
        link_type=link_type,
        record_sample_proportion=1.0,
    )
    return predicted, int(counted[-1]["cumulative_comparison_count"]) if counted else 0


def _links(predicted: Any, everyone: Any, rules: IdentityRules) -> Any:
    """The accepted links: predictions at or above `upper`, and the identifiers' deterministic edges."""
    from pyspark.sql import functions as F

    links = predicted.where(F.col("match_probability") >= rules.probabilistic.upper).withColumn("rule", F.lit("splink"))
    deterministic = identifier_edges(everyone, rules)
    if deterministic is not None:
        links = links.unionByName(deterministic)
    return links.persist()


def _clusters(everyone: Any, links: Any, db: Any, rules: IdentityRules) -> Any:
    """Connected components of the links (Splink's clustering), each record with its best accepted link."""
    from pyspark.sql import functions as F
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    clustered = cluster_pairwise_predictions_at_threshold(
        everyone.select("unique_id"), links, db, "unique_id", threshold_match_probability=rules.probabilistic.upper
    ).as_spark_dataframe()
    ends = links.select(F.col("unique_id_l").alias("unique_id"), "match_probability").unionByName(
        links.select(F.col("unique_id_r").alias("unique_id"), "match_probability")
    )
    best = ends.groupBy("unique_id").agg(F.max("match_probability").alias("match_probability"))
    return (
        everyone.select("unique_id", SOURCE, RECORD_ID)
        .join(clustered.select("unique_id", "cluster_id"), "unique_id")
        .join(best, "unique_id", "left")
        .persist()
    )


def _reviews(predicted: Any, clusters: Any, rules: IdentityRules) -> Any:
    """Predictions between `lower` and `upper` whose records ended apart: the strongest per pair of clusters."""
    from pyspark.sql import functions as F

    of = clusters.select("unique_id", "cluster_id")
    apart = (
        predicted.where(F.col("match_probability") < rules.probabilistic.upper)
        .join(of.withColumnsRenamed({"unique_id": "unique_id_l", "cluster_id": "cluster_l"}), "unique_id_l")
        .join(of.withColumnsRenamed({"unique_id": "unique_id_r", "cluster_id": "cluster_r"}), "unique_id_r")
        .where(F.col("cluster_l") != F.col("cluster_r"))
    )
    a = F.least("cluster_l", "cluster_r").alias("a")
    b = F.greatest("cluster_l", "cluster_r").alias("b")
    strongest = F.max_by(F.struct("unique_id_l", "unique_id_r", "match_probability"), "match_probability")
    return apart.groupBy(a, b).agg(strongest.alias("pair")).select("pair.*")


def _estimate_prior(linker: Any, rules: IdentityRules, block_on: Any) -> float:
    """As `splink_model.estimate_prior`: the identifier and name + date of birth rules find 80% of true pairs."""
    deterministic = [block_on(f"{id_column_name(r.kind)}_1") for r in rules.identifiers]
    dob = rules.date_of_birth_field
    if dob and dob in {f.name for f in rules.probabilistic.fields}:
        deterministic.append(block_on(GIVEN, FAMILY, dob))
    if not deterministic:
        return rules.probabilistic.prior_match_probability
    try:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=DETERMINISTIC_RECALL)
    except Exception as exc:  # no pair satisfies any rule: the configured prior stays
        log.info("prior estimate failed: %s", type(exc).__name__)
        return rules.probabilistic.prior_match_probability
    prior = linker.misc.save_model_to_json().get("probability_two_random_records_match")
    return (
        max(float(prior), 1e-7)
        if isinstance(prior, int | float) and 0 < prior < 1
        else rules.probabilistic.prior_match_probability
    )


def _neutralize_degenerate(prepared: Any, rules: IdentityRules, model: FSModel) -> None:
    """As `splink_model._neutralize_degenerate`, counted on Spark: a field one value dominates gets weight 0."""
    from pyspark.sql import functions as F

    for comp in rules.probabilistic.fields:
        values = prepared.where(F.col(comp.name).isNotNull()).groupBy(comp.name).count()
        total = values.agg(F.sum("count")).first()[0] or 0
        if total < MIN_TF_RECORDS:
            continue
        top = values.orderBy(F.desc("count")).first()
        share = top["count"] / total
        if share >= DEGENERATE_SHARE:
            model.fields[comp.name] = degenerate(model.fields[comp.name], top[comp.name], share)


def _with_model(settings: Mapping[str, Any], rules: IdentityRules, model: FSModel) -> dict[str, Any]:
    """Splink settings carrying the model's m/u per level and its prior (what the default engine scores with)."""
    out = dict(settings)
    out["probability_two_random_records_match"] = model.prior_match_probability
    by_name = {c.name: c for c in rules.probabilistic.fields}
    comparisons = []
    for comparison in settings["comparisons"]:
        comparison = dict(comparison)
        params = model.fields.get(comparison["output_column_name"])
        if params is not None and comparison["output_column_name"] in by_name:
            levels, i = [], 0
            for level in comparison["comparison_levels"]:
                level = dict(level)
                if not level.get("is_null_level"):
                    level["m_probability"], level["u_probability"] = params.m[i], params.u[i]
                    i += 1
                levels.append(level)
            comparison["comparison_levels"] = levels
        comparisons.append(comparison)
    out["comparisons"] = comparisons
    return out


def link_csv_spark(
    inputs: Sequence[Path],
    rules: IdentityRules,
    *,
    id_column: str | None = None,
    train: bool = True,
    link_only: bool = False,
    progress: Callable[[str], None] | None = None,
    spark: Any = None,
    break_lineage_method: str | None = None,
) -> tuple[list[Record], Resolution, LinkReport]:
    """`link_csv` on Spark: read the files with Spark, link with `link_spark`, collect for the same outputs."""
    require_pyspark()
    started = time.perf_counter()
    sources = source_names(inputs, link_only=link_only)
    headers = {p.name: read_header(p) for p in inputs}
    check_columns(rules, headers)
    session = spark or local_session()
    try:
        return _link_csv_files(
            session,
            inputs,
            sources,
            headers,
            rules,
            id_column,
            train,
            link_only,
            progress,
            started,
            break_lineage_method,
        )
    finally:
        if spark is None:
            scratch = session.conf.get(SCRATCH_CONF, None)
            session.stop()
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


def _link_csv_files(
    session: Any,
    inputs: Sequence[Path],
    sources: Sequence[str],
    headers: Mapping[str, list[str]],
    rules: IdentityRules,
    id_column: str | None,
    train: bool,
    link_only: bool,
    progress: Callable[[str], None] | None,
    started: float,
    break_lineage_method: str | None,
) -> tuple[list[Record], Resolution, LinkReport]:
    """Read the CSV files with Spark (checking record ids), link them, collect the outputs `link_csv` returns."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    frames = {}
    for path, source in zip(inputs, sources, strict=True):
        header = headers[path.name]
        column = id_column or header[0]
        if column not in header:
            raise InputError(f"{path}: id column {column!r} not in header {header}")
        schema = StructType([StructField(c, StringType()) for c in header])
        frame = session.read.csv(str(path), header=True, schema=schema, multiLine=True, escape='"', encoding="UTF-8")
        # One id column name across files (each file may name its own).
        frame = frame.withColumn(ID, F.trim(F.col(column)))
        ids = frame.groupBy(ID).count()
        bad = ids.where(F.col(ID).isNull() | (F.col(ID) == "") | (F.col("count") > 1)).first()
        if bad is not None:
            what = "empty record id" if not bad[ID] else f"duplicate record id {bad[ID]!r}"
            raise InputError(f"{path}: {what} in column {column!r}")
        frames[source] = frame
    result = link_spark(
        session,
        frames,
        rules,
        id_column=ID,
        train=train,
        link_only=link_only,
        progress=progress,
        break_lineage_method=break_lineage_method,
    )
    rows = result.clusters.collect()
    records = [Record(r[SOURCE], r[RECORD_ID], {}) for r in rows]
    groups: dict[Any, list[str]] = {}
    for r in rows:
        groups.setdefault(r["cluster_id"], []).append(r["unique_id"])
    clusters = sorted((sorted(g) for g in groups.values()), key=lambda c: c[0])
    edges = [
        Edge(
            e["unique_id_l"],
            e["unique_id_r"],
            "probabilistic" if e["rule"] == "splink" else "deterministic",
            e["rule"],
            float(e["match_probability"]),
            [],
        )
        for e in result.links.collect()
    ]
    reviews = [
        ReviewItem(
            r["unique_id_l"],
            r["unique_id_r"],
            "probable match below the auto-link threshold",
            float(r["match_probability"]),
            [],
        )
        for r in result.reviews.orderBy(F.desc("match_probability"), "unique_id_l", "unique_id_r").collect()
    ]
    resolution = Resolution(clusters, edges, reviews, stats={"pairs_scored": result.pairs_scored})
    report = LinkReport(
        records=result.records,
        sources=list(sources),
        blocks=0,
        pairs_scored=result.pairs_scored,
        links=len(edges),
        reviews=len(reviews),
        clusters=len(clusters),
        multi_record_clusters=sum(1 for c in clusters if len(c) > 1),
        model=result.model,
        seconds=time.perf_counter() - started,
        stats=resolution.stats,
    )
    return records, resolution, report
