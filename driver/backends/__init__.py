"""Simulator backends: one module per simulator, found by name.

``backend: {name: foo}`` in a spec loads ``driver.backends.foo`` and uses its class
``Backend`` (a subclass of :class:`driver.backends.base.Backend`). Adding a simulator
means adding one module; nothing else changes.
"""
from __future__ import annotations

import importlib
import os

from .base import Backend, EvaluationFailed, SpecError

__all__ = ["Backend", "EvaluationFailed", "SpecError", "available", "backend_class"]


def available() -> list[str]:
    """Names of the backend modules shipped in this package."""
    return sorted(f[:-3] for f in os.listdir(__path__[0])
                  if f.endswith(".py") and not f.startswith("_") and f != "base.py")


def backend_class(name: str) -> type[Backend]:
    # Import directly (listing the package first costs the driver time on every call).
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise SpecError(f"unknown backend {name!r}; allowed: {', '.join(available())}") from None
    return module.Backend
