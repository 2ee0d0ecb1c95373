"""The suite runner: planning, parameters, stamps, failures, the CLI; and helpers.report."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

import helpers  # noqa: E402
from helpers.__main__ import main  # noqa: E402
from helpers.errors import BookBuildError, NotebookError, NotebookFailed, ParameterError  # noqa: E402
from helpers.profiles import PROFILES  # noqa: E402
from helpers.report import save_figure, write_key_numbers  # noqa: E402
from helpers.runner.book import book_problems, build_book, write_book_sources  # noqa: E402
from helpers.runner.page import execute_run  # noqa: E402
from helpers.runner.plan import (  # noqa: E402
    CHAPTER_FILE,
    CROSS,
    Run,
    chapter_name,
    declared_parameters,
    natural_key,
    page_family,
    parse_value,
    plan_runs,
)
from helpers.runner.session import Session  # noqa: E402
from helpers.runner.stamps import input_digest, stamped_digest  # noqa: E402
from helpers.runner.suite import lanes, run_suite  # noqa: E402
from support import full_book  # noqa: E402

DATA = Path(__file__).parent / "data" / "notebooks"


@pytest.fixture
def nb_dir(tmp_path: Path) -> Path:
    """A private copy of the throwaway notebooks (tests may edit them)."""
    return Path(shutil.copytree(DATA, tmp_path / "notebooks"))


def write_notebook(path: Path, parameters: str | None, code: str = "") -> Path:
    cells = [new_markdown_cell(f"# {path.stem}")]
    if parameters is not None:
        cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells.append(new_code_cell(code))
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), path)
    return path


def one_run(nb_dir: Path, book: Path, name: str, model: str = "model-a", profile: str = "quick") -> Run:
    (run,) = plan_runs(nb_dir, book, [model], [name], profile)
    return run


# --- planning ---------------------------------------------------------------------------------


def test_declared_parameters_reads_the_tagged_cell(nb_dir: Path) -> None:
    assert declared_parameters(nb_dir / "demo.ipynb") == {"model": "x", "results_dir": ".", "n_rows": 3}
    nb = write_notebook(nb_dir / "odd.ipynb", "import os\nmodel: str = 'y'\ndevice = os.getcwd()")
    assert declared_parameters(nb) == {"model": "y", "device": ...}


def test_notebook_contract_errors_name_the_fix(nb_dir: Path, tmp_path: Path) -> None:
    write_notebook(nb_dir / "untagged.ipynb", None)
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["untagged"])
    write_notebook(nb_dir / "modelless.ipynb", "n_rows = 3")
    with pytest.raises(NotebookError, match="declares neither 'model' nor 'models'"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["modelless"])
    with pytest.raises(NotebookError, match="known: cross, demo, fails"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["nope"])
    with pytest.raises(NotebookError, match="pass --notebook-dir"):
        plan_runs(tmp_path / "missing", tmp_path / "book", ["a"])
    with pytest.raises(ParameterError, match="unknown profile"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["demo"], "huge")


def test_plan_passes_only_declared_parameters(nb_dir: Path, tmp_path: Path) -> None:
    book = tmp_path / "book"
    runs = plan_runs(nb_dir, book, ["model-a", "org/model-b"], ["demo", "no_rows", "cross"], "quick")
    by_key = {(r.name, r.model): r for r in runs}
    assert len(runs) == 5  # 2 models x 2 notebooks + 1 cross-model run
    demo = by_key["demo", "org/model-b"]
    assert demo.parameters == {
        "model": "org/model-b",
        "results_dir": str(book.resolve() / "runs" / chapter_name("org/model-b") / "demo_files"),
        "n_rows": PROFILES["quick"]["*"]["n_rows"],
    }
    assert set(by_key["no_rows", "model-a"].parameters) == {"model", "results_dir"}
    cross = by_key["cross", None]
    assert cross.parameters["models"] == ["model-a", "org/model-b"]
    assert cross.output == book.resolve() / "runs" / CROSS / "cross.ipynb"


def test_across_models_pages_need_two_models_unless_named(nb_dir: Path, tmp_path: Path) -> None:
    book = tmp_path / "book"
    cross_runs = lambda models, notebooks: [r for r in plan_runs(nb_dir, book, models, notebooks)  # noqa: E731
                                           if r.model is None]
    assert cross_runs(["model-a"], ["all"]) == []  # it would compare the model with itself
    assert len(cross_runs(["model-a", "model-b"], ["all"])) == 1
    assert len(cross_runs(["model-a"], ["cross"])) == 1  # asked for by name
    (book / "runs" / chapter_name("model-a")).mkdir(parents=True)
    assert not [p for p in book_problems(book, nb_dir) if "all models" in p]  # not missing
    (book / "runs" / chapter_name("model-b")).mkdir()
    assert [p for p in book_problems(book, nb_dir) if "all models" in p]


def test_command_line_parameters_override_the_profile(nb_dir: Path, tmp_path: Path) -> None:
    assert [parse_value(v) for v in ["200", "cuda", "[10, 11]", "None", "1e-3"]] == [
        200, "cuda", [10, 11], None, 0.001,
    ]  # fmt: skip
    runs = plan_runs(nb_dir, tmp_path / "book", ["a"], ["demo", "no_rows"], "quick", {"n_rows": 7})
    assert [r.parameters.get("n_rows") for r in runs] == [7, None]
    with pytest.raises(ParameterError, match="declares parameter.s. n_row;"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["demo"], "quick", {"n_row": 7})
    with pytest.raises(ParameterError, match="with --models"):
        plan_runs(nb_dir, tmp_path / "book", ["a"], ["demo"], "quick", {"model": "b"})


def test_chapter_names_are_readable_and_unique() -> None:
    assert chapter_name("smollm2-135m") == "smollm2-135m"
    assert re.fullmatch(r"EleutherAI_pythia-410m-[0-9a-f]{8}", chapter_name("EleutherAI/pythia-410m"))
    assert re.fullmatch(r"data_my_model.gguf-[0-9a-f]{8}", chapter_name("/data/my model.gguf"))  # no such file
    # a lossy slug alone would map these to one folder
    assert chapter_name("EleutherAI/pythia-410m") != chapter_name("EleutherAI_pythia-410m")


# --- executing --------------------------------------------------------------------------------


def injected_parameters(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    return next(c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))


@pytest.mark.slow
def test_only_declared_parameters_reach_the_kernel(nb_dir: Path, tmp_path: Path) -> None:
    run = one_run(nb_dir, tmp_path / "book", "no_rows")
    assert execute_run(run)
    injected = injected_parameters(run.output)
    assert 'model = "model-a"' in injected and "n_rows" not in injected


@pytest.mark.slow
def test_stamp_skips_unchanged_and_reruns_on_change(nb_dir: Path, tmp_path: Path) -> None:
    book = tmp_path / "book"
    run = one_run(nb_dir, book, "demo")
    assert execute_run(run)  # first time
    numbers = json.loads((run.results_dir / "key_numbers.json").read_text())
    assert numbers["numbers"]["kernel_prefix"] == sys.prefix  # the kernel is the runner's Python
    assert (run.results_dir / "squares.png").stat().st_size > 0
    assert not execute_run(run)  # unchanged: skipped
    assert execute_run(run, force=True)  # --force

    paper = one_run(nb_dir, book, "demo", profile="paper")  # another n_rows
    assert paper.output == run.output
    assert execute_run(paper)
    assert not execute_run(paper)

    nb = nbformat.read(nb_dir / "demo.ipynb", as_version=4)
    nb.cells.append(new_markdown_cell("An edit."))
    nbformat.write(nb, nb_dir / "demo.ipynb")
    assert execute_run(paper)  # notebook changed


@pytest.mark.slow
def test_failed_rerun_keeps_the_previous_page(nb_dir: Path, tmp_path: Path) -> None:
    book = tmp_path / "book"
    run = one_run(nb_dir, book, "demo")
    assert execute_run(run)
    before = {p: p.read_bytes() for p in [run.output, run.stamp, *run.results_dir.iterdir()]}
    shutil.copy(nb_dir / "fails.ipynb", nb_dir / "demo.ipynb")  # the notebook breaks
    with pytest.raises(NotebookFailed, match="(?s)'demo' for 'model-a'.*deliberate failure for model-a"):
        execute_run(run)
    assert {p: p.read_bytes() for p in before} == before  # the page, its stamp and figures are untouched
    assert stamped_digest(run) is not None  # and still a valid page of the book
    assert run.failed.exists()  # kept for debugging
    assert not list(run.output.parent.glob(".*"))  # no temporary files left


@pytest.mark.slow
def test_cli_exit_codes(nb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text("title: test\n")
    common = ["--notebook-dir", str(nb_dir), "--book-dir", str(book), "--controls", "none",
              "--models", "tiny-random-gpt2"]
    assert main(["run", *common, "--notebooks", "fails"]) == 1
    err = capsys.readouterr().err
    assert "notebook 'fails' for 'tiny-random-gpt2' failed in cell" in err and "RuntimeError" in err
    assert "the book was not rebuilt" in err and "fails.failed.ipynb" in err
    assert len(err.splitlines()) < 25  # the last frame, not IPython's whole traceback

    assert main(["run", *common, "--notebooks", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown notebook(s) nope") and "known: cross, demo" in err
    assert "Traceback (most recent" not in err


def test_jobs_must_be_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "--jobs", bad])
        assert exit_info.value.code == 2
        assert f"argument --jobs: must be a whole number >= 1 (1: one page at a time), got '{bad}'" in \
            capsys.readouterr().err


def test_book_sources_need_runs(tmp_path: Path) -> None:
    with pytest.raises(BookBuildError, match="run `python -m helpers run` first"):
        write_book_sources(tmp_path)
    with pytest.raises(BookBuildError, match="no _config.yml"):
        build_book(tmp_path)


# --- helpers.report ---------------------------------------------------------------------------


def test_lanes_run_chapters_together_and_the_cross_pages_last(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", "model = 'x'", "page = pages.SweepPage.setup('a', globals())")
    write_notebook(tmp_path / "b.ipynb", "model = 'x'", "page = pages.VoitaPage.setup('b', globals())")
    runs = [Run(tmp_path / f"{n}.ipynb", m, Path(f"/b/{m}/{n}.ipynb"), {}) for n in ("a", "b")
            for m in ("m1", "m2", "m3", None)]
    chapters, cross = [r for r in runs if r.model], [r for r in runs if r.model is None]
    assert lanes(runs, 1) == ([chapters], cross)
    queue, after = lanes(runs, 2)
    assert [[(r.model, r.name) for r in lane] for lane in queue] == [
        [("m1", "a")], [("m1", "b")], [("m2", "a")], [("m2", "b")], [("m3", "a")], [("m3", "b")]]  # a lane per family
    assert [(r.model, r.name) for r in after] == [(None, "a"), (None, "b")]


def test_a_page_s_family_is_its_setup_call_not_a_word_in_its_text(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", "model = 'x'", "# unlike a VoitaPage, this page reads the sweep\n"
                   "page = pages.SweepPage.setup('a', globals())")
    write_notebook(tmp_path / "b.ipynb", "model = 'x'", "logging.setup()  # not a page's setup\n"
                   "from helpers.pages import VoitaPage\n"
                   "page = VoitaPage.setup('b', globals())")
    assert page_family(tmp_path / "a.ipynb") == "stolfo"
    assert page_family(tmp_path / "b.ipynb") == "voita"


def test_one_model_runs_its_two_page_families_at_once(tmp_path: Path) -> None:
    notebooks = Path(__file__).parents[1] / "notebooks"
    runs = plan_runs(notebooks, tmp_path / "book", ["smollm2-135m"], ["all"])
    group, cross = lanes(runs, 2)
    assert [{page_family(r.notebook) for r in lane} for lane in group] == [{"stolfo"}, {"voita"}] and not cross
    assert sorted(r.name for lane in group for r in lane) == sorted(r.name for r in runs)
    assert [r.name for r in group[1]] == [r.name for r in runs if r.name.startswith("voita_")]  # plan order kept
    assert lanes(runs, 1) == ([runs], [])
    both = plan_runs(notebooks, tmp_path / "book", ["smollm2-135m", "gemma-3-270m"], ["all"])
    queue, cross = lanes(both, 2)
    assert [lane[0].model for lane in queue] == ["smollm2-135m"] * 2 + ["gemma-3-270m"] * 2 and len(cross) == 3


def test_a_runner_s_lanes_share_the_chapter_lock_another_process_waits(tmp_path: Path) -> None:
    probe = [sys.executable, "-c", "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)",
             str(tmp_path)]
    inside, release = threading.Barrier(3, timeout=10), threading.Event()  # two lanes and this test
    session = Session()

    def lane() -> None:
        with session.locked(tmp_path, "never printed"):
            inside.wait()  # both lanes hold the lock at once, or this times out
            release.wait(10)

    threads = [threading.Thread(target=lane) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert subprocess.run(probe).returncode == 3  # another process is kept out while the lanes hold it
    release.set()
    for thread in threads:
        thread.join()
    assert subprocess.run(probe).returncode == 0  # released when the last lane leaves
    assert session.folders[os.path.realpath(tmp_path)].holders == 0


def test_lanes_parse_no_python_source(nb_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """ast.parse is not thread-safe on CPython 3.11: two lanes computing their input digests at once
    (helpers.deps parses the modules' imports) raised "SystemError: AST constructor recursion depth
    mismatch" and one lane died. The runner parses in its main thread only, before the lanes start."""
    book = full_book(tmp_path / "book")
    real_parse, parsers = ast.parse, []

    def parse(*args, **kwargs):
        parsers.append(threading.current_thread())
        return real_parse(*args, **kwargs)

    def execute_into(run: Run, staging: Path, session: Session) -> None:  # no kernel: this test is about the runner
        threads.add(threading.current_thread())
        shutil.copy(run.notebook, staging / f"{run.name}.ipynb")
        (staging / f"{run.name}_files").mkdir()

    threads: set[threading.Thread] = set()
    monkeypatch.setattr(ast, "parse", parse)
    monkeypatch.setattr("helpers.runner.page.execute_into", execute_into)
    monkeypatch.setattr("helpers.runner.suite.write_book_sources", lambda book_dir: None)
    monkeypatch.setattr("helpers.runner.suite.build_book", lambda book_dir, **kw: book_dir / "index.html")
    models = ["tiny-random-gpt2", "tiny-random-llama"]
    run_suite(models, ["demo"], "quick", book, nb_dir, jobs=2)
    assert len(threads) == 2 and threading.main_thread() not in threads  # the pages ran in two lane threads
    assert parsers and set(parsers) == {threading.main_thread()}  # ...and every parse in the main thread
    monkeypatch.setattr(ast, "parse", real_parse)
    for run in plan_runs(nb_dir, book, models, ["demo"], "quick"):  # the stamps hold the true digests
        assert stamped_digest(run) == input_digest(run)


def test_a_free_worker_takes_the_next_lane_at_once(nb_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Three chapters, two workers: the third chapter starts as soon as the first one ends, while the
    second is still running (a runner of fixed groups once left a core idle until both had ended)."""
    book = full_book(tmp_path / "book")
    slow_running, third_started = threading.Event(), threading.Event()

    def execute_into(run: Run, staging: Path, session: Session) -> None:  # no kernel: the runner's order only
        if run.model == "tiny-random-llama":  # the second chapter: runs until the third has started
            slow_running.set()
            assert third_started.wait(30), "the third chapter waited for the second"
        elif run.model == "tiny-random-opt":
            assert slow_running.is_set()
            third_started.set()
        shutil.copy(run.notebook, staging / f"{run.name}.ipynb")
        (staging / f"{run.name}_files").mkdir()

    monkeypatch.setattr("helpers.runner.page.execute_into", execute_into)
    monkeypatch.setattr("helpers.runner.suite.write_book_sources", lambda book_dir: None)
    monkeypatch.setattr("helpers.runner.suite.build_book", lambda book_dir, **kw: book_dir / "index.html")
    run_suite(["tiny-random-gpt2", "tiny-random-llama", "tiny-random-opt"], ["demo"], "quick", book, nb_dir, jobs=2)
    assert third_started.is_set()


def test_page_families_share_no_cached_pass() -> None:
    """Two families run at once for one model, so neither may compute the other's cached passes."""
    passes = {"stolfo": ("SweepPage", "InductionPage", "run_sweep", "CrossPage"),
              "voita": ("VoitaPage", "neuron_stats", "ngram_detectors")}
    for notebook in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        family = page_family(notebook)
        other = "voita" if family == "stolfo" else "stolfo"
        code = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
                         if c["cell_type"] == "code")
        assert not [name for name in passes[other] if re.search(rf"\b{name}\b", code)], notebook.name
        assert family == ("voita" if notebook.name.startswith("voita_") else "stolfo"), notebook.name


def test_save_figure_and_key_numbers(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "res", "line")
    plt.close(fig)
    assert path == tmp_path / "res" / "line.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ParameterError, match="plain file name"):
        save_figure(fig, tmp_path, "a/b")

    out = write_key_numbers(tmp_path / "res", {"rho": 0.5}, notebook="fig2", model="m")
    assert json.loads(out.read_text())["numbers"] == {"rho": 0.5}
    with pytest.raises(ParameterError, match="dict with string keys"):
        write_key_numbers(tmp_path, {1: 2}, notebook="fig2", model="m")  # type: ignore[dict-item]


def test_pages_sort_by_figure_number():
    names = ["fig10_a.ipynb", "fig1_b.ipynb", "fig2c_x.ipynb", "fig2a_y.ipynb"]
    assert sorted(names, key=lambda n: natural_key(Path(n))) == \
        ["fig1_b.ipynb", "fig2a_y.ipynb", "fig2c_x.ipynb", "fig10_a.ipynb"]


def test_editing_a_module_reruns_only_the_pages_that_import_it(tmp_path: Path, monkeypatch) -> None:
    """Stamps hash the helpers modules a notebook imports (transitively), not the whole package."""
    from helpers import deps

    package = Path(shutil.copytree(deps.PACKAGE, tmp_path / "helpers"))
    monkeypatch.setattr(deps, "PACKAGE", package)
    notebooks = Path(__file__).parents[1] / "notebooks"
    runs = {r.notebook.stem: r for r in plan_runs(notebooks, tmp_path / "book", ["m"],
                                                        ["fig2a_norm_logitvar", "voita_fig1_dead_neurons"])}
    before = {name: input_digest(run) for name, run in runs.items()}
    with open(package / "voita_plots.py", "a") as fh:
        fh.write("\n# an edit\n")
    after = {name: input_digest(run) for name, run in runs.items()}
    assert after["fig2a_norm_logitvar"] == before["fig2a_norm_logitvar"]
    assert after["voita_fig1_dead_neurons"] != before["voita_fig1_dead_neurons"]
    with open(package / "models.py", "a") as fh:  # both load models
        fh.write("\n# an edit\n")
    again = {name: input_digest(run) for name, run in runs.items()}
    assert all(again[name] != after[name] for name in runs)


@pytest.mark.parametrize("module, reruns", [
    ("scorecard.py", set()),  # the claims and rules: the book is rebuilt, no page executes
    ("rules.py", set()),
    ("scorecard_page.py", set()),
    ("voita.py", "voita"),  # the Voita et al. pages only
    ("induction.py", "induction"),  # the pages of the induction case study only
])
def test_an_edit_reexecutes_only_the_pages_that_depend_on_it(tmp_path: Path, monkeypatch, module, reruns) -> None:
    """Narrow re-runs, on the real notebooks: a page's digest covers the modules its imports reach."""
    from helpers import deps

    package = Path(shutil.copytree(deps.PACKAGE, tmp_path / "helpers"))
    monkeypatch.setattr(deps, "PACKAGE", package)
    notebooks = Path(__file__).parents[1] / "notebooks"
    runs = plan_runs(notebooks, tmp_path / "book", ["m", "n"], ["all"])
    before = {run: input_digest(run) for run in runs}
    with open(package / module, "a") as fh:
        fh.write("\n# an edit\n")
    changed = {run.name for run in runs if input_digest(run) != before[run]}
    if reruns == "voita":
        reruns = {run.name for run in runs if page_family(run.notebook) == "voita"}
    elif reruns == "induction":
        reruns = {run.name for run in runs if "InductionPage" in run.notebook.read_text()}
        assert reruns == {"fig5a_induction_activity", "fig5b_clip_ablation", "fig5c_bos_ablation",
                          "fig10_frequency_neurons_induction", "fig11_synthetic_vs_natural"}
    assert changed == reruns


def test_kernels_share_the_cores_among_the_chapters_running_at_once(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    session = Session(cores=6)
    for active, expected in ((1, {}), (2, {"OMP_NUM_THREADS": "3"}), (4, {"OMP_NUM_THREADS": "1"}),
                             (8, {"OMP_NUM_THREADS": "1"})):
        session.set_lanes(active)
        assert session.kernel_env() == expected
    session.lane_done()  # 7 lanes left
    assert session.kernel_env() == {"OMP_NUM_THREADS": "1"}
    monkeypatch.setenv("OMP_NUM_THREADS", "5")  # the user's choice stands
    session.set_lanes(2)
    assert session.kernel_env() == {}


@pytest.mark.slow
def test_pages_carry_their_provenance(nb_dir: Path, tmp_path: Path) -> None:
    run = one_run(nb_dir, tmp_path / "book", "demo")
    assert execute_run(run)
    nb = nbformat.read(run.output, as_version=4)
    cell = nb.cells[1]  # under the title
    assert "provenance" in cell.metadata["tags"]
    assert nb.cells[0].source.startswith("# Demo figure")
    from helpers import provenance

    assert f"helpers {helpers.__version__}" in cell.source and provenance.device() in cell.source
    assert re.search(r"executed \d{4}-\d\d-\d\d \d\d:\d\d .* in \d+ s", cell.source) and "profile `quick`" in cell.source


def test_provenance_records_models_rows_and_tables(tmp_path: Path, monkeypatch) -> None:
    from helpers import cache, corpus, models, provenance, tiny

    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path))
    provenance.reset()
    model = models.load_model("tiny-random-opt")
    corpus.make_rows(tiny.byte_tokenizer(), ["abc " * 200], bos_id=0, eos_id=0, seq_len=16, n_rows=5)
    cache.cached_tables("demo", {"corpus": "x", "n_rows": 5}, lambda: {"t": pd.DataFrame({"a": [1]})})
    prov = provenance.snapshot()
    assert prov["models"] == [{"name": "tiny-random-opt", "source": "tiny", "fingerprint": models.weights_fingerprint(model),
                               "dtype": "float32", "device": "cpu"}]
    assert prov["rows"] == [{"rows": 5, "seq_len": 16}]
    assert prov["tables"][0]["name"] == "demo" and prov["tables"][0]["cached"] is False
    text = provenance.markdown(prov, wall_s=75)
    assert models.weights_fingerprint(model) in text and "5 × 16 tokens (80 tokens)" in text and "1 min 15 s" in text


