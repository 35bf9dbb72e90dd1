"""Exceptions of golden profiles.

ProfileError (ContextError)       root: anything raised on purpose by context.profiles
├── ProfilesConfigError           the `profiles:` or `status:` section of contextdesk.yaml is invalid
└── ProfileNotFoundError          no profile for that customer (never computed, or the id is unknown)
"""

from __future__ import annotations

from context.errors import ConfigError, ContextError, NotFoundError


class ProfileError(ContextError):
    """Root of every error raised on purpose by context.profiles."""


class ProfilesConfigError(ProfileError, ConfigError):
    """The profiles/status configuration is invalid (names the key)."""


class ProfileNotFoundError(ProfileError, NotFoundError):
    """A customer has no profile."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no profile for customer {customer_id!r}: run `contextdesk customers recompute`")
        self.customer_id = customer_id
