"""Nothing lost, nothing silently wrong, no traceback for a user's mistake (issue 15).

Each test is one case of the issue: bad names, bad parameters, bad corpora, corrupted caches of
every kind, interrupted and failed reruns, concurrent runs, read-only and odd paths. Runs go
through the real runner (in-process ``main`` where nothing executes, a subprocess where a signal
must arrive mid-page) on the tiny notebooks of ``tests/data/reliability``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import nbformat
import numpy as np
import pandas as pd
import pytest

from helpers import cache, corpus, io, models
from helpers.__main__ import main
from helpers.errors import BookDirError, CorpusError, ParameterError, UnknownModelError
from helpers.runner.book import book_problems, book_timings, write_book_sources
from helpers.runner.checks import claim_chapter
from helpers.runner.page import commit
from helpers.runner.plan import CHAPTER_FILE, Run, chapter_name, declared_parameters, plan_runs
from helpers.runner.stamps import input_digest, stamped_digest
from support import full_book

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "tests" / "data" / "reliability"
TINY = "tiny-random-gpt2"


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """An empty book folder with a minimal ``_config.yml`` (tests that build use :func:`full_book`)."""
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "_config.yml").write_text("title: reliability\n")
    return folder


def cli(book: Path, *args: str, models: tuple[str, ...] = (TINY,), notebooks: tuple[str, ...] = ("page",)) -> list[str]:
    return ["run", "--notebook-dir", str(NOTEBOOKS), "--book-dir", str(book), "--controls", "none",
            "--models", *models, "--notebooks", *notebooks, *args]


def one_error_line(err: str) -> str:
    """The runner's message for a user's mistake: one ``error:`` paragraph, no traceback."""
    assert "Traceback" not in err and "----> " not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), err
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def page_of(book: Path, notebook: str = "page", model: str = TINY) -> Run:
    (run,) = plan_runs(NOTEBOOKS, book, [model], [notebook])
    return run


# --- bad input is refused before any kernel starts (papermill is forbidden in fast tests) -------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-p", "seed", "-1"], r"parameter seed must be an int >= 0"),
        (["-p", "layer", "'3'"], r"parameter layer must be an int"),
        (["-p", "sed", "1"], r"declares parameter\(s\) sed"),
        (["-p", "corpus", "no-such-corpus"], r"unknown corpus 'no-such-corpus'"),
        (["-p", "corpus", "/no/such/corpus.txt"], r"corpus file '/no/such/corpus.txt' does not exist"),
        (["--notebooks", "nope"], r"unknown notebook\(s\) nope"),
    ],
)
def test_bad_parameters_are_one_line_before_any_kernel(book: Path, capsys, args: list[str], expected: str) -> None:
    argv = cli(book, *args)
    if "--notebooks" in args:
        argv = argv[: argv.index("--notebooks")] + args
    assert main(argv) == 2
    assert re.search(expected, one_error_line(capsys.readouterr().err))
    assert not (book / "runs" / TINY / "page.failed.ipynb").exists()


def test_device_cuda_on_a_cpu_machine_is_one_line(book: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for argv in (cli(book, "--device", "cuda"), cli(book, "-p", "device", "cuda")):
        assert main(argv) == 2
        err = one_error_line(capsys.readouterr().err)
        assert "no CUDA GPU" in err and "device cpu" in err and len(err.strip().splitlines()) == 1
    assert not (book / "runs").exists()


def test_device_switch_reaches_every_page_that_declares_it(book: Path) -> None:
    notebooks = REPO / "notebooks"
    runs = plan_runs(notebooks, book, [TINY], ["all"], device="cpu")
    declaring = [r for r in runs if "device" in declared_parameters(r.notebook)]
    assert declaring and all(r.parameters["device"] == "cpu" for r in declaring)
    with pytest.raises(ParameterError, match="given twice"):
        plan_runs(notebooks, book, [TINY], ["all"], overrides={"device": "cpu"}, device="cpu")


def test_unknown_and_missing_models_name_the_fix(book: Path, capsys, tmp_path: Path) -> None:
    assert main(cli(book, models=("smollm2",))) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "unknown model 'smollm2'" in err and "smollm2-135m" in err
    missing = tmp_path / "models" / "my-model"  # a directory path that does not exist
    assert main(cli(book, models=(str(missing),))) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "does not exist" in err and "unknown model" not in err


def test_missing_model_paths_are_reported_as_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("/no/such/dir/model", "./local-model", "~/no-such-model-dir", "a/b/c", "gone.gguf"):
        with pytest.raises(UnknownModelError, match="does not exist") as info:
            models.resolve(name)
        assert "unknown model" not in str(info.value)
    assert models.resolve("EleutherAI/pythia-70m").source == "hub"  # one slash: a Hub id


def test_truncated_local_gguf_is_a_clear_error(book: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 4)  # a header, then garbage: truncated
    with pytest.raises(models.ModelFileError, match="truncated or not a GGUF"):
        models.prepare(str(gguf))
    assert main(cli(book, models=(str(gguf),))) == 2
    err = one_error_line(capsys.readouterr().err)
    assert str(gguf) in err and "download it again" in err
    assert not list((tmp_path / "cache" / "dequantised").glob("*"))  # nothing half-made is cached


def test_non_utf8_corpus_is_a_clear_error(book: Path, tmp_path: Path, capsys) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Café au lait, naïve façade. ".encode("latin-1") * 50)
    with pytest.raises(CorpusError, match="not UTF-8.*iconv"):
        corpus.load_documents(str(latin1))
    jsonl = tmp_path / "latin1.jsonl"
    jsonl.write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match="not UTF-8"):
        corpus.load_documents(str(jsonl))
    assert main(cli(book, "-p", "corpus", str(latin1))) == 2
    assert "is not UTF-8 text" in one_error_line(capsys.readouterr().err)


def test_cache_env_pointing_at_a_file_is_a_clear_error(book: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    monkeypatch.setenv(io.CACHE_ENV, str(a_file))
    with pytest.raises(io.CacheError, match="NEURON_REPRO_CACHE"):
        io.cache_dir()
    assert main(cli(book)) == 2
    assert "is a file, not a folder" in one_error_line(capsys.readouterr().err)
    monkeypatch.delenv(io.CACHE_ENV)
    monkeypatch.setenv(cache.RESULTS_ENV, str(a_file))
    with pytest.raises(io.CacheError, match="NEURON_REPRO_RESULTS"):
        cache.results_root()


def test_book_dir_without_config_is_reported_before_any_page(tmp_path: Path, capsys) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    assert main(cli(bare)) == 2
    assert "has no _config.yml" in one_error_line(capsys.readouterr().err)
    assert not (bare / "runs").exists()  # no page ran


def test_read_only_runs_folder_is_a_clear_error(book: Path, capsys, monkeypatch) -> None:
    """Simulated (tests may run as root, whom chmod does not stop): every write under runs/ fails."""
    runs = book / "runs"
    real_mkstemp = tempfile.mkstemp
    real_mkdtemp = tempfile.mkdtemp

    def denied(real):  # type: ignore[no-untyped-def]
        def fake(*args: Any, dir: Any = None, **kwargs: Any) -> Any:
            if dir is not None and str(runs) in str(Path(dir).resolve()):
                raise PermissionError(13, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)
        return fake

    monkeypatch.setattr(tempfile, "mkstemp", denied(real_mkstemp))
    monkeypatch.setattr(tempfile, "mkdtemp", denied(real_mkdtemp))
    assert main(cli(book)) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "cannot write to" in err and "Permission denied" in err and "--book-dir" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_runs_folder_really_read_only(book: Path, capsys) -> None:
    (book / "runs").mkdir()
    (book / "runs").chmod(0o555)
    try:
        assert main(cli(book)) == 2
        assert "cannot write to" in one_error_line(capsys.readouterr().err)
    finally:
        (book / "runs").chmod(0o755)


def test_relations_between_parameters_are_checked_before_a_kernel(book: Path, tmp_path: Path, capsys) -> None:
    nb = nbformat.read(NOTEBOOKS / "page.ipynb", as_version=4)
    nb.cells[1].source += "\nn_rows = 3\nk = 1"
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "page.ipynb")
    argv = ["run", "--notebook-dir", str(tmp_path / "nbs"), "--book-dir", str(book), "--controls", "none",
            "--models", TINY, "-p", "k", "10", "-p", "n_rows", "3"]
    assert main(argv) == 2
    assert "k = 10 exceeds n_rows = 3" in one_error_line(capsys.readouterr().err)


# --- chapter folders: one per model identity ----------------------------------------------------


def test_models_differing_only_in_non_ascii_get_their_own_chapters(book: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "modèl", tmp_path / "modél"
    for folder in (first, second):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    a, b = page_of(book, model=str(first)), page_of(book, model=str(second))  # two separate commands
    assert a.output.parent != b.output.parent
    assert chapter_name(str(first)) != chapter_name(str(second))
    assert page_of(book, model=f"{first}/../{first.name}").output == a.output  # one model, one folder


def test_a_chapter_folder_holding_another_model_is_refused(book: Path) -> None:
    run = page_of(book, model="model-a")
    run.output.parent.mkdir(parents=True)
    io.write_json(run.output.parent / CHAPTER_FILE, {"model": "Model-A", "identity": "Model-A"})
    with pytest.raises(BookDirError, match="holds the pages of model 'Model-A', not of 'model-a'"):
        claim_chapter(run)
    (run.output.parent / CHAPTER_FILE).unlink()  # an older book: the stamps name the model
    io.write_json(run.stamp, {"digest": "x", "model": "Model-A"})
    with pytest.raises(BookDirError):
        claim_chapter(run)


# --- caches keyed and checked by content ----------------------------------------------------------


def test_a_local_corpus_is_keyed_by_its_content(book: Path, tmp_path: Path) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text("one two three")
    calls = []

    def count() -> dict[str, pd.DataFrame]:
        calls.append(1)
        return {"words": pd.DataFrame({"n": [len(text.read_text().split())]})}

    parts = {"corpus": str(text)}
    assert cache.cached_tables("words", parts, count)["words"].n[0] == 3
    (run,) = plan_runs(NOTEBOOKS, book, [TINY], ["words"], overrides={"corpus": str(text)})
    digest = input_digest(run)
    text.write_text("one two three four five")  # edited in place, same path
    assert cache.cached_tables("words", parts, count)["words"].n[0] == 5  # not the old number
    assert len(calls) == 2
    assert input_digest(run) != digest  # the page reruns without --force


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flip":
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:])
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 3])
    elif how == "delete":
        path.unlink()


@pytest.mark.parametrize(("target", "how"), [
    ("a.parquet", "flip"), ("a.parquet", "truncate"), ("b.parquet", "delete"),
    ("key.json", "truncate"), ("key.json", "delete"),
])
def test_a_corrupt_cached_table_is_recomputed_with_one_warning(target: str, how: str, caplog) -> None:
    tables = {"a": pd.DataFrame({"x": np.arange(2000.0)}), "b": pd.DataFrame({"y": ["p", "q"]})}
    calls = []

    def compute() -> dict[str, pd.DataFrame]:
        calls.append(1)
        return {k: v.copy() for k, v in tables.items()}

    parts = {"case": f"{target}-{how}-{time.time_ns()}"}
    cache.cached_tables("corrupt", parts, compute)
    folder = cache.results_root() / f"corrupt-{cache.cache_key(parts, compute.__module__)}"
    corrupt(folder / target, how)
    with caplog.at_level(logging.WARNING):
        again = cache.cached_tables("corrupt", parts, compute)
    assert len(calls) == 2 and set(again) == {"a", "b"}
    pd.testing.assert_frame_equal(again["a"], tables["a"])
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "corrupt" in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cache.cached_tables("corrupt", parts, compute)  # healed: read from the cache, silently
    assert len(calls) == 2 and not caplog.records


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch) -> Iterator[tuple[Path, list[int]]]:
    """A 'GGUF file' whose dequantisation is a tiny random llama (counts how often it is made)."""
    from helpers import tiny

    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    made: list[int] = []

    def load(path: Path):  # type: ignore[no-untyped-def]
        made.append(1)
        return tiny.build("llama")

    monkeypatch.setattr(models, "_load_gguf", load)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF fake")
    yield gguf, made


@pytest.mark.parametrize("damage", ["flip", "truncate", "no config.json", "no manifest", "empty folder"])
def test_a_damaged_dequantised_copy_is_rebuilt(fake_gguf, damage: str, caplog) -> None:
    gguf, made = fake_gguf
    target = models._dequantised_copy(gguf, "ab" * 32)
    assert made == [1] and models._dequantised_copy(gguf, "ab" * 32) == target and made == [1]
    weights = target / "model.safetensors"
    if damage in ("flip", "truncate"):
        corrupt(weights, damage)
    elif damage == "no config.json":
        (target / "config.json").unlink()
    elif damage == "no manifest":
        (target / models.MANIFEST).unlink()
    else:
        shutil.rmtree(target)
        target.mkdir()
    with caplog.at_level(logging.WARNING):
        assert models._dequantised_copy(gguf, "ab" * 32) == target
    assert made == [1, 1]
    assert models._copy_problem(target, full_check=True) is None
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1


def test_the_runner_hashes_the_whole_copy(fake_gguf) -> None:
    """A change that keeps size and mtime passes the per-load check; the runner's full check catches it."""
    gguf, made = fake_gguf
    target = models._dequantised_copy(gguf, "cd" * 32)
    weights = target / "model.safetensors"
    stat = weights.stat()
    corrupt(weights, "flip")
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert models._dequantised_copy(gguf, "cd" * 32) == target and made == [1]
    models._dequantised_copy(gguf, "cd" * 32, full_check=True)
    assert made == [1, 1]


