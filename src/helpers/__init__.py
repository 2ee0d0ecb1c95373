"""Helpers for the reproduction suite of Stolfo et al. 2024 and Voita et al. 2023.

Notebooks import the submodules they need (``helpers.models``, ``helpers.corpus``,
``helpers.weights``, ...); this package root only exposes the version, which is part of
every cache key, and, inside a notebook's kernel, shows the suite's own errors as one paragraph
(``helpers.kernel_errors``).
"""

from helpers import kernel_errors

__version__ = "0.1.0"

kernel_errors.install()
