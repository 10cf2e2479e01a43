"""Design-space families, and the one registry that names them.

A family is a package (or module) ``driver.families.<name>`` exposing a class ``Family``
(a subclass of :class:`driver.families.base.Family`); its backends are the modules of its
``backends/`` folder, each exposing a class ``Backend`` (:class:`driver.families.backend.
Backend`). Adding a backend to a family adds one module to that folder; adding a family
adds its package and one line to :data:`FAMILIES`.
"""
from __future__ import annotations

from .backend import Backend
from .base import Family
from .registry import FAMILIES, available, available_backends, backend_class, family_class

__all__ = ["FAMILIES", "Backend", "Family", "available", "available_backends", "backend_class",
           "family_class"]
