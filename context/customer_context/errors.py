"""Exceptions of the customer context.

CustomerContextError (ContextError)   root: anything raised on purpose by context.customer_context
├── ContextConfigError                the `customer_context:` section is invalid
│   └── PrivacyConfigError            the `privacy:` section is invalid, or a purpose is unknown
├── LookupInputError                  a lookup was asked without usable criteria (e.g. postcode without name)
└── ProfileNotReadyError              the customer exists but its profile was never computed (run the pipeline)

A customer id that matches nobody raises context.errors.CustomerNotFoundError (shared with identity).
"""

from __future__ import annotations

from context.errors import ConfigError, ContextError


class CustomerContextError(ContextError):
    """Root of every error raised on purpose by context.customer_context."""


class ContextConfigError(CustomerContextError, ConfigError):
    """The customer_context configuration is invalid (names the key)."""


class PrivacyConfigError(ContextConfigError):
    """The privacy policy is invalid or does not know a purpose."""


class LookupInputError(CustomerContextError, ValueError):
    """A lookup cannot be run with the given criteria."""


class ProfileNotReadyError(CustomerContextError):
    """The customer exists but has no golden profile yet: profiles are computed after identity resolution."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(
            f"customer {customer_id!r} has no profile yet: profiles are computed after identity resolution "
            "(`contextdesk sync` does it; `contextdesk customers recompute` after a manual change)"
        )
        self.customer_id = customer_id
