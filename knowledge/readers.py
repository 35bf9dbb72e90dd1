"""Readers: Markdown (with YAML front matter), HTML, plain text and PDF into sectioned documents.

Every reader raises DocumentError naming the source (and the field, for bad front matter); the ingest loop
reports it for that document and carries on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from knowledge.errors import DocumentError
from knowledge.models import AUDIENCES, Audience, DocumentKind, ParsedDocument, Section

SUFFIX_KINDS: dict[str, DocumentKind] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
#: Bumped when parsing or chunking changes, so re-ingest re-processes documents whose bytes did not change.
PIPELINE_VERSION = "1"

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_KNOWN_KEYS = {"title", "url", "audience", "plans", "topic", "language", "lang", "updated"}


def slugify(text: str) -> str:
    """GitHub-style heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"\s+", "-", text)


class _Anchors:
    """Hands out unique anchors within one document (a repeated heading gets -1, -2 …, as GitHub does)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, heading: str, explicit: str | None = None) -> str:
        base = explicit or slugify(heading)
        n = self.seen.get(base)
        self.seen[base] = 0 if n is None else n + 1
        return base if n is None else f"{base}-{n + 1}"


def content_hash(data: bytes, *extra: str) -> str:
    """Hash of a document's bytes plus everything else that changes how it is indexed."""
    h = hashlib.sha256(data)
    for part in (PIPELINE_VERSION, *extra):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def _as_datetime(value: Any, source: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DocumentError(source, f"front matter field 'updated': not an ISO date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    end = re.search(r"^(---|\.\.\.)\s*$", text[3:], flags=re.MULTILINE)
    if end is None:
        raise DocumentError(source, "front matter starts with '---' but has no closing '---'")
    raw, body = text[3 : 3 + end.start()], text[3 + end.end() :]
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(source, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(source, "front matter must be a mapping of field: value")
    return data, body


def _meta_fields(meta: dict[str, Any], source: str, default_audience: Audience) -> dict[str, Any]:
    """Validate the front-matter fields we interpret; everything else is kept as free metadata."""
    audience = meta.get("audience", default_audience)
    if audience not in AUDIENCES:
        raise DocumentError(source, f"front matter field 'audience': {audience!r} is not one of {', '.join(AUDIENCES)}")
    plans = meta.get("plans") or []
    if isinstance(plans, str):
        plans = [plans]
    if not isinstance(plans, list) or not all(isinstance(p, str) and p.strip() for p in plans):
        raise DocumentError(source, f"front matter field 'plans': expected a list of plan names, got {plans!r}")
    topic = meta.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise DocumentError(source, f"front matter field 'topic': expected text, got {topic!r}")
    url = meta.get("url")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://", url)):
        raise DocumentError(source, f"front matter field 'url': expected an http(s) URL, got {url!r}")
    extra = {k: v for k, v in meta.items() if k not in _KNOWN_KEYS}
    return {
        "audience": audience,
        "plans": sorted({p.strip().lower() for p in plans}),
        "topic": topic,
        "url": url,
        # Undeclared: detected from the text at ingest (knowledge/language.py).
        "language": str(meta.get("language") or meta.get("lang") or "").lower() or None,
        "updated": _as_datetime(meta.get("updated"), source),
        # Free metadata must survive JSON/Chroma round trips: keep scalars and lists of scalars as text.
        "metadata": {k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in extra.items()},
    }


def parse_markdown(
    text: str,
    *,
    source: str,
    root: str,
    doc_id: str | None = None,
    digest: str,
    default_audience: Audience = "everyone",
    updated: datetime | None = None,
) -> ParsedDocument:
    """Markdown with optional YAML front matter; '#' headings give the section structure."""
    meta, body = _front_matter(text, source)
    fields = _meta_fields(meta, source, default_audience)
    anchors = _Anchors()
    title = meta.get("title")
    stack: list[tuple[int, str]] = []  # (level, heading) of the current path below the title
    sections: list[Section] = []
    buffer: list[str] = []
    anchor = ""
    in_fence = False
    saw_h1 = False

    def flush() -> None:
        body_text = "\n".join(buffer).strip()
        if body_text:
            path = [str(title or Path(source).stem)] + [h for _, h in stack]
            sections.append(Section(heading_path=path, anchor=anchor, text=body_text))
        buffer.clear()

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        level, heading = len(match.group(1)), match.group(2).strip()
        flush()
        if level == 1 and not saw_h1 and not stack:
            # The first H1 is the page title (front matter `title` wins when both exist).
            saw_h1, anchor = True, ""
            title = title or heading
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        anchor = anchors(heading)
    flush()
    if not sections:
        raise DocumentError(source, "no text found")
    return ParsedDocument(
        doc_id=doc_id or source,
        source=source,
        root=root,
        kind="markdown",
        title=str(title or Path(source).stem),
        sections=sections,
        content_hash=digest,
        **{**fields, "updated": fields["updated"] or updated},
    )


def parse_text(
    text: str,
    *,
    source: str,
    root: str,
    doc_id: str | None = None,
    digest: str,
    default_audience: Audience = "everyone",
) -> ParsedDocument:
    """Plain text: one section; the title is the first line when it is short, else the file name."""
    body = text.strip()
    if not body:
        raise DocumentError(source, "no text found")
    first, _, rest = body.partition("\n")
    title = first.strip() if len(first) <= 80 and rest.strip() else Path(source).stem
    if title == first.strip():
        body = rest.strip()
    return ParsedDocument(
        doc_id=doc_id or source,
        source=source,
        root=root,
        kind="text",
        title=title,
        audience=default_audience,
        sections=[Section(heading_path=[title], anchor="", text=body)],
        content_hash=digest,
    )


_DROP_TAGS = ("script", "style", "nav", "header", "footer", "aside", "noscript", "form", "svg", "template", "iframe")
_INLINE_TAGS = {"a", "b", "strong", "em", "i", "span", "code", "small", "mark", "abbr", "sub", "sup", "time", "br"}
_BLOCK_TAGS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "summary", "address"}


def parse_html(
    html: str,
    *,
    source: str,
    root: str,
    url: str | None = None,
    doc_id: str | None = None,
    digest: str,
    default_audience: Audience = "everyone",
    updated: datetime | None = None,
) -> ParsedDocument:
    """HTML page: navigation, scripts and styles dropped; h1–h6 give the section structure."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser
    from selectolax.lexbor import LexborNode as Node

    tree = HTMLParser(html)
    title_node = tree.css_first("title")
    html_node = tree.css_first("html")
    language = (html_node.attributes.get("lang") if html_node else None) or ""
    for meta in tree.css("meta"):
        prop = meta.attributes.get("property") or meta.attributes.get("name") or ""
        if prop in ("article:modified_time", "last-modified", "dcterms.modified") and meta.attributes.get("content"):
            # A malformed date in a page's meta tags is not worth failing the page for.
            with contextlib.suppress(DocumentError):
                updated = _as_datetime(meta.attributes["content"], source)
    tree.strip_tags(list(_DROP_TAGS))
    container = tree.css_first("main") or tree.css_first("article") or tree.body
    if container is None:
        raise DocumentError(source, "HTML has no body")

    anchors = _Anchors()
    title = (title_node.text(strip=True) if title_node else "") or ""
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    buffer: list[str] = []
    anchor = ""
    saw_h1 = False
    inline: list[str] = []  # loose text and inline elements between blocks form one paragraph

    def end_inline() -> None:
        if inline:
            buffer.append(" ".join(inline))
            inline.clear()

    def flush() -> None:
        end_inline()
        text = "\n\n".join(b for b in buffer if b).strip()
        if text:
            sections.append(
                Section(heading_path=[title or Path(source).stem] + [h for _, h in stack], anchor=anchor, text=text)
            )
        buffer.clear()

    def walk(node: Node) -> None:
        nonlocal anchor, title, saw_h1
        child = node.child
        while child is not None:
            tag = child.tag or ""
            if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
                heading = " ".join(child.text(separator=" ").split())
                if heading:
                    flush()
                    level = int(tag[1])
                    if level == 1 and not saw_h1 and not stack:
                        saw_h1 = True
                        title = heading
                        anchor = child.attributes.get("id") or ""
                    else:
                        while stack and stack[-1][0] >= level:
                            stack.pop()
                        stack.append((level, heading))
                        anchor = anchors(heading, child.attributes.get("id"))
            elif tag in _BLOCK_TAGS:
                end_inline()
                text = " ".join(child.text(separator=" ").split())
                if text:
                    buffer.append(("- " if tag == "li" else "") + text)
            elif tag == "-text" or tag in _INLINE_TAGS:
                text = " ".join((child.text() or "").split())
                if text:
                    inline.append(text)
            else:
                end_inline()
                walk(child)
            child = child.next

    walk(container)
    flush()
    if not sections:
        raise DocumentError(source, "HTML page has no text")
    return ParsedDocument(
        doc_id=doc_id or url or source,
        source=source,
        root=root,
        kind="html",
        title=title or Path(source).stem,
        url=url,
        language=language.split("-")[0].lower() or None,
        updated=updated,
        audience=default_audience,
        sections=sections,
        content_hash=digest,
    )


def parse_pdf(
    data: bytes,
    *,
    source: str,
    root: str,
    url: str | None = None,
    doc_id: str | None = None,
    digest: str,
    default_audience: Audience = "everyone",
) -> ParsedDocument:
    """PDF: one section per page with text; citations link to '#page=N'."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(source, f"unreadable PDF: {exc}") from exc
    title = str(info_title).strip() or Path(source).stem
    sections = [
        Section(heading_path=[title, f"Page {n}"], anchor=f"page={n}", text=text)
        for n, text in enumerate(pages, start=1)
        if text
    ]
    if not sections:
        raise DocumentError(source, "PDF has no extractable text (scanned images need OCR first)")
    return ParsedDocument(
        doc_id=doc_id or url or source,
        source=source,
        root=root,
        kind="pdf",
        title=title,
        url=url,
        audience=default_audience,
        sections=sections,
        content_hash=digest,
    )


def parse_bytes(
    data: bytes,
    *,
    kind: DocumentKind,
    source: str,
    root: str,
    url: str | None = None,
    doc_id: str | None = None,
    default_audience: Audience = "everyone",
    updated: datetime | None = None,
) -> ParsedDocument:
    """Dispatch raw bytes of a known kind to its reader."""
    digest = content_hash(data, default_audience, url or "")
    if kind == "pdf":
        return parse_pdf(
            data, source=source, root=root, url=url, doc_id=doc_id, digest=digest, default_audience=default_audience
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, f"not UTF-8 text (byte {exc.start})") from exc
    if kind == "markdown":
        return parse_markdown(
            text,
            source=source,
            root=root,
            doc_id=doc_id,
            digest=digest,
            default_audience=default_audience,
            updated=updated,
        )
    if kind == "html":
        return parse_html(
            text,
            source=source,
            root=root,
            url=url,
            doc_id=doc_id,
            digest=digest,
            default_audience=default_audience,
            updated=updated,
        )
    return parse_text(text, source=source, root=root, doc_id=doc_id, digest=digest, default_audience=default_audience)


def read_file(path: Path, *, root: str, default_audience: Audience = "everyone") -> ParsedDocument:
    """Read one local file by its suffix."""
    source = str(path)
    kind = SUFFIX_KINDS.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(source, f"unsupported file type {path.suffix!r} (supported: {', '.join(SUFFIX_KINDS)})")
    try:
        data = path.read_bytes()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError as exc:
        raise DocumentError(source, f"cannot read: {exc.strerror or exc}") from exc
    return parse_bytes(
        data,
        kind=kind,
        source=source,
        root=root,
        doc_id=str(path.resolve()),
        default_audience=default_audience,
        updated=mtime,
    )
