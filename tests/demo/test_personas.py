"""The personas file (demo/personas.yaml): invalid entries are refused by name, and a new persona is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from demo.personas import (
    PERSONAS,
    PERSONAS_FILE,
    CrmContact,
    PersonaFileError,
    VipRow,
    WebForm,
    load_personas,
    write_personas,
)
from demo.sinks import DemoWriter
from demo.source_exports import CRM_COLUMNS, VIP_COLUMNS, WEBFORM_COLUMNS
from tests.demo.helpers import read_source, truth

TEXT = PERSONAS_FILE.read_text(encoding="utf-8")


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled file with one exact snippet replaced."""
    assert TEXT.count(old) == 1, f"snippet not unique in personas.yaml: {old!r}"
    path = tmp_path / "personas.yaml"
    path.write_text(TEXT.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "sku: BL-TEA-OOLONG-100,",
            "sku: BL-TEA-OOLONG-999,",
            "persona persona-maya-chen: records.3.order.items.0.sku (order #1042): unknown SKU 'BL-TEA-OOLONG-999'",
        ),
        (
            'postcode: "10115"',
            "postcode: 10115",
            "persona persona-hannah-schmidt: records.1.web_form.postcode (web_form wf-0000006): YAML read 10115 as "
            "a number: put the text in quotes",
        ),
        (
            "placed: 2026-03-02 20:11",
            "placed: 2026-03-02 8:11 PM",
            "persona persona-priya-natarajan: records.1.order.placed (order #1035): '2026-03-02 8:11 PM' is not a "
            "New York wall-clock time 'YYYY-MM-DD HH:MM'",
        ),
        (
            "contact_id: 100010",
            "contact_id: 100120",
            "persona persona-hannah-schmidt: records.0.crm.contact_id (crm 100120): 100120 is outside the personas' "
            "reserved CRM contact ids 100001-100099",
        ),
        (
            "submission_id: wf-0000005",
            "submission_id: wf-0000004",
            "persona persona-daniel-kim: records.3.web_form: web_form wf-0000004 is already persona-sofia-rossi's",
        ),
        (
            "          lastname: Okafor\n",
            "          lastnme: Okafor\n",
            "persona persona-grace-okafor: records.1.crm.lastnme (crm 100006): Extra inputs are not permitted",
        ),
        (
            "          interval: year\n",
            "          interval: week\n",
            "persona persona-maya-chen: records.4.subscription.interval (subscription sub_BLmaya0000001): "
            "Input should be 'month' or 'year'",
        ),
        (
            "      - order: # placed on Saturday afternoon, not shipped yet\n",
            "      - crm: { contact_id: 100050, createdate: 2026-10-01 10:00, lastmodifieddate: 2026-10-01 10:00 }\n"
            "        order:\n",
            "persona persona-ben-carter: records.1: a record is exactly one of crm, web_form, vip, order, "
            "subscription, ticket; got crm, order",
        ),
    ],
    ids=["sku", "unquoted-postcode", "time", "reserved-id", "duplicate-id", "unknown-field", "plan", "two-kinds"],
)
def test_an_invalid_persona_is_refused_naming_the_persona_and_the_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _edited(tmp_path, old, new)
    with pytest.raises(PersonaFileError) as err:
        load_personas(path)
    assert str(err.value).startswith(f"{path}: invalid personas file:")
    assert expected in str(err.value)


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "personas.yaml"
    path.write_text(
        TEXT.replace("tier: Gold", "tier: Gold\n          spend: 5").replace("status: pending", "status: waiting"),
        encoding="utf-8",
    )
    with pytest.raises(PersonaFileError) as err:
        load_personas(path)
    message = str(err.value)
    assert "persona persona-maya-chen: records.6.vip.spend (vip VIP-0001): Extra inputs are not permitted" in message
    assert "persona persona-liam-obrien: records.3.ticket.status (ticket 20002): Input should be" in message


def test_a_file_that_is_not_a_personas_list_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("personas:\n  - person_id: persona-x\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(PersonaFileError, match=r"broken\.yaml: cannot read the personas file"):
        load_personas(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("people: []\n", encoding="utf-8")
    with pytest.raises(PersonaFileError, match=r"expected a top-level `personas:` list"):
        load_personas(empty)


def test_a_persona_added_to_the_file_is_written_with_its_records(tmp_path: Path) -> None:
    added = """
  - person_id: persona-ada-lovelace
    name: Ada Lovelace
    email: ada.lovelace@example.com
    phone: "+12122010150"
    summary: "orders only: #1070 unfulfilled"
    records:
      - crm:
          contact_id: 100050
          firstname: Ada
          lastname: Lovelace
          email: ada.lovelace@example.com
          zip: "10001"
          createdate: 2026-10-01 09:00
          lastmodifieddate: 2026-10-02 09:30
      - order:
          number: 1070
          placed: 2026-10-30 12:00
          email: ada.lovelace@example.com
          ship_to:
            { first_name: Ada, last_name: Lovelace, address1: 1 Park Ave, city: New York, zip: "10001",
              province_code: NY, country_code: US, country: United States }
          items:
            - { sku: BL-TEA-SENCHA-100, quantity: 1 }
"""
    path = tmp_path / "personas.yaml"
    path.write_text(TEXT + added, encoding="utf-8")
    specs = load_personas(path)
    out = tmp_path / "out"
    writer = DemoWriter(out)
    assert write_personas(writer, specs) == len(PERSONAS) + 1
    writer.close()

    gt = truth(out)
    assert gt[("crm", "100050")] == gt[("shopify", "5000000001070")] == "persona-ada-lovelace"
    crm = next(r for r in read_source(out, "crm") if r["contact_id"] == "100050")
    assert (crm["lastname"], crm["zip"], crm["createdate"]) == ("Lovelace", "10001", "2026-10-01 09:00:00")
    order = json.loads((out / "shopify_orders.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert order["name"] == "#1070"
    assert order["created_at"] == "2026-10-30T12:00:00-04:00"
    assert order["fulfillment_status"] is None
    sencha = next(i for i in order["line_items"] if i["sku"] == "BL-TEA-SENCHA-100")
    # Under the $40 free-shipping threshold: the standard fee is added.
    assert order["total_price"] == f"{float(sencha['price']) + 5.95:.2f}"


@pytest.mark.parametrize(
    ("model", "columns"), [(CrmContact, CRM_COLUMNS), (WebForm, WEBFORM_COLUMNS), (VipRow, VIP_COLUMNS)]
)
def test_a_csv_record_can_set_every_column_of_its_export(model: type[BaseModel], columns: tuple[str, ...]) -> None:
    fields = set(model.model_fields)
    named = {c.lower().replace(" ", "_") for c in columns}
    assert fields - {"lifetime_spend_cents"} == named - {"lifetime_spend"}