def test_local_gguf_copies_are_keyed_by_content(fake_gguf) -> None:
    gguf, made = fake_gguf
    first = models.prepare(str(gguf))
    gguf.write_bytes(b"GGUF other bytes")
    assert models.prepare(str(gguf)) != first and made == [1, 1]


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_corrupt_token_counts_are_recounted(tmp_path: Path, monkeypatch, how: str, caplog) -> None:
    from helpers import unigram

    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    model = models.load_model(TINY, device="cpu")
    text = tmp_path / "c.txt"
    text.write_text("the cat sat on the mat\fa dog ran far " * 20)
    counts = unigram.count_tokens(model, str(text), progress=False)
    (cached,) = (tmp_path / "cache" / "unigrams").glob("counts-*")
    corrupt(cached, how)
    with caplog.at_level(logging.WARNING):
        again = unigram.count_tokens(model, str(text), progress=False)
    np.testing.assert_array_equal(again, counts)
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1
    text.write_text("entirely different words " * 30)
    assert not np.array_equal(unigram.count_tokens(model, str(text), progress=False), counts)


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_corrupt_activation_checkpoint_is_counted_again(tmp_path: Path, monkeypatch, how: str, caplog) -> None:
    from helpers import voita
    from helpers.activations import ActivationCounts

    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setattr(voita.shutil, "rmtree", lambda *a, **k: None)  # keep the checkpoints of the pass
    model = models.load_model("tiny-random-opt", device="cpu")
    text = tmp_path / "c.txt"
    text.write_text(" ".join(f"w{i % 37}" for i in range(4000)))
    first = voita.neuron_stats(model, corpus=str(text), n_rows=4, seq_len=16, cache=False, progress=False)
    checkpoints = sorted((tmp_path / "results").glob("activation-counts-*/group-*.npz"))
    assert checkpoints
    corrupt(checkpoints[0], how)
    assert ActivationCounts.load_checkpoint(checkpoints[0].with_name("absent.npz")) is None
    with caplog.at_level(logging.WARNING):
        again = voita.neuron_stats(model, corpus=str(text), n_rows=4, seq_len=16, cache=False, progress=False)
    pd.testing.assert_frame_equal(again.neurons, first.neurons)
    assert sum("checkpoint" in r.getMessage() for r in caplog.records) == 1


