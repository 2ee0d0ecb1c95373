"""Helpers for the reproduction suite of Stolfo et al. 2024 and Voita et al. 2023.

Notebooks import the submodules they need (``helpers.models``, ``helpers.corpus``,
``helpers.weights``, ...); this package root only exposes the version, which is part of
every cache key.
"""

__version__ = "0.1.0"
