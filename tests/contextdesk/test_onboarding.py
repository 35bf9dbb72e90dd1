"""A business nobody here wrote, onboarded as a new user would: raw files → init → edit → check → sync → show.

The candle shop (fixtures/candle_shop) exports a messy CSV of customers (BOM, `Name <addr>` emails, UK phones,
day-first dates, split address lines, a loyalty card number), a nested JSON of web orders (a list under
`orders`, tracking numbers inside an array of fulfillments, line items with colour and size, its own status
words) and a CSV of market-stall sales with no date. Every mistake of the issue must produce its message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from demo import DEMO_SUITE

FIXTURE = Path(__file__).parent / "fixtures" / "candle_shop"


def cli(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real `contextdesk` process, its output captured (not a terminal: tables must stay readable)."""
    child = {**os.environ, **(env or {}), "CONTEXTDESK_HOME": str(home)}
    for name in ("DATABASE_URL", "CONTEXTDESK_DATABASE_URL", "CONTEXTDESK_CONFIG_FILE", "COLUMNS"):
        child.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "contextdesk.cli", *args],
        cwd=cwd,
        env=child,
        capture_output=True,
        text=True,
        timeout=300,
    )


def flat(text: str) -> str:
    """Output with line wrapping undone, so a message can be matched whole."""
    return " ".join(text.split())


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def source(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["sources"] if s["name"] == name)