def test_an_edited_wiki_cache_is_parsed_again(tmp_path: Path, monkeypatch, caplog) -> None:
    from helpers import assets

    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(assets, "fetch", lambda name: tmp_path / "dump.xml.bz2")
    monkeypatch.setattr(corpus, "parse_wiki_dump", lambda path: ["First article.", "Second article."])
    assert corpus.load_documents("wikipedia-sample") == ["First article.", "Second article."]
    (cached,) = (tmp_path / "cache" / "corpora").glob("wikipedia-sample-*.json")
    cached.write_text(cached.read_text().replace("Second", "Altered"))  # still valid JSON
    with caplog.at_level(logging.WARNING):
        assert corpus.load_documents("wikipedia-sample") == ["First article.", "Second article."]
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1


# --- damaged pages: never a crash, never in the book, rerun ---------------------------------------


def fabricate_page(run: Run) -> None:
    """A complete page of ``run`` as the runner commits it, without executing anything."""
    staging = run.output.parent / f".{run.name}.staging-test"
    (staging / f"{run.name}_files").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")])
    nbformat.write(nb, staging / f"{run.name}.ipynb")
    io.write_json(staging / f"{run.name}_files" / "key_numbers.json", {"numbers": {"seed": 0}})
    commit(run, staging, input_digest(run), 1.0)
    shutil.rmtree(staging)


