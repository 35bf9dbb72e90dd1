"""Names as evidence, households, strong ids with typos, field configuration, and `identity link` options."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from context.identity.csvlink import link_csv
from context.identity.errors import InputError, RulesError
from context.identity.graph import Record, prepare, resolve
from context.identity.rules import parse_rules
from context.identity.scoring import model_warnings, prior_model
from context.identity.splink_model import fit_model
from contextdesk.cli.identity import app
from tests.clock import NOW

PERSON = {
    "given_name_field": "given",
    "family_name_field": "family",
    "date_of_birth_field": "dob",
    "address_fields": ["street", "postcode"],
    "identifiers": [{"kind": "member_no", "name_guard": False, "hub_max_names": None}],
    "probabilistic": {
        "fields": [
            {"name": "given", "compare": "name", "tf": True},
            {"name": "family", "compare": "name", "tf": True},
            {"name": "dob", "compare": "date"},
            {"name": "member_no", "compare": "dl"},
            {"name": "street", "compare": "fuzzy"},
            {"name": "postcode", "compare": "exact"},
        ],
        "blocking": [["family"], ["dob"], ["postcode"]],
        "upper": 0.9,
        "lower": 0.5,
    },
}


def _resolve(rows: list[dict[str, str | None]], rules_data: dict = PERSON) -> list[list[str]]:
    rules = parse_rules(rules_data)
    records = [Record("t", str(i), row) for i, row in enumerate(rows)]
    model = fit_model([prepare(r, rules) for r in records], rules, train=False)
    return [c for c in resolve(records, rules, model).clusters if len(c) > 1]


def _person(given: str, family: str, dob: str, street: str, postcode: str, member: str | None = None) -> dict:
    return {"given": given, "family": family, "dob": dob, "street": street, "postcode": postcode, "member_no": member}


def test_swapped_given_and_family_names_link_when_the_rest_agrees() -> None:
    clusters = _resolve(
        [
            _person("Okonkwo", "Adaeze", "1984-03-02", "12 Harbour Road", "4000"),
            _person("Adaeze", "Okonkwo", "19840302", "12 Harbour Rd", "4000"),
        ]
    )
    assert clusters == [["t:0", "t:1"]]


def test_housemates_with_similar_first_names_stay_apart() -> None:
    rows = [
        _person("Patricia", "Nguyen", "19800101", "7 Elm Street", "2000"),
        _person("Patrick", "Nguyen", "19780512", "7 Elm Street", "2000"),
        _person("Brandon", "Nguyen", "20050303", "7 Elm Street", "2000"),
        _person("Bradley", "Nguyen", "20050304", "7 Elm Street", "2000"),
        _person("John", "Nguyen Jr", "20010909", "7 Elm Street", "2000"),
        _person("John", "Nguyen", "19700101", "7 Elm Street", "2000"),
    ]
    assert _resolve(rows) == []
    # Without dates of birth the household fields still count once, so nobody is welded together.
    no_dob = [{**r, "dob": None} for r in rows]
    assert _resolve(no_dob) == []


def test_a_typo_of_a_housemates_name_stands_for_the_closer_name_or_for_neither() -> None:
    rules = parse_rules(PERSON)
    home = {"family": "Foster", "street": "122 Hill Road", "postcode": "4000", "dob": None, "member_no": None}
    rows = [
        {**home, "given": "Eric"},
        {**home, "given": "Erica"},
        {**home, "given": "Eria"},  # one edit from Eric and from Erica: could be either
        {**home, "family": "Wong", "given": "Christian"},
        {**home, "family": "Wong", "given": "Christina"},
        {**home, "family": "Wong", "given": "Christna"},  # one edit from Christina, two from Christian
    ]
    records = [Record("t", str(i), row) for i, row in enumerate(rows)]
    model = fit_model([prepare(r, rules) for r in records], rules, train=False)
    # Names the data knows well (each on many records), as term frequencies from a real data set say.
    model.tf["given"] = {n: 0.01 for n in ("eric", "erica", "christian", "christina")}
    model.trained_on = 10_000
    clusters = [c for c in resolve(records, rules, model).clusters if len(c) > 1]
    assert clusters == [["t:4", "t:5"]]


def test_a_different_first_name_is_outweighed_by_date_of_birth_address_and_surname() -> None:
    clusters = _resolve(
        [
            _person("Margaret", "Okafor", "19520611", "3 Quarry Lane", "3050"),
            _person("Ruth", "Okafor", "19520611", "3 Quarry Lane", "3050"),  # a middle name used as first
        ]
    )
    assert clusters == [["t:0", "t:1"]]


def test_a_strong_id_links_despite_a_different_first_name_and_a_typo_still_counts() -> None:
    rows = [
        _person("Alexander", "Berg", "19900101", "1 Pier St", "6000", "A-1234567"),
        _person("Sasha", "Berg", "19900101", "1 Pier St", "6000", "A-1234567"),  # same id: deterministic
        _person("Alex", "Berg", "19901001", "1 Pier Street", "6000", "A-1234576"),  # id typo + dob swapped
    ]
    assert _resolve(rows) == [["t:0", "t:1", "t:2"]]


def test_limit_one_counts_a_typo_as_the_same_id_only_when_asked() -> None:
    data = {**PERSON, "identifiers": [{"kind": "member_no", "limit": 1, "name_guard": False}]}
    rows = [
        _person("Alexander", "Berg", "19900101", "1 Pier St", "6000", "A-1234567"),
        _person("Alexander", "Berg", "19900101", "1 Pier St", "6000", "A-1234576"),
    ]
    assert _resolve(rows, data) == []  # two distinct ids on one customer: refused (C-300 and C-301 differ)
    tolerant = {**PERSON, "identifiers": [{"kind": "member_no", "limit": 1, "limit_ignores_typos": True}]}
    assert _resolve(rows, tolerant) == [["t:0", "t:1"]]


def test_unknown_columns_in_rules_are_an_error_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,given_name,surname,email\n1,Ann,Lee,ann@x.test\n2,Ann,Lee,ann@x.test\n")
    rules = parse_rules({"identifiers": [{"kind": "email", "normalize": "email"}]})
    with pytest.raises(InputError, match=r"no name column \(given_name_field: 'first_name'"):
        link_csv([path], rules)
    typo = parse_rules(
        {
            "given_name_field": "given_name",
            "family_name_field": "surname",
            "probabilistic": {"fields": [{"name": "surnme", "compare": "name"}]},
        }
    )
    with pytest.raises(InputError, match=r"'surnme' \(named by probabilistic.fields"):
        link_csv([path], typo)
    with pytest.raises(RulesError, match="household_fields"):
        parse_rules({"probabilistic": {"fields": [{"name": "a"}], "household_fields": ["b"]}})


def test_link_only_writes_reviews_and_reports(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "id,first_name,last_name,postcode,city\n1,Zoe,Adams,1000,Oslo\n2,Zoe,Adams,1000,Oslo\n3,Yan,Li,2000,Bergen\n"
    )
    (tmp_path / "b.csv").write_text("id,first_name,last_name,postcode,city\n9,Zoe,Adams,1000,Oslo\n8,Yan,Lee,2000,\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "probabilistic:\n"
        "  fields:\n"
        "    - {name: first_name, compare: name}\n"
        "    - {name: last_name, compare: name}\n"
        "    - {name: postcode, compare: exact}\n"
        "    - {name: city, compare: exact}\n"
        "  blocking: [[first_name], [postcode]]\n"
        "  upper: 0.99\n"
        "  lower: 0.001\n"
    )
    out, reviews = tmp_path / "out.csv", tmp_path / "reviews.csv"
    args = ["link", "--rules", str(rules), "--input", str(tmp_path / "a.csv"), "--input", str(tmp_path / "b.csv")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--link-only", "--review-out", str(reviews)])
    assert result.exit_code == 0, result.output
    assert "pairs scored" in result.output and "not trained" in result.output
    rows = {(r["source"], r["record_id"]): r["cluster_id"] for r in csv.DictReader(out.open())}
    assert rows[("a", "1")] == rows[("b", "9")] != rows[("a", "3")]
    # Link-only: no edge joins two records of one file (a:1 and a:2 meet only through b:9).
    _, resolution, report = link_csv(
        [tmp_path / "a.csv", tmp_path / "b.csv"], parse_rules(_yaml(rules)), link_only=True
    )
    assert resolution.edges and all(e.a.split(":")[0] != e.b.split(":")[0] for e in resolution.edges)
    assert report.pairs_scored >= 2
    review_rows = list(csv.DictReader(reviews.open()))
    assert {(r["record_id_a"], r["record_id_b"]) for r in review_rows} & {("3", "8"), ("8", "3")}
    assert all(r["reason"] for r in review_rows)


def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_a_field_with_one_dominant_value_is_flagged_and_weighs_nothing() -> None:
    rules = parse_rules(
        {
            "probabilistic": {
                "fields": [{"name": "first_name", "compare": "name"}, {"name": "postcode", "compare": "exact"}],
                "blocking": [["postcode"]],
            }
        }
    )
    records = [
        Record("t", str(i), {"first_name": f"name{i}", "postcode": "1000" if i % 30 else "2000"}) for i in range(300)
    ]
    model = fit_model([prepare(r, rules) for r in records], rules, train=False)
    assert model.fields["postcode"].origin == "degenerate"
    assert any("postcode" in w and "no evidence" in w for w in model_warnings(rules, model))


def test_a_stored_model_with_other_levels_falls_back_to_priors(sqlite_engine: object) -> None:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from context.identity import service
    from context.identity.models import IdentityState
    from context.identity.rules import default_rules

    assert isinstance(sqlite_engine, Engine)
    rules = default_rules()
    stored = prior_model(rules)
    stored.fields["first_name"].m = [0.9, 0.05, 0.03, 0.02]  # the four levels of an older version
    stored.fields["first_name"].u = [0.01, 0.01, 0.01, 0.97]
    with Session(sqlite_engine) as session:
        session.add(IdentityState(key="model", value=stored.model_dump(mode="json"), updated_at=NOW))
        session.commit()
    model = service.load_model(engine=sqlite_engine, rules=rules)
    assert len(model.fields["first_name"].m) == rules.probabilistic.fields[0].n_levels


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1 :] if rng.random() < 0.5 else name[:i] + name[i] + name[i:]


def test_a_typo_of_a_common_name_weighs_more_than_two_common_names_alike() -> None:
    from context.identity.rules import default_rules
    from context.identity.scoring import score_pair

    rng = random.Random(5)
    firsts = ["abigail", "julia", "julian", "marcus", "helena", "oliver", "sophie", "daniel", "nadia", "tobias"]
    firsts += ["harriet", "felix", "imogen", "rupert", "clara", "edmund", "lydia", "silas", "vera", "conrad"]
    lasts = [f"{a}{b}" for a in ("ash", "brook", "cole", "dale", "fern", "hart") for b in ("by", "ford", "ley", "ton")]
    alike = {"julia": "julian", "julian": "julia", "daniel": "daniela", "clara": "clare", "silas": "silvia"}
    firsts += sorted(set(alike.values()) - set(firsts))
    records: list[Record] = []
    first = last = postcode = phone = ""
    for person in range(700):
        if first in alike and rng.random() < 0.2:  # a housemate with a name like the last person's: one landline
            first = alike[first]
        else:
            first, last = rng.choice(firsts), rng.choice(lasts)
            postcode, phone = f"{rng.randrange(10_000, 99_999)}", f"+4420{person:07d}"
        for n in range(rng.choice((2, 3))):
            given = _typo(first, rng) if rng.random() < 0.06 else first
            email = f"{first}.{last}{person}@{('mail', 'work')[n % 2]}.test" if rng.random() < 0.8 else None
            row = {"first_name": given, "last_name": last, "postcode": postcode, "email": email}
            records.append(Record("s", f"{person}-{n}", {**row, "phone": phone if rng.random() < 0.7 else None}))
    # Abigail with a typo on one of her two addresses; Julia and Julian at one home, each with an address.
    home = {"last_name": "okafor", "postcode": "40400"}
    records += [
        Record("s", "abi-1", {**home, "first_name": "abigail", "email": "abi@mail.test"}),
        Record("s", "abi-2", {**home, "first_name": "abgail", "email": "a.okafor@work.test"}),
        Record("s", "jul-1", {**home, "first_name": "julia", "email": "julia@mail.test"}),
        Record("s", "jul-2", {**home, "first_name": "julian", "email": "julian@mail.test"}),
    ]
    rules = default_rules()
    prepared = {p.key: p for p in (prepare(r, rules) for r in records)}
    model = fit_model(list(prepared.values()), rules)
    assert model.origin == "splink"
    typo = score_pair(rules, model, prepared["s:abi-1"].values, prepared["s:abi-2"].values).contributions[0]
    two = score_pair(rules, model, prepared["s:jul-1"].values, prepared["s:jul-2"].values).contributions[0]
    assert typo.level.startswith("typo") and two.level.startswith("similar")
    assert typo.bits > two.bits + 1  # learned from the data: a rare spelling beside a common name is a typo
    clusters = resolve(records, rules, model).cluster_of()
    assert clusters["s:abi-1"] == clusters["s:abi-2"]
    assert clusters["s:jul-1"] != clusters["s:jul-2"]
