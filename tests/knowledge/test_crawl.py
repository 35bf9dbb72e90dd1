"""Crawling a real site on loopback: sitemap, robots.txt, same host only, broken links, page limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from knowledge.crawl import CrawlConfig
from knowledge.retrieval import search
from knowledge.service import ingest
from knowledge.store import KnowledgeStore


class _QuietHandler(SimpleHTTPRequestHandler):
    requested: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _QuietHandler.requested.append(self.path)
        super().do_GET()


def _page(title: str, body: str, links: str = "") -> str:
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><nav>{links}</nav><main><h1>{title}</h1>{body}</main></body></html>"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    (root / "help").mkdir(parents=True)
    (root / "private").mkdir()
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (root / "index.html").write_text(
        _page(
            "Help center",
            "<p>Welcome to the help center.</p>",
            '<a href="/help/returns.html">Returns</a> <a href="/help/missing.html">Broken</a> '
            '<a href="/private/secret.html">Secret</a> <a href="http://other.invalid/x.html">Elsewhere</a>',
        )
    )
    (root / "help" / "returns.html").write_text(
        _page("Returns", '<h2 id="window">Return window</h2><p>Return pangolin teapots within 30 days.</p>')
    )
    (root / "help" / "only-in-sitemap.html").write_text(
        _page("Gift cards", "<h2>Expiry</h2><p>Wombat gift cards never expire.</p>")
    )
    (root / "private" / "secret.html").write_text(_page("Secret", "<p>Internal narwhal discount codes.</p>"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/</loc></url><url><loc>{base}/help/only-in-sitemap.html</loc></url></urlset>"
    )
    _QuietHandler.requested = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, root
    server.shutdown()
    server.server_close()


def test_crawl_follows_sitemap_and_links_respects_robots_and_reports_broken_links(
    site: tuple[str, Path], store: KnowledgeStore
) -> None:
    base, _ = site
    report = ingest([base + "/"], store=store)
    statuses = {o.source.removeprefix(base): (o.status, o.error) for o in report.outcomes}
    assert statuses["/help/missing.html"] == ("failed", "HTTP 404")
    assert statuses["/help/returns.html"][0] == "added"
    assert statuses["/help/only-in-sitemap.html"][0] == "added"  # reachable only through the sitemap
    assert not any("/private/" in path for path in _QuietHandler.requested)
    assert all(not s.startswith("http://other") for s in statuses)

    hit = search("pangolin teapot return window", store=store, k=1).results[0]
    assert hit.citation_url == f"{base}/help/returns.html#window"


def test_recrawl_removes_pages_gone_from_the_site(site: tuple[str, Path], store: KnowledgeStore) -> None:
    base, root = site
    ingest([base + "/sitemap.xml"], store=store)
    assert any(r.title == "Gift cards" for r in search("wombat gift cards", store=store).results)
    (root / "help" / "only-in-sitemap.html").unlink()
    report = ingest([base + "/sitemap.xml"], store=store)
    assert report.summary["removed"] == 1
    assert all(r.title != "Gift cards" for r in search("wombat gift cards", store=store).results)


def test_page_limit(site: tuple[str, Path], store: KnowledgeStore) -> None:
    base, _ = site
    report = ingest([base + "/"], store=store, crawl_config=CrawlConfig(max_pages=2))
    assert len([o for o in report.outcomes if o.status in ("added", "failed")]) == 2
