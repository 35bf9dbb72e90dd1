"""Malformed files give one clear error naming the file and line; other sources still sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from context.errors import MalformedSourceError
from context.intake.service import sync
from context.intake.sources import CsvSource, JsonLinesSource, JsonSource
from tests.clock import tick
from tests.context.intake.factories import VALUE_MAPS, crm_row, crm_source, write_config, write_csv


def read_all(source: CsvSource | JsonSource | JsonLinesSource) -> list[dict[str, object]]:
    return [item.payload for item in source.read()]


def test_bad_csv_quoting_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text('id,name\n1,"Jane"\n2,"Bob "the builder"\n3,Carol\n', encoding="utf-8")
    with pytest.raises(MalformedSourceError) as info:
        read_all(CsvSource("vip", path))
    assert info.value.line == 3
    assert str(path) in str(info.value) and "line 3" in str(info.value)


def test_csv_row_with_too_many_fields_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text("id,name\n1,Jane\n2,Smith, Bob\n", encoding="utf-8")
    with pytest.raises(MalformedSourceError, match="line 3: row has 3 fields but the header has 2"):
        read_all(CsvSource("vip", path))


def test_wrong_encoding_names_the_line_and_suggests_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes("id,name\n1,Jane\n2,Ren\u00e9e\n".encode("cp1252"))
    with pytest.raises(MalformedSourceError, match=r"line 3: not valid utf-8 .*encoding:"):
        read_all(CsvSource("vip", path))
    assert read_all(CsvSource("vip", path, encoding="cp1252"))[1]["name"] == "Renée"


def test_csv_quoted_newlines_and_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes('\ufeffid,notes\n1,"line one\nline two"\n2,plain\n'.encode())
    rows = list(CsvSource("vip", path).read())
    assert [r.payload for r in rows] == [{"id": "1", "notes": "line one\nline two"}, {"id": "2", "notes": "plain"}]
    assert [r.line for r in rows] == [2, 4]


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tickets.json"
    path.write_text('{"tickets": [\n  {"id": 1},\n  {"id": 2,,}\n]}\n', encoding="utf-8")
    with pytest.raises(MalformedSourceError) as info:
        read_all(JsonSource("zendesk", path, records="tickets"))
    assert info.value.line == 3 and "invalid JSON" in str(info.value)


def test_json_without_the_configured_list_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "tickets.json"
    path.write_text('{"results": []}', encoding="utf-8")
    with pytest.raises(MalformedSourceError, match="no list of records under 'tickets'"):
        read_all(JsonSource("zendesk", path, records="tickets"))


def test_invalid_jsonl_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text('{"id": 1}\n\n{"id": 2\n', encoding="utf-8")
    with pytest.raises(MalformedSourceError, match="line 3: invalid JSON"):
        read_all(JsonLinesSource("shop", path, "utf-8"))


def test_a_malformed_source_fails_alone(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "crm.csv", [crm_row("1", email="a@example.com")])
    (tmp_path / "vip.csv").write_text('contact_id,email\n1,"broken\n', encoding="utf-8")
    bad = crm_source(name="vip", path="vip.csv", fields={"email": "email"}, identifiers={})
    config = write_config(tmp_path, [bad, crm_source()], value_maps=VALUE_MAPS)
    vip, crm = sync(clock=tick, engine=engine, config=config)
    assert vip.status == "failed" and "vip.csv" in (vip.error or "")
    assert crm.status == "ok" and crm.new == 1


def test_missing_file_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    config = write_config(tmp_path, [crm_source(path="nowhere.csv")], value_maps=VALUE_MAPS)
    [summary] = sync(clock=tick, engine=engine, config=config)
    assert summary.status == "failed"
    assert "nowhere.csv: file not found" in (summary.error or "")
