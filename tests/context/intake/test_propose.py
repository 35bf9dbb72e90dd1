"""`contextdesk init`'s guesses on files shaped unlike the tests' candle shop."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from context.intake.config import parse_intake_config
from context.intake.propose import detect_kind, propose_source, render_yaml


def test_semicolon_csv_of_tickets(tmp_path: Path) -> None:
    path = tmp_path / "helpdesk_export.csv"
    path.write_text(
        "Ticket ID;Requester;Subject;Status;Priority;Created\n"
        "T-1;jo@fernmail.de;Kerze kaputt;open;high;2024-03-01 10:00\n"
        "T-2;max@fernmail.de;Lieferung;solved;low;2024-03-02 11:00\n",
        encoding="utf-8",
    )
    assert detect_kind(path) == ("csv", None, ";")
    p = propose_source(path, base_dir=tmp_path)
    assert (p.entity, p.id) == ("ticket", "Ticket ID")
    assert p.fields["email"] == "Requester"  # found by its values, not its name
    assert (p.fields["ticket.subject"], p.fields["ticket.status"], p.fields["ticket.priority"]) == (
        "Subject",
        "Status",
        "Priority",
    )


def test_jsonl_and_nested_json_become_a_valid_config(tmp_path: Path) -> None:
    members = tmp_path / "members.jsonl"
    members.write_text(
        "".join(
            json.dumps({"uuid": f"u{i}", "contact": {"email": f"m{i}@fernmail.de", "mobile": "+49 151 23456789"}})
            + "\n"
            for i in range(3)
        ),
        encoding="utf-8",
    )
    subs = tmp_path / "billing.json"
    subs.write_text(
        json.dumps(
            {"data": {"items": [{"id": "s1", "plan": "Monthly box", "status": "active", "email": "m1@fernmail.de"}]}}
        ),
        encoding="utf-8",
    )
    proposals = [propose_source(members, base_dir=tmp_path), propose_source(subs, base_dir=tmp_path)]
    assert (proposals[0].kind, proposals[0].entity, proposals[0].fields["email"]) == (
        "jsonl",
        "contact",
        "contact.email",
    )
    assert proposals[0].fields["phone"] == "contact.mobile"
    assert (proposals[1].kind, proposals[1].records, proposals[1].entity) == ("json", "data.items", "subscription")
    config = parse_intake_config(yaml.safe_load(render_yaml(proposals)), base_dir=tmp_path)
    assert [s.name for s in config.sources] == ["members", "billing"]
