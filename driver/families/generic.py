"""The family of a backend that names none: a design space with no vocabulary, derived
features, estimate or cost axes of its own. A backend using it consumes exactly the
parameters its :meth:`Backend.consumed_parameters` lists."""
from __future__ import annotations

from .base import Family as _Base


class Family(_Base):
    name = "generic"