@pytest.mark.parametrize("damage", ["stamp", "key_numbers", "notebook"])
def test_a_damaged_page_is_left_out_and_rerun(book: Path, damage: str) -> None:
    run, other = page_of(book), page_of(book, "words")
    fabricate_page(run)
    fabricate_page(other)
    assert stamped_digest(run) == input_digest(run)
    target = {"stamp": run.stamp, "key_numbers": run.results_dir / "key_numbers.json", "notebook": run.output}[damage]
    target.write_text("{ not json")
    assert stamped_digest(run) is None  # so it executes again
    write_book_sources(book)  # no crash: the other page still makes a book
    toc = (book / "_toc.yml").read_text()
    assert f"runs/{TINY}/words" in toc and f"runs/{TINY}/page" not in toc
    (problem,) = book_problems(book)
    assert problem.startswith(f"damaged  page for '{TINY}'")


# --- interrupted and failed reruns keep the previous page (subprocesses, killed by their PID) -----


def runner(book: Path, *args: str, marker: Path | None = None, notebooks: tuple[str, ...] = ("page",)) -> subprocess.Popen:
    """``python -m helpers run`` in a subprocess of its own session (so signals reach only it)."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(REPO / "src")}
    if marker is not None:
        env["RELIABILITY_MARKER"] = str(marker)
    return subprocess.Popen([sys.executable, "-m", "helpers", *cli(book, *args, notebooks=notebooks)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()  # only the process this test started
            proc.wait()
    return proc.returncode, out, err


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def built_page(tmp_path: Path) -> tuple[Path, Run, dict[str, bytes], str, str]:
    """A book (in a folder with a space and non-ASCII letters) with one successful page; the
    runner's stdout and stderr."""
    book = full_book(tmp_path / "a book ü")
    code, out, err = finish(runner(book))
    assert code == 0, err
    run = page_of(book)
    return book, run, snapshot(run.output.parent), out, err


