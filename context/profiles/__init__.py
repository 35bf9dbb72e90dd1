"""Golden profiles: survivorship with provenance, conflicts, derived account status and its history."""

from context.profiles.config import ProfilesConfig, load_profiles_config, parse_profiles_config
from context.profiles.service import get_profile, list_conflicts, recompute_profiles, status_history

__all__ = [
    "ProfilesConfig",
    "get_profile",
    "list_conflicts",
    "load_profiles_config",
    "parse_profiles_config",
    "recompute_profiles",
    "status_history",
]
