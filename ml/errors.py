"""The one error type of ml/: bad input, reported as one line (file, field, what to do)."""


class DataError(ValueError):
    """Bad data, spec or model bundle; the message is one line."""
