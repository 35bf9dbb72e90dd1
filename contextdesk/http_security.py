"""The public HTTP surface's guards: who the client is (trusted proxies), how big and what kind of text a request
may carry, and the security headers of every response, per route group. See docs/deployment.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64encode
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contextdesk.http_errors import FieldError, error_response
from contextdesk.settings import Settings

# --- the client's address -----------------------------------------------------------------------------------------


def uvicorn_config(app: ASGIApp | str, *, settings: Settings, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn config `contextdesk serve` runs with: forwarded headers believed only from trusted proxies.

    uvicorn's own default believes X-Forwarded-For from 127.0.0.1, so any local client could pick its address
    (and its rate-limit budget). Here nothing is believed unless CONTEXTDESK_TRUSTED_PROXIES lists the proxy.
    """
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        server_header=False,
        **options,
    )


# --- request size and text ----------------------------------------------------------------------------------------

_JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json\b", re.IGNORECASE)
# An escaped NUL or UTF-16 surrogate somewhere in a JSON text: the only ways those reach a Python string.
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


Loc = list[str | int]


def _bad_string(value: Any, loc: Loc) -> tuple[Loc, str] | None:
    """The first string (key or value) no database can store: a NUL character or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return loc, "contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return loc, "contains a lone UTF-16 surrogate (not Unicode text)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _bad_string(key, loc) or _bad_string(item, [*loc, key])
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _bad_string(item, [*loc, i])
            if found:
                return found
    return None


def json_text_problem(body: bytes) -> tuple[Loc, str] | None:
    """Why a JSON body is not storable text, as (where, what), or None when it is (or is not JSON at all)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ["body"], f"is not UTF-8 (byte {exc.start})"
    if not _SUSPECT_ESCAPE.search(body):
        return None
    try:
        data = json.loads(text)
    except ValueError:  # FastAPI answers malformed JSON itself
        return None
    return _bad_string(data, ["body"])


class RequestGuardMiddleware:
    """Refuse what the app must never read: bodies over the limit and text no database can store.

    The Content-Length is checked before a byte of the body is read; a body without one (chunked) is counted
    as it arrives and refused the moment it passes the limit, so memory per request stays under the limit.
    Refusals close the connection, so the rest of an oversized upload is never read either.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with its body replayed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A NUL reaches the database from the URL too (PostgreSQL refuses it in text).
        where = "path" if "\x00" in scope.get("path", "") else "query"
        if where == "path" or b"%00" in scope.get("query_string", b""):
            error = FieldError(loc=[where], msg="contains a NUL character", type="string_not_text")
            await _refuse(scope, send, 422, "RequestValidationError", f"{where}: contains a NUL character", [error])
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(scope, send)
            return
        if length is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, send)
                return
        if _JSON_TYPE.match(headers.get("content-type", "")):
            problem = json_text_problem(bytes(body))
            if problem:
                loc, what = problem
                error = FieldError(loc=loc, msg=what, type="string_not_text")
                await _refuse(scope, send, 422, "RequestValidationError", f"{'.'.join(map(str, loc))}: {what}", [error])
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await _refuse(
            scope, send, 413, "RequestTooLarge", f"the request body is over the limit of {self.max_body_bytes} bytes"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as streaming responses expect

    return replay


async def _refuse(
    scope: Scope, send: Send, status: int, error: str, detail: str, errors: list[FieldError] | None = None
) -> None:
    # `Connection: close` makes the server drop the connection instead of reading what is left of the body.
    response = error_response(status, error, detail, errors=errors, headers={"Connection": "close"})

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


# --- security headers ---------------------------------------------------------------------------------------------


def inline_hashes(html: str) -> tuple[list[str], list[str]]:
    """CSP sources ('sha256-…') of a page's inline <script> and <style> blocks, so the CSP needs no 'unsafe-inline'."""

    def hashes(tag: str) -> list[str]:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL | re.IGNORECASE)
        return [f"'sha256-{b64encode(hashlib.sha256(b.encode('utf-8')).digest()).decode()}'" for b in blocks]

    return hashes("script"), hashes("style")


@dataclass(frozen=True)
class HeaderPolicy:
    """The security headers of one group of routes.

    `paths` are exact paths, or prefixes when they end with `*`. `csp` is everything but frame-ancestors, which
    comes from `frame_ancestors` (origins allowed to embed these routes in a frame; empty: nobody).
    `cache_control` replaces whatever the route set; None leaves the route's own.
    """

    name: str
    paths: tuple[str, ...]
    csp: str
    frame_ancestors: tuple[str, ...] = ()
    cache_control: str | None = "no-store"
    extra: dict[str, str] = field(default_factory=dict)

    def matches(self, path: str) -> bool:
        """Whether a request path belongs to this group."""
        return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in self.paths)

    def headers(self) -> dict[str, str]:
        """The headers this group's responses carry."""
        ancestors = " ".join(self.frame_ancestors) or "'none'"
        out = {
            "Content-Security-Policy": f"{self.csp}; frame-ancestors {ancestors}",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            **self.extra,
        }
        if not self.frame_ancestors:
            out["X-Frame-Options"] = "DENY"  # for browsers without CSP frame-ancestors
        if self.cache_control:
            out["Cache-Control"] = self.cache_control
        return out


#: JSON and anything unlisted: nothing may load, run or frame it, nothing keeps a copy.
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'"


def page_csp(html_pages: Iterable[str]) -> str:
    """The CSP of our own HTML pages: only their own inline code (by hash) and calls to this origin."""
    scripts: list[str] = []
    styles: list[str] = []
    for html in html_pages:
        s, st = inline_hashes(html)
        scripts += s
        styles += st
    script_src = " ".join(["'self'", *sorted(set(scripts))])
    style_src = " ".join(["'self'", *sorted(set(styles))])
    return (
        f"default-src 'none'; script-src {script_src}; style-src {style_src}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'"
    )


class SecurityHeadersMiddleware:
    """Put the security headers of the first matching route group (or the default) on every response."""

    def __init__(self, app: ASGIApp, *, policies: list[HeaderPolicy], default: HeaderPolicy) -> None:
        self.app = app
        self.policies = policies
        self.default = default
        self._headers = {p.name: p.headers() for p in [*policies, default]}

    def policy_for(self, path: str) -> HeaderPolicy:
        """The group a path belongs to."""
        return next((p for p in self.policies if p.matches(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers when the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope.get("path", ""))
        extra = self._headers[policy.name]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
