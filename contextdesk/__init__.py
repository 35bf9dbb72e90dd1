"""ContextDesk composition root: settings, database wiring, the CLI and the app factory."""

__version__ = "0.1.0"
