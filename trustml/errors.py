"""Exceptions raised by trustml.

Every error a user can cause is a :class:`TrustMLError` whose message is one line naming the
field at fault and the fix, so the CLI can print it as it is and exit non-zero.
"""


class TrustMLError(Exception):
    """Base class of every error trustml raises on purpose."""


class DataError(TrustMLError, ValueError):
    """The data set is unusable as given (missing column, bad labels, NaN, empty...)."""


class ConfigError(TrustMLError, ValueError):
    """A parameter or configuration value is out of range or unknown."""


class ModelLoadError(TrustMLError, OSError):
    """A model file is missing or cannot be loaded safely."""


class DataNotFoundError(TrustMLError, FileNotFoundError):
    """A data file is not in any of the places trustml looks."""
