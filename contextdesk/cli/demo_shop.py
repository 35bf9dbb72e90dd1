"""The demo's sample shop: a customer site on a second origin (port + 1) that loads widget.js as a real site would.

Its "backend" signs the demo personas' identities (as a shop's server signs its signed-in user), and its one
script, /shop.js, boots the widget with the persona picked. It lives in the composition root because it reads the
demo package. Demo only: `contextdesk serve --demo` / `./run demo`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import SecretStr

from agent.visitor_identity import sign_identity

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sample shop</title><link rel="stylesheet" href="/shop.css"></head>
<body>
<header><strong>Sample shop</strong><span>a customer's website, on its own origin, with ContextDesk's widget</span>
</header>
<main>
<h1>Welcome</h1>
<p>This page stands for your site. It adds one tag:
<code>&lt;script src="{app}/widget.js" data-site="demo-shop" async&gt;&lt;/script&gt;</code></p>
<p><label for="who">Signed in as</label> <select id="who"><option value="">nobody (a visitor)</option></select>
<button id="chat" type="button">Open chat</button></p>
<p>The shop's backend signs who is signed in; the widget exchanges that once for a short-lived token that this
page's scripts never see.</p>
</main>
<script src="/shop.js"></script>
<script src="{app}/widget.js" data-site="demo-shop" data-boot="manual" async></script>
</body></html>
"""

CSS = """body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1b1f24; }
header { display: flex; gap: 16px; align-items: baseline; padding: 14px 24px; background: #f2efe8; }
header span { color: #666; font-size: 14px; }
main { max-width: 720px; padding: 24px; }
code { background: #f3f3f3; padding: 2px 4px; border-radius: 4px; font-size: 14px; }
select, button { font: inherit; padding: 4px 8px; }
select { max-width: 100%; }
"""

SCRIPT = """(function () {
  var people = %s;
  var who = document.getElementById("who");
  people.forEach(function (p, i) {
    var o = document.createElement("option");
    o.value = String(i);
    o.textContent = p.name + " (" + p.summary + ")";
    who.appendChild(o);
  });
  function identity() {
    var p = people[Number(who.value)];
    return who.value === "" || !p ? {} : { email: p.email, user_hash: p.user_hash, name: p.name };
  }
  function whenReady(fn) {
    if (window.ContextDesk) fn(); else setTimeout(function () { whenReady(fn); }, 50);
  }
  whenReady(function () { window.ContextDesk.boot(identity()); });
  who.addEventListener("change", function () {
    window.ContextDesk.shutdown();
    window.ContextDesk.boot(identity());
    window.ContextDesk.open();
  });
  document.getElementById("chat").addEventListener("click", function () { window.ContextDesk.open(); });
})();
"""


def shop_files(*, app_origin: str, identity_secret: SecretStr) -> dict[str, tuple[str, str]]:
    """The shop's files (path → content type, body), personas signed with the identity secret."""
    from demo.personas import PERSONAS

    people = [
        {
            "name": p.name,
            "email": p.email,
            "summary": p.summary,
            "user_hash": sign_identity(secret=identity_secret, kind="email", identifier=p.email),
        }
        for p in PERSONAS
    ]
    return {
        "/": ("text/html; charset=utf-8", PAGE.replace("{app}", app_origin)),
        "/shop.css": ("text/css", CSS),
        "/shop.js": ("text/javascript", SCRIPT % json.dumps(people)),
    }


def serve_shop(*, host: str, port: int, files: dict[str, tuple[str, str]]) -> ThreadingHTTPServer:
    """Serve the shop in a daemon thread (stopped with the process)."""

    class Shop(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints its own lines."""

        def do_GET(self) -> None:
            """One of the shop's files, or 404."""
            found = files.get(self.path.split("?")[0])
            if found is None:
                self.send_error(404)
                return
            body = found[1].encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", found[0])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Shop)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-shop", daemon=True).start()
    return server
