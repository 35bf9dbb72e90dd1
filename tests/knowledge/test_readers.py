"""Reading each input format into titled, sectioned documents with anchors."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.errors import DocumentError
from knowledge.readers import read_file
from tests.knowledge.conftest import make_pdf

MARKDOWN = """---
title: Billing
audience: customers
plans: [Pro]
topic: billing
url: https://help.example.com/billing
updated: 2025-03-01
owner: finance
---
# Billing

Intro text.

## Refunds

Refund text.

### Annual plans

Annual text.

```
# not a heading inside code
```

## Refunds

Second section with the same heading.
"""


def test_markdown_keeps_front_matter_heading_paths_and_unique_anchors(tmp_path: Path) -> None:
    path = tmp_path / "billing.md"
    path.write_text(MARKDOWN)
    doc = read_file(path, root=str(tmp_path))
    assert (doc.title, doc.audience, doc.plans, doc.topic) == ("Billing", "customers", ["pro"], "billing")
    assert doc.url == "https://help.example.com/billing"
    assert doc.updated is not None and doc.updated.year == 2025
    assert doc.metadata == {"owner": "finance"}
    paths = [(s.heading_path, s.anchor) for s in doc.sections]
    assert paths == [
        (["Billing"], ""),
        (["Billing", "Refunds"], "refunds"),
        (["Billing", "Refunds", "Annual plans"], "annual-plans"),
        (["Billing", "Refunds"], "refunds-1"),
    ]
    assert "# not a heading inside code" in doc.sections[2].text


def test_bad_front_matter_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "leak.md"
    path.write_text("---\naudience: staff\n---\n# Leak\n\nText.\n")
    with pytest.raises(DocumentError) as err:
        read_file(path, root=str(tmp_path))
    assert "leak.md" in str(err.value) and "'audience'" in str(err.value)


def test_html_drops_navigation_and_scripts_and_uses_headings(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        """<html lang="en-GB"><head><title>Shipping | Shop</title><style>p{color:red}</style></head><body>
        <nav><a href="/">Home</a> MENU-TEXT</nav>
        <main><h1>Shipping</h1><p>We ship fast.</p>
        <h2 id="costs">Shipping costs</h2><p>Standard is $5.</p><ul><li>Express is $15.</li></ul>
        <script>var secret = "SCRIPT-TEXT";</script></main>
        <footer>FOOTER-TEXT</footer></body></html>"""
    )
    doc = read_file(path, root=str(tmp_path))
    text = " ".join(s.text for s in doc.sections)
    assert doc.title == "Shipping" and doc.language == "en"
    assert "MENU-TEXT" not in text and "SCRIPT-TEXT" not in text and "FOOTER-TEXT" not in text
    costs = doc.sections[-1]
    assert costs.heading_path == ["Shipping", "Shipping costs"] and costs.anchor == "costs"
    assert "Standard is $5." in costs.text and "Express is $15." in costs.text


def test_html_without_text_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><body><nav>only navigation</nav><script>x()</script></body></html>")
    with pytest.raises(DocumentError, match=r"empty\.html.*no text"):
        read_file(path, root=str(tmp_path))


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    path = tmp_path / "policy.pdf"
    path.write_bytes(make_pdf(["Warranty covers kettles for two years.", "Teapots have one year."]))
    doc = read_file(path, root=str(tmp_path))
    assert [s.anchor for s in doc.sections] == ["page=1", "page=2"]
    assert "kettles for two years" in doc.sections[0].text


def test_unreadable_pdf_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(DocumentError, match=r"broken\.pdf"):
        read_file(path, root=str(tmp_path))


def test_plain_text_title_from_first_line(tmp_path: Path) -> None:
    path = tmp_path / "hours.txt"
    path.write_text("Support hours\n\nWe answer Monday to Friday.\n")
    doc = read_file(path, root=str(tmp_path))
    assert doc.title == "Support hours" and doc.sections[0].text == "We answer Monday to Friday."
