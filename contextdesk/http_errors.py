"""Every error the HTTP API answers with, in one place: the exception → status table, the one JSON error shape
(`{"error": "<Name>", "detail": "<sentence>"}`, plus `errors` for invalid fields) and the OpenAPI contract
that declares it on every operation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.errors import (
    AgentError,
    ChatLimitError,
    ConversationNotFound,
    MessageInProgress,
    RateLimited,
    WidgetTokenError,
)
from agent.models import VISIBLE_TEXT
from context.customer_context.errors import ProfileNotReadyError
from context.errors import ConfigError, ContextError, NotFoundError, SourceKindError
from handoff.errors import HandoffConfigError, HandoffError, HandoffNotFound, InboxStateError
from knowledge.errors import KnowledgeError

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field, e.g. body.content.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A machine-readable kind, e.g. string_too_long, missing.")


class ErrorBody(BaseModel):
    """The body of every error response of the API."""

    error: str = Field(description="The error's name, e.g. ConversationNotFound, RequestValidationError, NotFound.")
    detail: str = Field(description="What went wrong, in words (safe to show to the person who sent the request).")
    errors: list[FieldError] | None = Field(None, description="For 422 validation errors: each invalid field.")


class ErrorResponse(JSONResponse):
    """A JSON error; ASCII-escaped so that no input echoed in it (e.g. a lone surrogate) can break encoding."""

    def render(self, content: Any) -> bytes:
        """Serialize to ASCII JSON."""
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    status: int,
    error: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    """The one way an error leaves the API."""
    body = ErrorBody(error=error, detail=detail, errors=errors)
    return ErrorResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


# --- domain exceptions → status ---------------------------------------------------------------------------------

#: Checked in order: the first class the exception is an instance of gives the status.
_STATUS_OF: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int], ...] = (
    ((NotFoundError, ConversationNotFound, HandoffNotFound), 404),  # CustomerNotFoundError is a NotFoundError
    (WidgetTokenError, 401),
    ((InboxStateError, SourceKindError), 409),
    (ValueError, 422),  # bad input a schema cannot express, e.g. a lookup without usable criteria
    ((ConfigError, HandoffConfigError), 500),
    # Not yet there, or not reachable: the help center's index or embedder, a profile still being computed.
    ((KnowledgeError, ProfileNotReadyError), 503),
    ((ContextError, HandoffError), 400),
    (AgentError, 500),
)


def status_of(exc: Exception) -> int:
    """The HTTP status of a domain exception."""
    if isinstance(exc, ChatLimitError):
        return exc.status
    for kinds, status in _STATUS_OF:
        if isinstance(exc, kinds):
            return status
    return 500


async def _domain_error(_request: Request, exc: Exception) -> ErrorResponse:
    status = status_of(exc)
    headers = {}
    if isinstance(exc, (RateLimited, MessageInProgress)):
        headers["Retry-After"] = str(int(exc.retry_after_s + 0.999))
    if status == 503:
        # Temporarily unavailable (the help center's index, a profile not computed yet): worth a retry.
        log.warning("%s: %s", type(exc).__name__, exc)
        detail = "temporarily unavailable; retry shortly"
        return error_response(status, type(exc).__name__, detail, headers={"Retry-After": "5"})
    if status >= 500:
        # A configuration problem: the operator reads the log; the caller gets no internals.
        log.error("%s: %s", type(exc).__name__, exc)
        return error_response(status, type(exc).__name__, "the server is misconfigured; see its log")
    return error_response(status, type(exc).__name__, str(exc), headers=headers)


def _name_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


async def _http_error(_request: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, _name_of(exc.status_code), str(exc.detail), headers=exc.headers)


def _field_message(err: dict[str, Any]) -> str:
    if err.get("type") == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == VISIBLE_TEXT:
        return "must contain visible text (not only spaces or invisible characters)"
    return str(err.get("msg", "invalid"))


async def _validation_error(_request: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, RequestValidationError)
    # The input is never echoed: it may be large, private, or not encodable.
    fields = [
        FieldError(
            loc=[part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
            msg=_field_message(err),
            type=str(err.get("type", "invalid")),
        )
        for err in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, f.loc))}: {f.msg}" for f in fields) or "invalid request"
    return error_response(422, "RequestValidationError", detail, errors=fields)


async def _unexpected_error(_request: Request, exc: Exception) -> ErrorResponse:
    # Starlette logs the traceback; the caller gets the error shape and nothing of the internals.
    return error_response(500, "InternalServerError", "unexpected server error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one JSON error shape."""
    for root in (ContextError, KnowledgeError, AgentError, HandoffError):
        app.add_exception_handler(root, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


# --- the OpenAPI contract ---------------------------------------------------------------------------------------

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _declare(responses: dict[str, Any], status: int, description: str) -> None:
    responses.setdefault(str(status), {"description": description})


def contract_openapi(
    schema: dict[str, Any], *, max_body_bytes: int, string_limits: dict[tuple[str, str], int]
) -> dict[str, Any]:
    """Make the generated OpenAPI document say what the middleware and handlers really answer.

    Every operation with parameters or a body may get 422; with a body, 400 (unparseable) and 413 (over
    `max_body_bytes`); behind the API key, 401 and 503. Every 4xx/5xx response carries `ErrorBody`.
    `string_limits` lowers `maxLength` of (schema, property) to the deployment's configured limit.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    defs = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(defs.pop("$defs", {}))
    components["ErrorBody"] = defs
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    for (model, prop), limit in string_limits.items():
        field = components.get(model, {}).get("properties", {}).get(prop)
        if field is not None:
            field["maxLength"] = min(limit, field.get("maxLength", limit))
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            has_body = "requestBody" in operation
            if has_body or operation.get("parameters"):
                _declare(responses, 422, "Invalid parameters or body (see `errors`).")
            if has_body:
                _declare(responses, 400, "The body could not be parsed.")
                _declare(responses, 413, f"The request body is over {max_body_bytes} bytes.")
            if operation.get("security"):
                _declare(responses, 401, "Missing or wrong X-API-Key header.")
                _declare(responses, 503, "The server-to-server API is disabled (no CONTEXTDESK_API_KEY).")
            for status, response in responses.items():
                if status[0] in "45":
                    content = response.setdefault("content", {})
                    content.pop("application/json", None)
                    content["application/json"] = {"schema": _ERROR_REF}
    return schema


def install_openapi(app: FastAPI, *, max_body_bytes: int, string_limits: dict[tuple[str, str], int]) -> None:
    """Serve the contracted OpenAPI document at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = contract_openapi(generated, max_body_bytes=max_body_bytes, string_limits=string_limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
