"""Errors the suite raises for bad input. Each message names the problem and the fix."""


class SuiteError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class UnknownModelError(SuiteError, ValueError):
    """The model name is neither known, a local path, nor a Hub id."""


class AssetError(SuiteError):
    """A registry asset could not be fetched, or failed its checksum."""


class OfflineError(AssetError):
    """Something must be downloaded but the network (or the Hub) is unreachable."""


class CorpusError(SuiteError, ValueError):
    """The corpus is missing, empty, or too small for the request."""


class ParameterError(SuiteError, ValueError):
    """A notebook or function parameter has the wrong type or an out-of-range value."""
