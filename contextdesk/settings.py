"""The one place that reads configuration from the environment."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from context.intake.credentials import SourceCredentials


class Settings(BaseSettings):
    """ContextDesk settings, read from `CONTEXTDESK_*` environment variables (and a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="CONTEXTDESK_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".contextdesk"), description="Data dir: SQLite file, Chroma index, caches.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CONTEXTDESK_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; default is a SQLite file in the data dir.",
    )
    config_file: Path | None = Field(
        None,
        description="contextdesk.yaml with sources and rules; default: ./contextdesk.yaml if present, else the "
        "loaded demo's (DATA_DIR/demo/contextdesk.yaml) if `contextdesk demo run` wrote one.",
    )

    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_fallback_model: str | None = None
    llm_timeout_seconds: float = 30.0

    embedder: Literal["minilm", "e5", "openai"] = Field(
        "minilm", description="'minilm' (offline, bundled, English), 'e5' (offline, multilingual extra) or 'openai'."
    )
    openai_embedding_model: str = "text-embedding-3-small"

    chroma_host: str | None = Field(None, description="Chroma server host; unset means embedded PersistentClient.")
    chroma_port: int = 8000
    chroma_path: Path | None = Field(None, description="PersistentClient dir; default <home>/chroma.")
    chroma_refresh_seconds: float = Field(
        2.0,
        ge=0,
        description="With a Chroma server: how long a chat turn reuses the index revision it last read before "
        "asking the server again (one HTTP request saved per turn); another process's ingest shows within it.",
    )

    chat_turn_threads: int = Field(
        0,
        ge=0,
        description="How many chat turns one server process runs at once (the rest wait in order); 0: the thread "
        "pool's own limit (40). With the grounded responder on 2 shared cores 8 measured no better than 40.",
    )

    redis_url: str | None = Field(
        None,
        description="Redis shared by the server processes (e.g. redis://127.0.0.1:6379/0): their rate limits count "
        "together; unset, each process counts its own (docs/deployment.md).",
    )

    api_key: SecretStr | None = Field(None, description="Key for server-to-server endpoints (X-API-Key).")
    identity_secret: SecretStr | None = Field(None, description="HMAC secret for widget identity verification.")
    identity_jwt_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='HS256 keys of widget identity tokens by key id (JSON, e.g. {"2026-12": "…"}); several = rotation.',
    )
    cors_origins: list[str] = Field(default_factory=list)
    widget_token_secret: SecretStr | None = Field(
        None,
        description="HMAC secret of the widget's conversation tokens (cdw1.…); unset: a random one per process, "
        "so tokens and resume tickets die with a restart.",
    )
    widget_token_minutes: float = Field(30.0, gt=0, le=24 * 60, description="Life of a widget conversation token.")
    public_base_url: str | None = Field(
        None,
        description="Public base URL of this server (https://support.example.com): widget.js, the widget's frame "
        "and links in the inbox and handoff summaries; unset: the URL the request came in on.",
    )

    handoff_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 secret signing handoff webhooks (X-ContextDesk-Signature)."
    )
    handoff_zendesk_token: SecretStr | None = Field(None, description="Zendesk API token for the zendesk target.")
    handoff_transcript_base_url: str | None = Field(
        None, description="Public base URL of this server for links in handoff summaries (default from YAML)."
    )
    handoff_worker: bool = Field(True, description="Run the handoff outbox worker inside the API server.")

    # --- connectors and webhooks (docs/sources.md) ---
    sources: dict[str, SourceCredentials] = Field(
        default_factory=dict,
        description='Credentials of vendor sources by their name in contextdesk.yaml (JSON), e.g. {"shopify": '
        '{"base_url": "https://STORE.myshopify.com", "token": "shpat_…", "webhook_secrets": ["…"]}}.',
    )
    live_lookup_timeout_seconds: float = Field(0.8, gt=0, description="Deadline of one live lookup at chat time.")
    webhook_worker: bool = Field(True, description="Process received webhooks inside the API server.")

    # --- the public HTTP surface (docs/deployment.md) ---
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed (JSON "
        "list); empty: none, the connecting address is the client's (and its rate-limit key).",
    )
    max_request_body_bytes: int = Field(
        262_144, ge=1024, description="Largest request body accepted; larger ones get 413 before being read."
    )
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Origins allowed to embed ContextDesk's embeddable routes (the widget group) in a frame; "
        "empty: no page may be framed.",
    )

    @field_validator("llm_timeout_seconds")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        # A wildcard would let any site read customer context through a visitor's browser.
        if "*" in value:
            raise ValueError("'*' is not allowed: list the widget's origins explicitly")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue  # every peer is a proxy: only when nothing but the proxy can reach the server
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)") from None
        return value

    @field_validator("frame_ancestors")
    @classmethod
    def _framing_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            # One token each: a space or ';' would smuggle other directives into the CSP header.
            if origin == "*" or not re.fullmatch(r"(https?://)?[A-Za-z0-9.*-]+(:\d+)?|'self'", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example ('*' is not allowed)")
        return value

    @model_validator(mode="after")
    def _secrets_strong_enough(self) -> Settings:
        for name in ("api_key", "identity_secret", "widget_token_secret"):
            secret = getattr(self, name)
            if secret is not None and len(secret.get_secret_value()) < 16:
                raise ValueError(f"CONTEXTDESK_{name.upper()} must be at least 16 characters")
        for kid, key in self.identity_jwt_keys.items():
            # RFC 7518: an HS256 key must be at least as long as the hash (32 bytes).
            if len(key.get_secret_value().encode("utf-8")) < 32:
                raise ValueError(f"CONTEXTDESK_IDENTITY_JWT_KEYS[{kid!r}] must be at least 32 bytes")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one or the SQLite file in the data dir."""
        if self.database_url:
            url = self.database_url
            # Plain postgresql:// URLs should use psycopg 3, which is what we install.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.home / 'contextdesk.db').resolve()}"

    @property
    def resolved_chroma_path(self) -> Path:
        """Directory of the embedded Chroma index."""
        return self.chroma_path or (self.home / "chroma")

    @property
    def demo_dir(self) -> Path:
        """Where `contextdesk demo run` writes the demo business it loads (its dates moved to the day of the load)."""
        return self.home / "demo"

    @property
    def resolved_config_file(self) -> Path | None:
        """The contextdesk.yaml in force: the set one, else ./contextdesk.yaml, else the demo's in a demo data dir."""
        if self.config_file:
            return self.config_file
        for candidate in (Path("contextdesk.yaml"), self.demo_dir / "contextdesk.yaml"):
            # home/demo/ is written by `contextdesk demo run`: then serve, eval and the rest see the demo business.
            if candidate.exists():
                return candidate
        return None


def load_settings() -> Settings:
    """Read settings from the environment."""
    return Settings()
