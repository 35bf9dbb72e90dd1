"""Security headers on every page and response (real HTTP on loopback), the per-group CSP (pages by hash of their
own inline code, docs, the future widget's frame-ancestors), and /docs rendered by headless Chromium with every
host but loopback unresolvable: it needs nothing from the internet."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.contextdesk.http_helpers import API_KEY, SECRET, limits_yaml, serve_in_thread

KEY = {"X-API-Key": API_KEY}
COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo-mode app (signed demo identities on the page) served on loopback."""
    home = tmp_path_factory.mktemp("headers")
    settings = Settings(
        home=home,
        config_file=limits_yaml(home / "contextdesk.yaml"),
        api_key=API_KEY,
        identity_secret=SECRET,
        handoff_worker=False,
        frame_ancestors=["https://shop.example"],
    )
    with serve_in_thread(create_app(settings, demo=True), settings) as url:
        yield url


def _csp(response: httpx.Response) -> dict[str, str]:
    return {
        d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else ""
        for d in (part.strip() for part in response.headers["content-security-policy"].split(";"))
        if d
    }


def _common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert _csp(response)["frame-ancestors"] == "'none'" and response.headers["x-frame-options"] == "DENY"


def test_every_kind_of_response_carries_the_headers_and_private_data_is_never_cached(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        cid = client.post("/v1/conversations", json={}).json()["id"]
        responses = [
            client.get(f"/v1/conversations/{cid}"),  # a transcript
            client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello"}),
            client.get(f"/v1/conversations/{cid}/turns", headers=KEY),
            client.get("/v1/handoffs", headers=KEY),
            client.get("/v1/customers/lookup?email=nobody@example.com", headers=KEY),
            client.get("/v1/handoffs"),  # 401
            client.get("/v1/conversations/nope"),  # 404
            client.post("/v1/conversations", content=b"x" * 300_000, headers={"Content-Type": "application/json"}),
            client.get("/demo/identities"),
            client.get("/"),
            client.get("/inbox"),
        ]
    for r in responses:
        _common(r)
        assert r.headers["cache-control"] == "no-store", r.request.url
    api = responses[0]
    assert _csp(api)["default-src"] == "'none'" and "script-src" not in _csp(api)


def test_pages_allow_only_their_own_inline_code_by_hash(base: str) -> None:
    page = httpx.get(f"{base}/", timeout=30)
    csp = _csp(page)
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'"
    assert re.search(r"'sha256-[A-Za-z0-9+/]+=*'", csp["script-src"])


def test_docs_reference_only_same_origin_assets_and_those_are_served(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            _common(html)
            refs = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
            for ref in refs:
                asset = client.get(ref)
                assert asset.status_code == 200 and asset.content, ref
                assert asset.headers["x-content-type-options"] == "nosniff"
                expected = {"js": "javascript", "css": "text/css", "png": "image/png", "json": "application/json"}
                assert expected[ref.rsplit(".", 1)[-1]] in asset.headers["content-type"], ref
        assert client.get("/docs-assets/../settings.py").status_code == 404
        assert client.get("/docs-assets/nothing.js").status_code == 404


def test_only_the_widget_group_may_be_framed_and_only_by_configured_origins(base: str) -> None:
    widget = httpx.get(f"{base}/widget", timeout=30)  # no widget route yet: its group's headers still apply
    assert _csp(widget)["frame-ancestors"] == "https://shop.example" and "x-frame-options" not in widget.headers
    for path in ("/", "/inbox", "/docs", "/v1/conversations/x"):
        assert _csp(httpx.get(f"{base}{path}", timeout=30))["frame-ancestors"] == "'none'", path


def _chromium(url: str) -> str:
    """The DOM after the page's scripts ran; fails on any Content-Security-Policy violation the page caused."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the page was not rendered")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # The network is cut off: every host name but the loopback server fails to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    violations = [line for line in done.stderr.splitlines() if "Content Security Policy" in line]
    assert not violations, violations
    return done.stdout


def test_docs_render_offline_in_chromium(base: str) -> None:
    dom = _chromium(f"{base}/docs")
    # Swagger UI built the operation list from /openapi.json: its script ran under the CSP, with no CDN.
    assert dom.count('class="opblock ') >= 10 and "/v1/conversations/{conversation_id}/messages" in dom


def test_demo_page_script_runs_under_its_csp(base: str) -> None:
    dom = _chromium(f"{base}/")
    # The page's inline script (allowed by hash) fetched the demo personas and filled the picker.
    assert dom.count("<option") > 1 and "Maya" in dom


def test_inbox_page_runs_under_its_csp(base: str) -> None:
    dom = _chromium(f"{base}/inbox")
    assert 'id="key"' in dom  # rendered, and its inline script and style broke no directive
