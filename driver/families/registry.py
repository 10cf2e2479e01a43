"""The one registry of design-space families, and how a backend is found by name.

A family is a package (or module) ``driver.families.<name>`` exposing a class ``Family``;
its backends are the modules of its ``backends/`` folder, each exposing a class
``Backend``. Adding a backend to a family adds one module to that folder; adding a family
adds its package and one line to :data:`FAMILIES`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os

from ..errors import SpecError

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from .backend import Backend
    from .base import Family

#: Family name -> the module that holds its ``Family`` (and its ``backends/`` folder).
FAMILIES = {
    "cache": "driver.families.cache",
    "accelerator": "driver.families.accelerator",
    "cnn": "driver.families.cnn",
    "generic": "driver.families.generic",
}
BACKENDS = "backends"  # the folder, inside a family's package, of its backends


def available() -> list[str]:
    """Names of the registered families."""
    return sorted(FAMILIES)


def family_class(name: str) -> type[Family]:
    if name not in FAMILIES:
        raise SpecError(f"unknown design-space family {name!r}; allowed: "
                        f"{', '.join(available())}")
    return importlib.import_module(FAMILIES[name]).Family


def _backend_folder(family: str) -> str | None:
    """The family's backends folder, found without importing the family (the fork driver
    looks a backend up on every evaluation)."""
    found = importlib.util.find_spec(FAMILIES[family])
    locations = found.submodule_search_locations if found else None
    return os.path.join(locations[0], BACKENDS) if locations else None


def _backend_names(folder: str | None) -> list[str]:
    if folder is None or not os.path.isdir(folder):
        return []
    return sorted(f[:-3] for f in os.listdir(folder)
                  if f.endswith(".py") and not f.startswith("_"))


def available_backends() -> dict[str, str]:
    """Backend name -> its family, for every registered family's backends."""
    return {name: family for family in FAMILIES
            for name in _backend_names(_backend_folder(family))}


def backend_class(name: str) -> type[Backend]:
    """The ``Backend`` class of backend ``name`` (a one-line SpecError if there is none)."""
    for family in FAMILIES:
        folder = _backend_folder(family)
        if folder is not None and os.path.isfile(os.path.join(folder, f"{name}.py")):
            return importlib.import_module(f"{FAMILIES[family]}.{BACKENDS}.{name}").Backend
    raise SpecError(f"unknown backend {name!r}; allowed: "
                    f"{', '.join(sorted(available_backends()))}")