def test_candle_shop_from_raw_files_to_a_customer(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(FIXTURE, shop)
    home = tmp_path / "home"
    config = shop / "contextdesk.yaml"

    # 1. init proposes a config from the sample files.
    proposed = cli("init", "customers.csv", "orders.json", "market_sales.csv", cwd=shop, home=home)
    assert proposed.returncode == 0, proposed.stderr
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert data["default_region"] == "GB"  # from the customers' countries
    customers, orders, market = (source(data, n) for n in ("customers", "orders", "market_sales"))
    assert (customers["kind"], customers["entity"], customers["dayfirst"]) == ("csv", "contact", True)
    assert customers["fields"]["email"] == "E-mail"
    assert customers["fields"]["address"] == {"join": ["Address 1", "Address 2"], "sep": ", "}
    assert customers["identifiers"] == {"loyalty_card": "Loyalty Card"}
    assert (orders["kind"], orders["records"], orders["entity"]) == ("json", "orders", "order")
    assert orders["fields"]["order.tracking_numbers"] == "fulfillments.*.tracking_id"
    assert orders["fields"]["order.items"]["items"]["options"] == "properties"
    assert "address" not in orders["fields"]  # the shipping address is the order's, not the person's
    assert (market["entity"], market["fields"]["order.number"]) == ("order", "Receipt")
    assert "loyalty_card" in [i["kind"] for i in data["identity"]["identifiers"]]
    again = cli("init", "customers.csv", cwd=shop, home=home)
    assert again.returncode == 1 and "exists" in again.stderr

    # 2. The proposal is checked: the shop's own status words are named, with the fix.
    checked = cli("sources", "check", cwd=shop, home=home)
    assert checked.returncode == 1
    out = flat(checked.stdout)
    assert "source 'orders' field 'order.fulfillment_status': 'dispatched' (1), 'awaiting_dispatch' (1)" in out
    assert "map them with `map:`" in out
    assert "ann.smith@wickmail.co.uk" in out  # a sample of standardized values: `Ann Smith <Ann.Smith@…>` → this
    assert "order.placed_at is not mapped" in out  # the market stall has no dates
    assert not home.exists()  # nothing written

    # 3. The user edits the config — with the mistakes of the issue.
    def mistakes(d: dict[str, Any]) -> None:
        o = source(d, "orders")
        o["fields"]["order.number"] = "nmae"  # a typo
        o["fields"]["order.tracking_numbers"] = "fulfillments.tracking_id"  # a path over an array, no `*`
        o["fields"]["order.fulfillment_status"] = {
            "from": "fulfillment_status",
            "map": {"Dispatched": "shipped", "Awaiting dispatch": "unfulfilled", "Delivered": "delivered"},
        }
        d["identity"]["identifiers"] = [i for i in d["identity"]["identifiers"] if i["kind"] != "loyalty_card"]

    edit(config, mistakes)
    checked = cli("sources", "check", cwd=shop, home=home)
    assert checked.returncode == 1
    out = flat(checked.stdout)
    assert "source 'orders' field 'order.number': path 'nmae' found in none of the 3 records" in out
    assert "did you mean 'name'?" in out
    assert "source 'orders' field 'order.tracking_numbers': path 'fulfillments.tracking_id' found in none" in out
    assert "'fulfillments' is an array: write 'fulfillments.*.tracking_id' (every element)" in out
    assert "source 'customers' identifier 'loyalty_card' is not in the identity rules" in out
    assert "not among the statuses" not in out  # the status map is in place

    # 4. Synced anyway, the typo is not silent: fill rates and the warning say so.
    synced = cli("sync", "--no-resolve", cwd=shop, home=home)
    out = flat(synced.stdout)
    assert "orders order.number 0 of 3 records 0%" in out
    assert "source 'orders' field 'order.number': path 'nmae' found in none of the 3 records" in out
    assert "quarantined" in synced.stdout and "sour…" not in synced.stdout  # full-width table, not cut at 80

    # 5. An unknown time zone is one line naming the setting and the IANA name.
    edit(config, lambda d: d.update(timezone="Pacific"))
    bad_zone = cli("sources", "check", cwd=shop, home=home)
    assert bad_zone.returncode == 1 and "Traceback" not in bad_zone.stderr
    assert "timezone: unknown time zone 'Pacific'; did you mean 'America/Los_Angeles'?" in flat(bad_zone.stderr)

    # 6. Fixed, the config checks clean and syncs; the changed mapping re-standardizes every record.
    def fixes(d: dict[str, Any]) -> None:
        d["timezone"] = "Europe/London"
        o = source(d, "orders")
        o["fields"]["order.number"] = "name"
        o["fields"]["order.tracking_numbers"] = "fulfillments.*.tracking_id"
        o["fields"]["order.carrier"] = "fulfillments.0.carrier"
        d["identity"]["identifiers"].append({"kind": "loyalty_card", "priority": 0, "limit": 2, "hub_max_names": None})

    edit(config, fixes)
    checked = cli("sources", "check", cwd=shop, home=home)
    assert checked.returncode == 0, checked.stdout
    assert "every source reads and maps" in flat(checked.stdout)
    synced = cli("sync", cwd=shop, home=home)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    out = flat(synced.stdout)
    assert "orders order.number 3 of 3 records 100%" in out
    assert "warning" not in out

    # 7. People look customers up as they type them.
    shown = cli("customers", "show", "Ann Smith <ANN.SMITH@wickmail.co.uk>", cwd=shop, home=home)
    assert shown.returncode == 0, shown.stderr
    out = flat(shown.stdout)
    assert "#CS1001" in out and "RM123456785GB, RM987654321GB (Royal Mail)" in out
    assert "2× Lavender soy candle (colour: Lilac, size: Large)" in out
    assert "loyalty_card" in out  # the card links the shop account and the CRM row
    by_order = cli("customers", "show", "cs1001", cwd=shop, home=home)  # any case, no '#'
    assert by_order.returncode == 0, by_order.stderr
    assert "ann.smith@wickmail.co.uk" in by_order.stdout
    market_sale = cli("customers", "show", "MKT-7", cwd=shop, home=home)
    assert "cara@embermail.net" in market_sale.stdout
    found = cli("customers", "search", "ann smith", "--postcode", "ls1 4ab", cwd=shop, home=home)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "LS1 4AB" in found.stdout and "customer" in found.stdout

    # 8. --config works from anywhere, on identity commands too.
    elsewhere = cli("identity", "resolve", "--config", str(config), cwd=tmp_path, home=home)
    assert elsewhere.returncode == 0, elsewhere.stderr


def test_eval_on_an_empty_store_says_how_to_load_customers(tmp_path: Path) -> None:
    suite = DEMO_SUITE
    result = cli("eval", "run", str(suite), "--out", str(tmp_path / "out"), cwd=tmp_path, home=tmp_path / "home")
    assert result.returncode == 1
    err = flat(result.stderr)
    assert "has no customers" in err and "contextdesk demo run" in err and "contextdesk sync" in err
    assert "Traceback" not in result.stderr


BIKE_SHOP = Path(__file__).parent / "fixtures" / "bike_shop"


def test_bike_repair_shop_with_its_own_business_settings(tmp_path: Path) -> None:
    """A second business: Excel-style `;` CSV with day-first dates, nested JSON repair jobs, its own hours."""
    shop = tmp_path / "bikes"
    shutil.copytree(BIKE_SHOP, shop)
    home = tmp_path / "home"
    config = shop / "contextdesk.yaml"

    # init reads repair jobs as orders: their own reference as id (not the client's), booking date, parts, specs.
    proposed = cli("init", "clients.csv", "jobs.json", cwd=shop, home=home)
    assert proposed.returncode == 0, proposed.stderr
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert data["default_region"] == "GB"  # no country column: the +44 numbers say so
    clients, jobs = source(data, "clients"), source(data, "jobs")
    assert (clients["delimiter"], clients["dayfirst"]) == (";", True)
    assert (jobs["entity"], jobs["id"], jobs["records"]) == ("order", "ref", "export.jobs")
    assert jobs["fields"]["order.placed_at"] == "booked_in"
    assert jobs["fields"]["order.fulfillment_status"] == "state"
    assert "region" not in jobs["fields"]  # `state` is the job's status here, not a county
    assert jobs["fields"]["order.items"]["items"] == {
        "sku": "part",
        "name": "desc",
        "quantity": "qty",
        "unit_price": "price",
        "options": "spec",
    }

    # The check names the shop's own status words and the placeholder total; the business settings are shown.
    checked = cli("sources", "check", cwd=shop, home=home)
    assert checked.returncode == 1
    out = flat(checked.stdout)
    assert "'ready_for_collection' (1), 'in_workshop' (1) not among the statuses" in out
    assert "order.total: bill.total: not an amount" in out
    # Neutral defaults, nothing from the demo.
    assert "business: (no name: the greeting says 'the automated assistant'), UTC" in out

    def settle(d: dict[str, Any]) -> None:
        d["null_values"] = ["TBC"]
        source(d, "jobs")["fields"]["order.fulfillment_status"] = {
            "from": "state",
            "map": {"ready for collection": "fulfilled", "in workshop": "unfulfilled", "collected": "delivered"},
        }
        d["business"] = {
            "name": "Spoke & Chain Cycles",
            "timezone": "London",  # a mistake: not an IANA name
            "hours": {"days": ["tue", "wed", "thu", "fri", "sat"], "open": "08:30", "close": "18:00"},
            "currency": "GBP",
            "support_email": "help@spokeandchain.example",
            "teams": ["workshop", "sales"],
        }

    edit(config, settle)
    bad = cli("sources", "check", cwd=shop, home=home)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "business.timezone: unknown time zone 'London'; did you mean 'Europe/London'?" in flat(bad.stderr)
    edit(config, lambda d: d["business"].update(timezone="Europe/London"))
    checked = cli("sources", "check", cwd=shop, home=home)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "business: Spoke & Chain Cycles, Europe/London, tue/wed/thu/fri/sat 08:30–18:00" in flat(checked.stdout)

    synced = cli("sync", cwd=shop, home=home)
    assert synced.returncode == 0, synced.stdout + synced.stderr

    # Dates people read are in the business's zone: booked 23:30 UTC on 30 June is 1 July in London.
    tom = cli("customers", "show", "JOB-1001", cwd=shop, home=home)
    assert tom.returncode == 0, tom.stderr
    out = flat(tom.stdout)
    assert "Tom Baker" in out and "2026-07-01" in out and "2026-06-30" not in out
    assert "lifetime value 84.50 GBP" in out
    assert "1× 11-speed chain (speed: 11, colour: silver)" in out
    as_json = cli("customers", "show", "JOB-1001", "--json", cwd=shop, home=home)
    assert "2026-06-30T23:30:00" in as_json.stdout  # JSON stays UTC

    # An order whose total is unknown is not a lifetime value of 0.00; a "GUEST" checkout has no name.
    ruth = flat(cli("customers", "show", "ruth@ngmail.example", cwd=shop, home=home).stdout)
    assert "lifetime value unknown" in ruth and "0.00" not in ruth
    guest = flat(cli("customers", "show", "guest@spokeandchain.example", cwd=shop, home=home).stdout)
    assert "name unknown" in guest and "Guest" not in guest.replace("guest@", "")
