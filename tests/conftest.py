"""Test-session set-up: caches that never touch the user's, papermill runs only in slow tests, and the
fixtures shared by several test modules (their helpers are in ``support.py``).

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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from support import CHROMEDRIVER, CHROMIUM, in_ci, planted_opt

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


# --- shared fixtures


@pytest.fixture(scope="module")
def planted():
    """The planted tiny OPT (``support.planted_opt``) as a TransformerBridge."""
    from helpers.models import KNOWN_MODELS, from_hf

    hf, tok = planted_opt()
    return from_hf(hf, tok, KNOWN_MODELS["tiny-random-opt"])


@pytest.fixture(scope="module")
def server(built_html: Path) -> Iterator[str]:
    """Serve the built HTML on 127.0.0.1; yield the base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(built_html)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        message = f"headless browser test needs {' and '.join(missing)} (apt-get install chromium chromium-driver)"
        if in_ci():
            pytest.fail(message + "; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, read per page
    for arg in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        # Offline like a reader on a plane: every host name but 127.0.0.1 fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]:  # fmt: skip
        options.add_argument(arg)
    # An explicit driver path: Selenium Manager never downloads anything.
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
