"""Golden profiles: survivorship with provenance, conflicts, derived account status and its history.

The names below are loaded on first use (PEP 562): importing `context.profiles.models` alone (a CLI read of
one customer) must not load the recompute service and the config parser with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from context.lazy import lazy_exports

if TYPE_CHECKING:
    from context.profiles.config import ProfilesConfig, load_profiles_config, parse_profiles_config
    from context.profiles.service import get_profile, list_conflicts, recompute_profiles, status_history

_HOMES = {
    "ProfilesConfig": "config",
    "load_profiles_config": "config",
    "parse_profiles_config": "config",
    "get_profile": "service",
    "list_conflicts": "service",
    "recompute_profiles": "service",
    "status_history": "service",
}


__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "ProfilesConfig",
    "get_profile",
    "list_conflicts",
    "load_profiles_config",
    "parse_profiles_config",
    "recompute_profiles",
    "status_history",
]
