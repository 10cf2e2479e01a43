"""ml/'s error type, from cyclecast's one error tree (:mod:`driver.errors`)."""
from driver.errors import DataError

__all__ = ["DataError"]
