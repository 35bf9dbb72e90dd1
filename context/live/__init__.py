"""Keeping customer context current: webhook propagation, scheduled syncs, live lookups at chat time."""
