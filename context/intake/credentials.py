"""A connector's secrets and address, as the settings hold them (its own module: settings load it at start-up,
and every CLI command reads the settings, so this must not import the connectors, the config parser or YAML)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SourceCredentials(BaseModel):
    """Secrets and address of one connector (settings `CONTEXTDESK_SOURCES`, keyed by the source's YAML name)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="API base URL (Shopify: https://STORE.myshopify.com).")
    token: SecretStr | None = Field(None, description="API token / secret key / access token.")
    email: str | None = Field(None, description="Zendesk: the agent email the API token belongs to.")
    header: str | None = Field(
        None, description="http_json: the header the token is sent in as is (default: Authorization: Bearer TOKEN)."
    )
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="Webhook signing secrets, newest first; two during a rotation."
    )
