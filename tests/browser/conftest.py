"""Real-browser fixtures: the app on uvicorn (loopback), a customer's site on a second origin (plain and strict-CSP
pages loading widget.js), the scripted OpenAI-compatible server, and Playwright driving Debian's chromium.

No browser is downloaded: the tests skip when chromium is not installed (`.ci/run` installs it with apt).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.cli.demo_shop import shop_files
from contextdesk.settings import Settings
from knowledge.store import KnowledgeStore
from tests.agent.chat.conftest import demo_db, kb, kb_dir  # noqa: F401  (fixtures reused)
from tests.agent.chat.helpers import SECRET
from tests.agent.fake_openai import FakeOpenAI, Scripted, answer_json
from tests.clock import tick

API_KEY = "browser-test-api-key-0123456789"

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trail Supply Co.</title></head>
<body><h1>Trail Supply Co.</h1><p>Tents, packs and boots.</p><p><a href="#top">A link on the shop page</a></p>
<script src="{app}/widget.js" data-site="shop" data-boot="manual" async></script>
</body></html>
"""

#: A site that allows nothing but our script and our frame: no inline code, no styles, no connections.
STRICT_CSP = (
    "default-src 'none'; script-src {app}; frame-src {app}; style-src 'none'; connect-src 'none'; img-src 'none'; "
    "require-trusted-types-for 'script'; base-uri 'none'"
)


@dataclass
class Stack:
    """The running servers a browser test talks to."""

    app: str  # the ContextDesk origin
    site: str  # the customer's site (another origin)
    llm: FakeOpenAI


def _serve_site(origin: dict[str, str]) -> ThreadingHTTPServer:
    """The customer's site on its own port; `origin["app"]` is filled in once the app listens."""

    class Site(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in ("/shop", "/shop.js", "/shop.css"):  # the demo's sample shop, as `./run demo` serves it
                kind, text = shop_files(app_origin=origin["app"], identity_secret=SECRET)[
                    "/" if path == "/shop" else path
                ]
                self._send(kind, text.encode())
                return
            if path not in ("/", "/strict"):
                self.send_error(404)
                return
            app_origin = origin["app"]
            body = HOST_PAGE.replace("{app}", app_origin).encode()
            csp = STRICT_CSP.replace("{app}", app_origin) if path == "/strict" else None
            self._send("text/html; charset=utf-8", body, csp)

        def _send(self, kind: str, body: bytes, csp: str | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            if csp:
                self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def stack(
    demo_db: Engine,  # noqa: F811
    kb: KnowledgeStore,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """uvicorn serving the app (lifespan on: the handoff worker runs), the site, and the fake LLM."""
    llm = FakeOpenAI().start()
    # Unscripted turns get a plain grounded-looking answer, so tests script only the replies they look at.
    llm.responder = lambda request: Scripted(content=answer_json("Happy to help with that."))
    # The site starts first: its origin goes into the app's frame-ancestors.
    origin: dict[str, str] = {}
    site = _serve_site(origin)
    site_origin = f"http://127.0.0.1:{site.server_address[1]}"
    settings = Settings(
        home=tmp_path_factory.mktemp("browserhome"),
        database_url=demo_db.url.render_as_string(hide_password=False),
        chroma_path=Path(kb.location),
        config_file=None,
        api_key=SecretStr(API_KEY),
        identity_secret=SECRET,
        widget_token_secret=SecretStr("browser-widget-token-secret-0123"),
        frame_ancestors=[site_origin],
        llm_base_url=llm.base_url,
        llm_model="fake-primary",
        llm_timeout_seconds=20,
    )
    app = create_app(settings, clock=tick)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    app_origin = origin["app"] = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield Stack(app=app_origin, site=site_origin, llm=llm)
    site.shutdown()
    site.server_close()
    server.should_exit = True
    thread.join(timeout=10)
    llm.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the test thread while it is
    open, and a later test of the same worker calling `asyncio.run` would fail.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the widget was not tested in a browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


# Runs in every frame before the page's own scripts: records CSP violations, dialogs and what postMessage carried.
WATCH = """
window.__csp = [];
window.__messages = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('message', e => { try { window.__messages.push(JSON.stringify(e.data)); } catch (_) {} });
"""
