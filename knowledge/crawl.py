"""A small, polite site crawler: same host only, robots.txt respected, sitemap.xml seeded, page limit.

It fetches; it does not parse documents (the ingest loop does, so crawled pages and files are handled alike).
"""

from __future__ import annotations

import asyncio
import email.utils
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from pydantic import BaseModel, Field

USER_AGENT = "ContextDeskBot/0.1 (+https://github.com/contextdesk)"


class CrawlConfig(BaseModel):
    """Limits and manners of a crawl."""

    max_pages: int = Field(200, gt=0)
    concurrency: int = Field(2, gt=0, le=16)
    delay_seconds: float = Field(0.0, ge=0, description="Pause per request slot (robots Crawl-delay wins if larger).")
    timeout_seconds: float = Field(15.0, gt=0)
    user_agent: str = USER_AGENT


class FetchedPage(BaseModel):
    """One fetched URL: a body to parse, or the reason there is none."""

    url: str
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    last_modified: datetime | None = None
    error: str | None = None


def _canonical(url: str) -> str:
    url, _ = urldefrag(url)
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts._replace(path=path, netloc=parts.netloc.lower(), scheme=parts.scheme.lower()).geturl()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _sitemap_urls(xml: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) listed in a sitemap or sitemap index."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return [], []
    pages: list[str] = []
    nested: list[str] = []
    for el in root.iter():
        if el.tag.endswith("loc") and el.text:
            (nested if root.tag.endswith("sitemapindex") else pages).append(el.text.strip())
    return pages, nested


def _links(html: bytes, base: str) -> list[str]:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(html.decode("utf-8", "replace"))
    out = []
    for a in tree.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if href and not href.startswith(("mailto:", "tel:", "javascript:", "#")):
            out.append(urljoin(base, href))
    return out


def crawl(
    start: str, *, config: CrawlConfig | None = None, on_page: Callable[[FetchedPage], None] | None = None
) -> list[FetchedPage]:
    """Fetch pages of the start URL's host (a page or a sitemap.xml), up to the page limit."""
    return asyncio.run(_crawl(start, config or CrawlConfig(), on_page))


async def _crawl(start: str, config: CrawlConfig, on_page: Callable[[FetchedPage], None] | None) -> list[FetchedPage]:
    origin = _origin(start)
    results: list[FetchedPage] = []
    seen: set[str] = set()
    queue: asyncio.Queue[str] = asyncio.Queue()
    headers = {"User-Agent": config.user_agent}

    async with httpx.AsyncClient(timeout=config.timeout_seconds, headers=headers, follow_redirects=True) as client:
        robots = RobotFileParser()
        try:
            response = await client.get(origin + "/robots.txt")
            robots.parse(response.text.splitlines() if response.status_code == 200 else [])
        except httpx.HTTPError:
            robots.parse([])  # no robots.txt reachable: everything allowed, as the convention says
        crawl_delay = float(robots.crawl_delay(config.user_agent) or 0.0)
        delay = max(config.delay_seconds, min(crawl_delay, 10.0))

        def enqueue(url: str) -> None:
            url = _canonical(url)
            if _origin(url) != origin or url in seen or len(seen) >= config.max_pages:
                return
            if not robots.can_fetch(config.user_agent, url):
                return
            seen.add(url)
            queue.put_nowait(url)

        # Seed: the sitemap(s) — the given one, or those robots.txt names, or /sitemap.xml — then the start page.
        sitemaps = [start] if start.lower().endswith(".xml") else (robots.site_maps() or [origin + "/sitemap.xml"])
        checked: set[str] = set()
        while sitemaps:
            sitemap = sitemaps.pop()
            if sitemap in checked or _origin(sitemap) != origin:
                continue
            checked.add(sitemap)
            try:
                response = await client.get(sitemap)
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                pages, nested = _sitemap_urls(response.content)
                sitemaps.extend(nested)
                for page in pages:
                    enqueue(page)
        if not start.lower().endswith(".xml"):
            enqueue(start)

        async def worker() -> None:
            while True:
                url = await queue.get()
                try:
                    page = await _fetch(client, url)
                    results.append(page)
                    if on_page:
                        on_page(page)
                    if page.error is None and "html" in page.content_type:
                        for link in _links(page.body, page.url):
                            enqueue(link)
                    if delay:
                        await asyncio.sleep(delay)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(config.concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results


async def _fetch(client: httpx.AsyncClient, url: str) -> FetchedPage:
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return FetchedPage(url=url, error=f"fetch failed: {type(exc).__name__}: {exc}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    modified = None
    if response.headers.get("last-modified"):
        try:
            modified = email.utils.parsedate_to_datetime(response.headers["last-modified"])
        except (TypeError, ValueError):
            modified = None
    if response.status_code >= 400:
        return FetchedPage(
            url=url, status=response.status_code, content_type=content_type, error=f"HTTP {response.status_code}"
        )
    return FetchedPage(
        url=_canonical(str(response.url)),
        status=response.status_code,
        content_type=content_type,
        body=response.content,
        last_modified=modified,
    )
