"""Package-level names loaded on first use (PEP 562), so importing one submodule does not load its siblings."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, homes: dict[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports each name of `homes` (name → submodule) when first used.

    A package whose `__init__` imported all its submodules made every `import package.one` pay for the rest (a
    CLI read that needs the context builder loaded the recompute service, the identity resolver and every table).
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # later lookups find it without this hook
        return value

    return __getattr__
