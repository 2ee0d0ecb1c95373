"""The real figure notebooks: executed by the suite runner on two tiny models (a LayerNorm GPT-2 and
a sandwich-norm Gemma 3), built into a book with Sphinx warnings as errors, and checked as a reader
sees them; plus the numbers of a few pages against independent computations."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
import torch

from helpers import profiles, scorecard, stats
from helpers.models import load_model
from helpers.runner.plan import CHAPTER_FILE, CROSS
from helpers.runner.suite import run_suite
from helpers.stats import Estimate

REPO = Path(__file__).parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TINY = ["tiny-random-gpt2", "tiny-random-gemma3"]
# Sizes that keep each run to seconds on a tiny model (the runner passes each only to the notebooks that declare it).
SMALL = {"n_rows": 8, "k": 3, "n_seqs": 6, "n_ablate_seqs": 3, "repeat_len": 20, "n_bos_seqs": 2, "half": 6,
         "n_score_seqs": 4, "stats_rows": 6, "stats_seq_len": 64}


def parameters_cell(notebook: Path) -> dict:
    """The literal assignments of the notebook's ``parameters`` cell."""
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def test_notebook_defaults_are_the_quick_profile():
    """A standalone papermill run of a page is the book's page: its sizes are the quick profile's."""
    for notebook in NOTEBOOKS:
        declared = parameters_cell(notebook)
        quick = profiles.sizes("quick", notebook.stem)
        assert {k: declared[k] for k in quick if k in declared} == {k: v for k, v in quick.items() if k in declared}, \
            notebook.stem


