"""Layer 1 on plain records and the `identity link` CSV command."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from context.identity.csvlink import read_csv_records
from context.identity.errors import InputError, RulesError
from context.identity.graph import Record, prepare, resolve
from context.identity.rules import default_rules, load_rules
from context.identity.scoring import model_warnings, prior_model
from context.identity.splink_model import fit_model
from contextdesk.cli.identity import app
from tests.context.identity.factories import as_dicts, synthetic_people

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"


def test_csv_link_command_dedupes_the_example(tmp_path: Path) -> None:
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(
        app,
        [
            "link",
            "--rules",
            str(EXAMPLES / "identity-rules.yaml"),
            "--input",
            str(EXAMPLES / "people.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert set(rows[0]) == {"source", "record_id", "cluster_id", "match_probability"}
    groups: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        groups[row["cluster_id"]].add(row["record_id"])
    # 1-3 are Ana (one via the shared info@ address? no: via name, company and postcode); the info@ address
    # alone welds nobody; 8 and 9 hold different customer numbers (limit 1), so 9 stays apart.
    assert sorted(map(sorted, groups.values())) == [["1", "2", "3"], ["10", "8"], ["4", "6", "7"], ["5"], ["9"]]


def test_csv_link_two_files_links_across(tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text(
        "id,first_name,last_name,email\nA1,Zoe,Adams,zoe@mail.test\nA2,Yan,Li,yan@mail.test\n"
    )
    (tmp_path / "shop.csv").write_text("id,first_name,last_name,email\n77,Zoe,Adams,ZOE@mail.test\n")
    out = tmp_path / "out.csv"
    rules = tmp_path / "rules.yaml"
    rules.write_text("identifiers:\n  - {kind: email, normalize: email}\n")
    result = CliRunner().invoke(
        app,
        [
            "link",
            "--rules",
            str(rules),
            "--input",
            str(tmp_path / "crm.csv"),
            "--input",
            str(tmp_path / "shop.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {(r["source"], r["record_id"]): r["cluster_id"] for r in csv.DictReader(out.open())}
    assert rows[("crm", "A1")] == rows[("shop", "77")] != rows[("crm", "A2")]


def test_bad_inputs_name_the_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "dupes.csv"
    bad.write_text("id,email\n1,a@x.test\n1,b@x.test\n")
    with pytest.raises(InputError, match=r"dupes.csv, line 3: duplicate record id '1'"):
        read_csv_records(bad)
    rules = tmp_path / "rules.yaml"
    rules.write_text("identifiers:\n  - {kind: email, limit: 0}\n")
    with pytest.raises(RulesError, match=r"rules.yaml: identifiers.0.limit"):
        load_rules(rules)
    result = CliRunner().invoke(
        app, ["link", "--rules", str(rules), "--input", str(bad), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 1 and "identifiers.0.limit" in result.output


def test_library_result_does_not_depend_on_input_order() -> None:
    people, truth = synthetic_people(150, seed=5)
    rules = default_rules()
    records = [
        Record(p.source, p.record_id, attrs, f"2024-01-{1 + p.updated_days % 28:02d}")
        for p, attrs in zip(people, as_dicts(people), strict=True)
    ]
    model = fit_model([prepare(r, rules) for r in records], rules, train=False)
    baseline = resolve(records, rules, model)
    for seed in range(3):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        again = resolve(shuffled, rules, model)
        assert again.clusters == baseline.clusters
        assert [(r.a, r.b, r.reason) for r in again.reviews] == [(r.a, r.b, r.reason) for r in baseline.reviews]
    # Precision first: no cluster mixes two true people.
    for cluster in baseline.clusters:
        assert len({truth[k] for k in cluster}) == 1


def test_a_crowded_address_links_the_same_matches_as_a_quiet_one() -> None:
    # Forty colleagues at one office (one large address block) and one of them entered twice with a typo.
    rules = default_rules()
    office = {"company": "Acme Ltd", "address": "1 Main Street", "postcode": "AB1 2CD", "city": "Leeds"}
    first = ["anna", "ben", "carl", "dora", "emil", "fay", "gus", "hana", "ivan", "jon"]
    last = ["smith", "jones", "brown", "taylor"]
    records = [
        Record("crm", f"c{i}", {"first_name": f, "last_name": s, **office})
        for i, (f, s) in enumerate((f, s) for f in first for s in last)
    ]
    twin = Record("shop", "s1", {"first_name": "dorra", "last_name": "taylor", **office})
    crowded = [*records, twin]
    quiet = [
        next(r for r in records if r.attributes["first_name"] == "dora" and r.attributes["last_name"] == "taylor"),
        twin,
    ]
    model = fit_model([prepare(r, rules) for r in crowded], rules, train=False)
    in_crowd = resolve(crowded, rules, model)
    alone = resolve(quiet, rules, model)
    pair = sorted(r.key for r in quiet)
    assert pair in alone.clusters
    assert pair in in_crowd.clusters
    assert len(in_crowd.clusters) == len(records)
    assert [(r.a, r.b, r.reason) for r in in_crowd.reviews] == [(r.a, r.b, r.reason) for r in alone.reviews]


def test_one_damaged_record_does_not_veto_a_merge_the_other_records_support() -> None:
    # Chain guard (average linkage): a record scoring below `conflict_below` against one record of the other
    # side refuses the join only while the cross pairs' weights together stay below the auto-link weight.
    rules = load_rules(EXAMPLES / "person-rules.yaml")
    person = {
        "given_name": "nathan",
        "surname": "priest",
        "street_number": "363",
        "address_1": "banks street",
        "suburb": "malvern east",
        "postcode": "4570",
        "state": "vic",
        "date_of_birth": "19160503",
    }
    # Another date of birth on one record; a new street number, street and postcode and a typo on another.
    wrong_birth = Record("f", "dup-2", {**person, "date_of_birth": "19710428"})
    moved = Record("f", "dup-1", {**person, "street_number": "17", "address_1": "hicks road", "postcode": "3101"})
    moved = Record(moved.source, moved.record_id, {**moved.attributes, "given_name": "nathab"})
    one_clean = [Record("f", "org", dict(person)), wrong_birth, moved]
    three_clean = [*one_clean, Record("f", "org-2", dict(person)), Record("f", "org-3", dict(person))]
    model = fit_model([prepare(r, rules) for r in three_clean], rules, train=False)

    # The moved record and the one with another birth date contradict each other ...
    apart = resolve(one_clean, rules, model)
    assert ["f:dup-1"] in apart.clusters
    assert any(r.reason.startswith("conflicts with another record") for r in apart.reviews)
    # ... and with two more clean records the cross pairs together say one person.
    together = resolve(three_clean, rules, model)
    assert together.clusters == [["f:dup-1", "f:dup-2", "f:org", "f:org-2", "f:org-3"]]


def test_training_estimates_every_field_including_the_names() -> None:
    # The name fields compare with each other (swapped names), so an EM session blocked on either name
    # cannot estimate them: a rule on neither name (here the postcode) must be one EM runs on, and the names
    # get m values learned from the data, not the priors.
    people, _ = synthetic_people(700, seed=11)
    rules = default_rules()
    rules.probabilistic.blocking = [["last_name", "postcode"], ["first_name", "last_name"], ["postcode"]]
    records = [Record(p.source, p.record_id, attrs) for p, attrs in zip(people, as_dicts(people), strict=True)]
    model = fit_model([prepare(r, rules) for r in records], rules)
    priors = prior_model(rules)
    assert model.origin == "splink"
    for name in ("first_name", "last_name", "postcode", "email"):
        assert model.fields[name].origin == "splink"
        assert model.fields[name].m != priors.fields[name].m, name


def test_a_field_no_em_session_can_train_keeps_its_prior_and_says_so() -> None:
    # Every blocking rule uses a name: EM cannot estimate either name field, and the model says so.
    people, _ = synthetic_people(700, seed=11)
    rules = default_rules()
    rules.probabilistic.blocking = [["last_name", "postcode"], ["first_name", "last_name"]]
    records = [Record(p.source, p.record_id, attrs) for p, attrs in zip(people, as_dicts(people), strict=True)]
    model = fit_model([prepare(r, rules) for r in records], rules)
    priors = prior_model(rules)
    assert model.fields["first_name"].m == priors.fields["first_name"].m
    assert model.fields["postcode"].m != priors.fields["postcode"].m
    warnings = model_warnings(rules, model)
    assert any(w.startswith("first_name:") for w in warnings) and any(w.startswith("last_name:") for w in warnings)
