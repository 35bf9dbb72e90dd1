"""The server-to-server API key: one dependency, attached by the composition root when it includes a router.

Routers below the root declare no authentication of their own; `contextdesk.app.create_app` includes the
customer, human-side chat, inbox, source-health and push routers with `dependencies=[api_key_dependency(...)]`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="CONTEXTDESK_API_KEY", auto_error=False
)


def api_key_guard(configured: SecretStr | None) -> Callable[..., None]:
    """A dependency that refuses a request unless its X-API-Key is `configured` (503 when no key is set)."""

    def require_api_key(x_api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None) -> None:
        """Reject the request unless X-API-Key matches the configured key (constant-time compare)."""
        if configured is None:
            raise HTTPException(503, "server-to-server API disabled: set CONTEXTDESK_API_KEY to enable it")
        if x_api_key is None or not hmac.compare_digest(
            x_api_key.encode("utf-8"), configured.get_secret_value().encode("utf-8")
        ):
            raise HTTPException(401, "missing or wrong X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"})

    return require_api_key


def api_key_dependency(configured: SecretStr | None) -> Any:
    """`Depends(...)` of the API-key guard, for `include_router(..., dependencies=[...])`."""
    return Depends(api_key_guard(configured))
