"""Exceptions raised by trustml.

Every error a user can cause is a :class:`TrustMLError` whose message is one line naming the
field at fault and the fix, so the CLI can print it as it is and exit non-zero.
"""

import difflib


def did_you_mean(word, choices) -> str:
    """The hint that ends a message about an unknown name: ``"; did you mean 'x'?"`` for the
    closest of ``choices``, else ``"; use one of [...]"``.

    >>> did_you_mean("sensitve", ["label", "sensitive"])
    "; did you mean 'sensitive'?"
    """
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; use one of {choices}"


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