@pytest.mark.slow
def test_a_run_prints_one_line_per_page_and_the_times(built_page) -> None:
    book, run, _, out, err = built_page
    assert "[1/1] executed    page · tiny-random-gpt2" in out
    assert "Kernel is running over TCP" not in err and "Traceback" not in err
    assert "Time per page" in out and "Time per model: tiny-random-gpt2" in out and "Slowest pages: page" in out
    nb = nbformat.read(run.output, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"]  # not shown in the book
    injected_values: dict[str, Any] = {}
    exec(injected[0].source, injected_values)  # the page shows where its figures are, not the staging folder
    assert injected_values["results_dir"] == str(run.results_dir) and ".staging-" not in nbformat.writes(nb)
    report = book_timings(book)
    assert "page" in report and "Slowest pages" in report


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_page_keeps_the_previous_page(built_page, tmp_path: Path, signum: int) -> None:
    book, run, before, _, _ = built_page
    marker = tmp_path / "kernel.pid"
    proc = runner(book, "-p", "seconds", "120", marker=marker)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        kernel = int(marker.read_text())
        assert alive(kernel)
        proc.send_signal(signum)
        code, out, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert "keeps its previous version" in err and str(run.failed) in err
    assert run.failed.exists()
    after = snapshot(run.output.parent)
    assert {k: v for k, v in after.items() if k != run.failed.name} == before  # page, stamp, figures
    assert not [p for p in run.output.parent.iterdir() if p.name.startswith(".")]  # no temporary files
    for _ in range(50):
        if not alive(kernel):
            break
        time.sleep(0.1)
    assert not alive(kernel), "the kernel outlived the runner"


@pytest.mark.slow
def test_failed_reruns_keep_the_previous_page(built_page, capsys) -> None:
    book, run, before, _, _ = built_page
    # a suite error inside the notebook: one paragraph, exit 2
    assert main(cli(book, "-p", "layer", "999")) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "notebook 'page' for 'tiny-random-gpt2' stopped: ParameterError: parameter layer = 999" in err
    assert "pass -p layer 0 .. 5" in err and str(run.failed) in err and "previous page is kept" in err
    assert {k: v for k, v in snapshot(run.output.parent).items() if k != run.failed.name} == before
    # a dead kernel: exit 1, the page stays
    assert main(cli(book, "-p", "die", "True")) == 1
    err = capsys.readouterr().err
    assert "its kernel died" in err and "Traceback" not in err
    assert {k: v for k, v in snapshot(run.output.parent).items() if k != run.failed.name} == before
    # `book` builds what is complete, lists the failed page and exits non-zero
    assert main(["book", "--book-dir", str(book), "--notebook-dir", str(NOTEBOOKS)]) == 1
    err = capsys.readouterr().err
    assert "failed   page for 'tiny-random-gpt2'" in err and "its previous version is shown" in err
    assert "missing  words for 'tiny-random-gpt2': never run" in err
    assert (book / "_build" / "html" / "runs" / TINY / "page.html").is_file()
    # a rerun that succeeds replaces the page and clears the failure
    assert main(cli(book, "-p", "seed", "7")) == 0
    assert not run.failed.exists()
    assert json.loads((run.results_dir / "key_numbers.json").read_text())["numbers"]["seed"] == 7


@pytest.mark.slow
def test_book_leaves_no_html_of_pages_that_are_gone(built_page, capsys) -> None:
    book, run, _, _, _ = built_page
    html = book / "_build" / "html" / "runs" / TINY / "page.html"
    assert html.is_file()
    shutil.rmtree(run.output.parent)
    io.write_json(book / "runs" / "other" / CHAPTER_FILE, {"model": "other", "identity": "other"})
    assert main(["book", "--book-dir", str(book)]) == 2  # nothing left to build: an error, not old HTML
    assert "no executed notebooks" in capsys.readouterr().err
    fabricate_page(page_of(book, "words", model="other"))
    assert main(["book", "--book-dir", str(book), "--notebook-dir", str(NOTEBOOKS)]) == 1  # page is missing
    assert not html.exists() and (book / "_build" / "html" / "runs" / "other" / "words.html").is_file()


@pytest.mark.slow
def test_editing_a_local_corpus_gives_new_numbers(tmp_path: Path) -> None:
    book = full_book(tmp_path / "book")
    text = tmp_path / "corpus.txt"
    text.write_text("one two three")

    def words(*extra: str) -> int:
        code, out, err = finish(runner(book, "-p", "corpus", str(text), *extra, notebooks=("words",)))
        assert code == 0, err
        return json.loads((book / "runs" / TINY / "words_files" / "key_numbers.json").read_text())["numbers"]["n_words"]

    assert words() == 3
    text.write_text("one two three four")
    assert words() == 4  # no --force needed: the page's stamp covers the file's content
    text.write_text("one two three four five")
    assert words("--force") == 5  # and --force does not read the old table from the cache


@pytest.mark.slow
def test_concurrent_runs_of_one_book(tmp_path: Path) -> None:
    book = full_book(tmp_path / "book")
    procs = [runner(book, "-p", "seconds", "2") for _ in range(2)]
    results = [finish(proc) for proc in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    outs = "".join(out for _, out, _ in results)
    assert outs.count("executed    page") == 1 and outs.count("up to date  page") == 1  # the second waited
    (run,) = plan_runs(NOTEBOOKS, book, [TINY], ["page"], overrides={"seconds": 2})
    assert stamped_digest(run) == input_digest(run)
    assert not [p for p in run.output.parent.iterdir() if p.name.startswith(".")]
    assert not [p for p in (book / "_build").iterdir() if p.name.startswith(".")]
