"""The API docs (/docs with Swagger UI, /redoc) served entirely from this server: pinned assets shipped in a
package (fastapi-offline), no CDN, so the docs work offline and under a same-origin CSP."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

ASSETS_PREFIX = "/docs-assets"
_VENDOR = Path(str(files("fastapi_offline") / "static"))
_OWN = Path(__file__).with_name("static")
#: The only files served under ASSETS_PREFIX (no directory listing, no path from the URL reaches the disk).
ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": _VENDOR / "swagger-ui-bundle.js",
    "swagger-ui.css": _VENDOR / "swagger-ui.css",
    "redoc.standalone.js": _VENDOR / "redoc.standalone.js",
    "favicon.png": _VENDOR / "favicon.png",
    "swagger-init.js": _OWN / "swagger-init.js",
}
#: Swagger UI and ReDoc style elements at run time and draw icons from data: URIs; ReDoc starts a blob: worker.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'"
)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head>'
        f"<body>{body}</body></html>\n"
    )


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to an app created with docs_url=None and redoc_url=None."""
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", ""))
        assets = f"{root}{ASSETS_PREFIX}"
        return _page(
            f"{title} API",
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css"><link rel="icon" href="{assets}/favicon.png">',
            f'<div id="swagger-ui" data-openapi-url="{root}/openapi.json"></div>'
            f'<script src="{assets}/swagger-ui-bundle.js"></script><script src="{assets}/swagger-init.js"></script>',
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", ""))
        assets = f"{root}{ASSETS_PREFIX}"
        return _page(
            f"{title} API",
            f'<link rel="icon" href="{assets}/favicon.png">',
            f'<redoc spec-url="{root}/openapi.json"></redoc><script src="{assets}/redoc.standalone.js"></script>',
        )

    @app.get(ASSETS_PREFIX + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        path = ASSETS.get(name)
        if path is None:
            raise HTTPException(404, f"no docs asset {name!r}")
        return FileResponse(path)