def test_every_scorecard_claim_names_a_notebook_and_there_are_enough():
    assert {c.page for c in scorecard.CLAIMS} <= {p.stem for p in NOTEBOOKS}
    assert len(scorecard.CLAIMS) >= 35 and len({c.id for c in scorecard.CLAIMS}) == len(scorecard.CLAIMS)


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every notebook executed by the runner for both tiny models (and once across them), and the
    book built from them with Sphinx warnings as errors."""
    book = tmp_path_factory.mktemp("tiny-book") / "book"
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "runs", "_toc.yml", "intro.md",
                                                                        "scorecard.md"))
    run_suite(TINY, ["all"], "quick", book, REPO / "notebooks", strict=True, overrides=dict(SMALL))
    return book


def key_numbers(book: Path, chapter: str, page: str) -> dict:
    return json.loads((book / "runs" / chapter / f"{page}_files" / "key_numbers.json").read_text())["numbers"]


def chapters(book: Path) -> dict[str, Path]:
    return {json.loads((d / CHAPTER_FILE).read_text())["model"]: d
            for d in (book / "runs").iterdir() if (d / CHAPTER_FILE).exists()}


def test_every_page_ran_and_the_scorecard_reads_its_numbers(tiny_book: Path):
    found = chapters(tiny_book)
    assert sorted(found) == sorted(TINY)
    per_model = [nb for nb in NOTEBOOKS if "models" not in parameters_cell(nb)]
    for model, directory in found.items():
        for notebook in per_model:
            assert (directory / f"{notebook.stem}.ipynb").exists(), (model, notebook.stem)
            assert list((directory / f"{notebook.stem}_files").glob("*.png")), (model, notebook.stem)
        numbers = scorecard.read_numbers(directory)
        for claim in scorecard.CLAIMS:
            cross = tiny_book / "runs" / CROSS
            result = scorecard.evaluate(claim, {**scorecard.read_numbers(cross), **numbers}, model)
            assert result.shown != "not measured", (model, claim.id)
    card = (tiny_book / "scorecard.md").read_text()
    assert card.count("<th scope=\"row\"><a href=\"#claim-") == len(scorecard.CLAIMS)  # one matrix row per claim


def _estimates(node: object, where: str = "") -> list[tuple[str, Estimate]]:
    """Every estimate in a key-numbers tree (cross-model pages nest them per model)."""
    if stats.is_estimate(node):
        return [(where, Estimate.from_json(node))]
    if isinstance(node, dict):
        return [found for key, value in node.items() for found in _estimates(value, f"{where}/{key}")]
    return []


def test_no_interval_in_the_book_excludes_its_estimate(tiny_book: Path):
    found = [(f"{path.parent.parent.name}/{path.parent.name}{where}", est)
             for path in sorted((tiny_book / "runs").glob("*/*_files/key_numbers.json"))
             for where, est in _estimates(json.loads(path.read_text())["numbers"])]
    assert len(found) > 100  # every page's numbers were read
    bad = [(where, est.value, est.low, est.high) for where, est in found if not stats.contains(est)]
    assert not bad, bad


def _html(book: Path, page: Path) -> str:
    return (book / "_build" / "html" / page.relative_to(book).with_suffix(".html")).read_text()


def test_rendered_pages_read_like_the_paper(tiny_book: Path):
    """No plumbing above the figure: the parameters, the injected parameters and the setup call are
    not in the page; the page opens with the claim; every figure has a caption; the Methods links resolve
    (the strict build already failed on an unknown reference)."""
    for directory in [*chapters(tiny_book).values(), tiny_book / "runs" / CROSS]:
        for notebook in NOTEBOOKS:
            page = directory / f"{notebook.stem}.ipynb"
            if not page.exists():
                continue
            html = _html(tiny_book, page)
            main = html[html.index('<main'):]
            for plumbing in ("results_dir", ".setup(", "import pages"):
                assert plumbing not in main, (notebook.stem, plumbing)
            first_paragraph = re.search(r"<p>(.*?)</p>", main, re.S).group(1)
            assert "Provenance" in first_paragraph or "Stolfo" in first_paragraph or "Voita" in first_paragraph
            assert "The claim" in main or "claim" in main.lower(), notebook.stem
            figures = main.count('class="repro-figure')
            assert figures >= 1 and main.count("<figcaption>") == figures, notebook.stem
            if any(c.page == notebook.stem for c in scorecard.CLAIMS):
                assert "What this model shows" in main or "What the models show" in main, notebook.stem
            links = re.findall(r'href="([^"#]*methods_[a-z]+\.html)#?[^"]*"', main)
            assert links, f"{notebook.stem}: no link to a Methods page"
    intro = (tiny_book / "_build" / "html" / "intro.html").read_text()
    assert "What reproduced" in intro and "tiny-random-gemma3" in intro


# ---------------------------------------------------------------------------------------------
# Numbers against independent computations


def run(notebook: Path, tmp_path: Path, **parameters) -> dict:
    results = tmp_path / "results"
    pm.execute_notebook(str(notebook), str(tmp_path / notebook.name), kernel_name="python3",
                        parameters={"results_dir": str(results), **parameters}, progress_bar=False)
    return json.loads((results / "key_numbers.json").read_text())


def page(stem: str) -> Path:
    return next(p for p in NOTEBOOKS if p.stem.startswith(stem))


def test_fig2d_spectrum_numbers(tiny_book: Path):
    numbers = key_numbers(tiny_book, next(d.name for m, d in chapters(tiny_book).items() if m == "tiny-random-gpt2"),
                          "fig2d_unembed_null_space")
    s = np.linalg.svd(load_model("tiny-random-gpt2").W_U.detach().double().numpy(), compute_uv=False)
    k = numbers["null_space_k"]
    # The helper takes S from the float64 Gram matrix W_U W_Uᵀ, which resolves a singular value only
    # to about √eps · s_max; tiny-random-gpt2's smallest one is that small (a null direction of W_U).
    resolution = 4 * np.sqrt(np.finfo(np.float64).eps) * s[0] / np.median(s)
    assert numbers["null_space_over_median"]["value"] == pytest.approx(s[-k:].mean() / np.median(s),
                                                                       rel=1e-5, abs=resolution)
    assert numbers["null_space_over_median"]["ci"] == [numbers["null_space_over_median"]["value"]] * 2  # exact


def test_wrongly_typed_parameter_fails_with_a_hint(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        run(page("fig2a"), tmp_path, model="tiny-random-gpt2", k="3")
    assert "ParameterError" in str(err.value) and "parameter k" in str(err.value) and "-p k 3" in str(err.value)


def test_unknown_model_fails_with_the_list_of_names(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        run(page("fig2a"), tmp_path, model="gpt-17")
    assert "UnknownModelError" in str(err.value) and "smollm2-135m" in str(err.value)


def test_voita_fig1_dead_neurons_match_plain_hooks(tmp_path):
    """Dead-neuron percentages per layer of tiny OPT (ReLU) against fc2-input hooks on the HF model, and
    the split estimate against dead shares recounted by hand on each split of the rows."""
    from helpers import tiny, voita

    numbers = run(page("voita_fig1"), tmp_path, model="tiny-random-opt", stats_rows=6, stats_seq_len=64)["numbers"]
    rows = voita.stats_rows(load_model("tiny-random-opt"), "wikipedia-sample", 6, 64, 42)
    hf, _ = tiny.build("opt")
    seen = []
    for layer in hf.model.decoder.layers:
        layer.fc2.register_forward_pre_hook(lambda m, args: seen.append((args[0] > 0).reshape(6, 64, -1)))
    with torch.no_grad():
        hf(rows)
    dead_pct = [100 * float((~s.any(0).any(0)).float().mean()) for s in seen]
    assert numbers["relu"] and numbers["threshold"] == 0.0
    np.testing.assert_allclose(numbers["dead_pct_per_layer"], dead_pct, atol=1e-3)
    freq_alive = [float(s.float().mean((0, 1))[s.any(0).any(0)].mean()) for s in seen]
    np.testing.assert_allclose(numbers["mean_freq_alive_per_layer"], freq_alive, rtol=1e-4)
    half = len(seen) // 2
    dead_first = sum(int((~s.any(0).any(0)).sum()) for s in seen[:half])
    assert numbers["dead_first_half_all_tokens"] == dead_first
    # the verdict's estimate: the mean over 4 disjoint splits of the rows (6 rows: 4 splits of 1 row) of the
    # first half's dead share, each split recounted here from the hooks
    per_split = [100 * float(np.mean([(~s[i].any(0)).float().mean() for s in seen[:half]])) for i in range(4)]
    assert numbers["dead_pct_first_half"]["value"] == pytest.approx(np.mean(per_split))
    assert numbers["verdict_tokens"] == 64 and "4 disjoint splits of 1 rows" in numbers["dead_pct_first_half"]["unit"]
    low, high = numbers["dead_pct_first_half"]["ci"]
    assert low <= numbers["dead_pct_first_half"]["value"] <= high
