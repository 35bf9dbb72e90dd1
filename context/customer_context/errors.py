"""Exceptions of the customer context.

CustomerContextError (ContextError)   root: anything raised on purpose by context.customer_context
├── ContextConfigError                the `customer_context:` section is invalid
│   └── PrivacyConfigError            the `privacy:` section is invalid, or a purpose is unknown
├── LookupInputError                  a lookup was asked without usable criteria (e.g. postcode without name)
└── CustomerNotFoundError             no such customer (neither an id nor an alias)
"""

from __future__ import annotations

from context.errors import ConfigError, ContextError, NotFoundError


class CustomerContextError(ContextError):
    """Root of every error raised on purpose by context.customer_context."""


class ContextConfigError(CustomerContextError, ConfigError):
    """The customer_context configuration is invalid (names the key)."""


class PrivacyConfigError(ContextConfigError):
    """The privacy policy is invalid or does not know a purpose."""


class LookupInputError(CustomerContextError, ValueError):
    """A lookup cannot be run with the given criteria."""


class CustomerNotFoundError(CustomerContextError, NotFoundError):
    """No customer with that id."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")
        self.customer_id = customer_id
