"""The one way route dependencies are read: by the provider of each type, from the objects the composition root put
on `app.state`.

The composition root (`contextdesk.app.create_app`) builds every dependency once and sets it as an attribute of
`app.state`; each owning package declares one provider (an `Annotated[…, Depends(…)]` alias) that reads it with
`wired` below. Routes name the alias in their signature and never touch `app.state` themselves.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request


class AppNotWired(RuntimeError):
    """A route ran in an app whose composition root did not set the dependency it needs (a wiring bug: a 500)."""


def wired(request: Request, name: str, *, optional: bool = False) -> Any:
    """The object the composition root put on `app.state.<name>`; None if `optional` and unset, else AppNotWired."""
    value = getattr(request.app.state, name, None)
    if value is None and not optional:
        raise AppNotWired(f"app.state.{name} is not set: build the app with contextdesk.app.create_app")
    return value
