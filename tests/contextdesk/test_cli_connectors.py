"""`contextdesk sync`, `sync history` and `worker` against the fake Shopify, configured as a user configures
a real store: a YAML entry and credentials (with the base URL) in CONTEXTDESK_SOURCES."""

from __future__ import annotations

import json
from pathlib import Path

from tests.context.connectors.fakes import shopify as fs
from tests.contextdesk.test_onboarding import cli, flat


def test_sync_pulls_a_store_and_the_customer_shows_its_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "contextdesk.yaml").write_text("sources:\n  - name: shopify\n    kind: shopify\n    interval: 15m\n")
    with fs.FakeShopify() as shop:
        shop.put("customers", fs.customer(1, email="ann@example.com"))
        shop.put(
            "orders",
            fs.order(7, customer_n=1, email="ann@example.com", tracking=["1ZTRACK7"], shipment="IN_TRANSIT"),
        )
        env = {"CONTEXTDESK_SOURCES": json.dumps({"shopify": {"base_url": shop.url, "token": fs.TOKEN}})}
        synced = cli("sync", cwd=tmp_path, home=home, env=env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "shopify-customers" in synced.stdout and "shopify-orders" in synced.stdout
        shown = cli("customers", "show", "ann@example.com", cwd=tmp_path, home=home, env=env)
        assert shown.returncode == 0, shown.stderr
        assert "#1007" in shown.stdout and "1ZTRACK7" in shown.stdout

        # The worker: nothing is due right after a sync (interval 15m), so it syncs nothing.
        idle = cli("worker", "--once", cwd=tmp_path, home=home, env=env)
        assert idle.returncode == 0, idle.stderr
        assert "shopify-orders:" not in idle.stdout

        history = cli("sync", "history", cwd=tmp_path, home=home, env=env)
        assert history.returncode == 0, history.stderr
        lines = [line for line in history.stdout.splitlines() if "shopify-" in line]
        assert len(lines) == 2 and all(" ok " in f" {flat(line)} " for line in lines)

        # A wrong token: the source fails with the fix named, and the exit code says so.
        bad_env = {"CONTEXTDESK_SOURCES": json.dumps({"shopify": {"base_url": shop.url, "token": "wrong"}})}
        failed = cli("sync", cwd=tmp_path, home=home, env=bad_env)
        assert failed.returncode == 1
        assert "refused the credentials (401)" in flat(failed.stdout)


def test_sources_check_checks_a_connector_mapping_without_reading_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "people.csv").write_text("email,name\nann@example.com,Ann Lee\n")
    (tmp_path / "contextdesk.yaml").write_text(
        "sources:\n  - name: shopify\n    kind: shopify\n"
        "  - name: bookings\n    kind: push\n    id: id\n    entity: contact\n    fields: {email: email}\n"
        "  - name: people\n    kind: csv\n    path: people.csv\n    id: email\n    entity: contact\n"
        "    fields: {email: email, full_name: name}\n"
    )
    checked = cli("sources", "check", cwd=tmp_path, home=home)
    out = flat(checked.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "has no file path" not in out
    assert "shopify-orders (shopify, order): mapping compiles" in out and "contextdesk sync` pulls it" in out
    assert "records arrive at POST /v1/push/bookings" in out
    assert "1 records read" in out  # the file source is still read and standardized
