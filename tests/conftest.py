"""Test-session set-up: caches that never touch the user's, and papermill runs only in slow tests.

- Results (cached tables) go to a fresh temporary folder per test session
  (``NEURON_REPRO_RESULTS``), so no test reads a table an earlier session or the user's book made.
- Assets (model GGUFs, the Wikipedia sample, dequantised copies, unigram counts) go to
  ``<repo>/.cache-test`` (``NEURON_REPRO_CACHE``; git-ignored), which persists across sessions so
  that downloads happen once per clone. ``~/.cache/neuron-repro`` is never touched. Set
  ``NEURON_REPRO_TEST_CACHE`` to use another folder.
- Both are set in ``pytest_configure``, before any test imports ``helpers``, and papermill's
  kernels inherit them.
- Every test that executes a notebook with papermill is slow: the modules that do so throughout
  are marked here, and any other test that calls papermill without ``@pytest.mark.slow`` fails,
  so that ``make test-fast`` (``-m "not slow"``) never starts a kernel.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / ".cache-test"
PAPERMILL_MODULES = {"test_notebooks.py", "test_book.py"}  # every test in them executes notebooks

_session_results: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    os.environ["NEURON_REPRO_CACHE"] = os.environ.get("NEURON_REPRO_TEST_CACHE") or str(TEST_CACHE)
    results = Path(tempfile.mkdtemp(prefix="neuron-repro-test-results-"))
    _session_results.append(results)
    os.environ["NEURON_REPRO_RESULTS"] = str(results)


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _session_results:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in PAPERMILL_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _papermill_only_in_slow_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("slow") is not None:
        return
    import papermill

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("this test executes a notebook with papermill: mark it @pytest.mark.slow, so that "
                    "`make test-fast` stays fast")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)
