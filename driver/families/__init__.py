"""Design-space families: one package or module per kind of design space, found by name.

A backend names its family (``Backend.family``); ``driver.families.<name>`` exposes a class
``Family`` (a subclass of :class:`driver.families.base.Family`). Adding a kind of design
space means adding one module here and the backends that use it; nothing else changes.
"""
from __future__ import annotations

import importlib
import os

from .base import Family

__all__ = ["Family", "available", "family_class", "for_spec"]


def available() -> list[str]:
    """Names of the family modules and packages shipped here."""
    names = []
    for entry in os.listdir(__path__[0]):
        if entry.startswith("_") or entry == "base.py":
            continue
        if entry.endswith(".py"):
            names.append(entry[:-3])
        elif os.path.isfile(os.path.join(__path__[0], entry, "__init__.py")):
            names.append(entry)
    return sorted(names)


def family_class(name: str) -> type[Family]:
    from ..backends.base import SpecError

    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise SpecError(f"unknown design-space family {name!r}; allowed: "
                        f"{', '.join(available())}") from None
    return module.Family


def for_spec(spec: dict) -> Family:
    """The family of a loaded spec's backend, answering for that spec."""
    from ..backends import backend_class

    return family_class(backend_class(spec["backend"]["name"]).family)(spec)