@pytest.mark.slow
def test_two_chapters_execute_at_once_and_build_one_book(nb_dir: Path, tmp_path: Path) -> None:
    book = full_book(tmp_path / "book")
    models = ["tiny-random-gpt2", "tiny-random-llama"]  # names the runner resolves; the demo pages load nothing
    # A page that takes longer on one model: when the other chapter's page ends first, its end must
    # not stop this one's kernel (it once did: every page after the first then died at start).
    write_notebook(nb_dir / "slow.ipynb", 'model = "x"\nresults_dir = "."',
                   "import os, time\nfrom helpers.report import write_key_numbers\n"
                   "time.sleep(8 if model == 'tiny-random-llama' else 0)\n"
                   "write_key_numbers(results_dir, {'threads': os.environ.get('OMP_NUM_THREADS')}, "
                   "notebook='slow', model=model)")
    index = run_suite(models, ["slow", "demo", "cross"], "quick", book, nb_dir, jobs=2)
    assert index.is_file()
    for model in models:
        (chapter,) = [d for d in (book / "runs").iterdir() if (d / CHAPTER_FILE).exists()
                      and json.loads((d / CHAPTER_FILE).read_text())["model"] == model]
        numbers = json.loads((chapter / "demo_files" / "key_numbers.json").read_text())["numbers"]
        assert numbers["sum_of_squares"] == sum(i * i for i in range(64))  # the quick profile's n_rows
        # both kernels started while both chapters ran: each got half the cores
        cores = len(os.sched_getaffinity(0))
        threads = os.environ.get("OMP_NUM_THREADS", str(max(1, cores // 2)))  # the user's setting is inherited
        assert json.loads((chapter / "slow_files" / "key_numbers.json").read_text())["numbers"]["threads"] == threads
    assert (book / "runs" / CROSS / "cross.ipynb").exists()


@pytest.mark.slow
def test_one_model_s_two_families_execute_at_once(nb_dir: Path, tmp_path: Path) -> None:
    """With one model, a Stolfo and a Voita page run side by side, each kernel with half the cores
    (the chapter lock once made the second lane wait for the first: no time was saved)."""
    book = full_book(tmp_path / "book")
    code = ("import os, time\nfrom helpers.report import write_key_numbers\nstart = time.time()\ntime.sleep(6)\n"
            "write_key_numbers(results_dir, {'start': start, 'end': time.time(), "
            "'threads': os.environ.get('OMP_NUM_THREADS'), 'cwd': os.getcwd()}, notebook='page', model=model)")
    voita_setup = "if False:  # a Voita page by its setup call\n    voita_pages.VoitaPage.setup('x', globals())"
    for name, family in (("sweepish", "# a Stolfo page"), ("voita_x", voita_setup)):
        write_notebook(nb_dir / f"{name}.ipynb", 'model = "x"\nresults_dir = "."', f"{family}\n" + code)
    here = os.getcwd()
    run_suite(["tiny-random-gpt2"], ["sweepish", "voita_x"], "quick", book, nb_dir, jobs=2)
    assert os.getcwd() == here  # papermill's cwd= once chdir'ed the runner, and two lanes left it in nb_dir
    (chapter,) = [d for d in (book / "runs").iterdir() if (d / CHAPTER_FILE).exists()]
    a, b = (json.loads((chapter / f"{n}_files" / "key_numbers.json").read_text())["numbers"]
            for n in ("sweepish", "voita_x"))
    assert a["start"] < b["end"] and b["start"] < a["end"]  # the two pages overlapped in time
    assert a["cwd"] == b["cwd"] == str(nb_dir)  # each kernel runs in the notebooks' folder
    cores = len(os.sched_getaffinity(0))
    assert a["threads"] == b["threads"] == os.environ.get("OMP_NUM_THREADS", str(max(1, cores // 2)))
