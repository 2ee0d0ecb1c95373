"""The book's scorecard: each claim of the papers that a page measures, per model run.

A :class:`Claim` reads the key numbers one page wrote (``runs/<model>/<page>_files/key_numbers.json``)
and returns the measured value and whether it meets the claim's stated criterion, or ``None``
when the claim does not apply (the page did not run, or the quantity does not exist for that model).
The criteria are the suite's reading of the papers (PAPER_SPEC A8, B4), written next to each claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from helpers.io import read_json
from helpers.report import KEY_NUMBERS_FILE

Measure = Callable[[dict[str, Any]], "tuple[Any, bool] | None"]


@dataclass(frozen=True)
class Claim:
    paper: str     # "Stolfo et al. 2024" | "Voita et al. 2023"
    text: str      # the claim and the criterion used here
    page: str      # notebook that measures it
    measure: Measure


def _ratio_entropy(n: dict) -> tuple[float, bool]:
    ratio = n["entropy_second_half"] / n["entropy_first_half"]
    return ratio, ratio < 1


def _te_over_de(n: dict) -> tuple[str, bool] | None:
    ratios = {k: v for k, v in n["te_over_de"].items() if k != "Random"}
    if not ratios or "Random" not in n["te_over_de"]:
        return None
    best, random = max(ratios.values()), n["te_over_de"]["Random"]
    return f"{best:.2f} vs random {random:.2f}", best > 1.2 and random < 1.2


def _paper_ranks(n: dict) -> tuple[str, bool] | None:
    ranks = n.get("paper_neurons_rho_rank") or {}
    if not ranks:
        return None
    return ", ".join(f"{k}: {v}" for k, v in ranks.items()), max(ranks.values()) <= 10


def _dead_first_half(n: dict) -> tuple[str, bool] | None:
    if n["dead_total"] == 0:
        return None
    return f"{n['dead_first_half']} first half, {n['dead_second_half']} second", n["dead_second_half"] == 0


def _logit_var(n: dict) -> tuple[float, bool] | None:
    ratios = sorted(n.get("top_rho_logit_var_over_median") or [])
    if not ratios:
        return None
    median = ratios[len(ratios) // 2]
    return median, median < 1


def _clip_reduction(n: dict) -> tuple[float, bool] | None:
    reductions = n.get("max_entropy_reduction") or {}
    if not reductions:
        return None
    best = max(reductions.values())
    return best, best > 0.05


def _bos_change(n: dict) -> tuple[float, bool] | None:
    change = (n.get("activation_change_second_half") or {}).get("Ind. head 1")
    return None if change is None else (change, change < 0)


def _optional(key: str, passes: Callable[[Any], bool]) -> Measure:
    def measure(n: dict) -> tuple[Any, bool] | None:
        value = n.get(key)
        return None if value is None else (value, passes(value))
    return measure


CLAIMS: list[Claim] = [
    Claim("Stolfo et al. 2024", "W_U has an effective null space: median singular value ≥ 2× the mean of the last k",
          "fig2d_unembed_null_space", _optional("median_over_null_space_mean", lambda v: v >= 2)),
    Claim("Stolfo et al. 2024", "The top-ρ neurons have a LogitVar below the layer median (median ratio < 1)",
          "fig2a_norm_logitvar", _logit_var),
    Claim("Stolfo et al. 2024", "The paper's entropy neurons rank in the top 10 by ρ", "fig2e_rho_vs_ln_fraction",
          _paper_ranks),
    Claim("Stolfo et al. 2024", "Most of a high-ρ neuron's effect goes through the final norm: median 1 − DE/TE ≥ 0.5",
          "fig2e_rho_vs_ln_fraction", _optional("ln_fraction_top_rho_median", lambda v: v >= 0.5)),
    Claim("Stolfo et al. 2024", "High-ρ neurons change the entropy more than the other neurons (ratio > 1)",
          "fig2e_rho_vs_ln_fraction", _optional("abs_dentropy_top_rho_over_rest", lambda v: v > 1)),
    Claim("Stolfo et al. 2024", "Entropy neurons exist by the suite's rule (≥ 1)", "fig1_prediction_vs_entropy",
          lambda n: (len(n["entropy_neurons"]), len(n["entropy_neurons"]) >= 1)),
    Claim("Stolfo et al. 2024", "Entropy neurons' total effect on the loss exceeds the norm-frozen one (> 1.2), "
          "random neurons' does not", "fig2c_total_vs_direct", _te_over_de),
    Claim("Stolfo et al. 2024", "KL(P_freq ‖ P_model) falls as entropy rises (Spearman < 0)", "fig3a_kl_vs_entropy",
          _optional("spearman", lambda v: v < 0)),
    Claim("Stolfo et al. 2024", "Token-frequency neurons exist by the suite's rule (≥ 1)", "fig3b_frequency_neurons",
          lambda n: (len(n["token_frequency_neurons"]), len(n["token_frequency_neurons"]) >= 1)),
    Claim("Stolfo et al. 2024", "Entropy falls on the repeated half of induction sequences (ratio < 1)",
          "fig5a_induction_activity", _ratio_entropy),
    Claim("Stolfo et al. 2024", "Clip mean-ablating an entropy neuron lowers the entropy on induction "
          "(paper: by up to 70 %; here: by > 5 %)", "fig5b_clip_ablation", _clip_reduction),
    Claim("Stolfo et al. 2024", "BOS-ablating the top induction head lowers the entropy neuron's activation (< 0)",
          "fig5c_bos_ablation", _bos_change),
    Claim("Voita et al. 2023", "Dead neurons sit only in the first half of the layers", "voita_fig1_dead_neurons",
          _dead_first_half),
    Claim("Voita et al. 2023", "Layers with more dead neurons have rarer-firing alive neurons (Spearman < 0)",
          "voita_fig1_dead_neurons", _optional("spearman_dead_pct_vs_alive_freq", lambda v: v < 0)),
    Claim("Voita et al. 2023", "Some first-half neurons are covered by 1–5 tokens (> 0 %)", "voita_fig2_covering_counts",
          _optional("pct_covered_by_1_to_5", lambda v: v > 0)),
    Claim("Voita et al. 2023", "Token-detecting neurons exist (≥ 1)", "voita_fig3_token_detectors",
          _optional("token_detectors_total", lambda v: v >= 1)),
    Claim("Voita et al. 2023", "Each layer mostly detects tokens no earlier layer detects (share ≥ 0.5)",
          "voita_fig4_new_tokens", _optional("share_new_overall", lambda v: v >= 0.5)),
    Claim("Voita et al. 2023", "Over 80 % of token detectors suppress their own triggers", "voita_fig5_suppression",
          _optional("suppression_share", lambda v: v > 0.8)),
    Claim("Voita et al. 2023", "Positional neurons exist (I(act; pos) > 0.05)", "voita_fig8_positional_neurons",
          _optional("positional_total", lambda v: v >= 1)),
    Claim("Voita et al. 2023", "The second layer has strong oscillatory neurons (OPT-125m: 10)",
          "voita_fig9_oscillatory_ranges", _optional("strong_oscillatory", lambda v: v >= 1)),
]


def read_numbers(chapter_dir: Path) -> dict[str, dict[str, Any]]:
    """{page: key numbers} for the pages of one chapter directory that wrote them (an unreadable
    file counts as not written: the runner reports the page as damaged)."""
    found = {}
    for path in sorted(chapter_dir.glob(f"*_files/{KEY_NUMBERS_FILE}")):
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("numbers"), dict):
            found[path.parent.name[: -len("_files")]] = data["numbers"]
    return found


def evaluate(claim: Claim, numbers: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(value text, status) with status "pass", "fail" or "n/a"."""
    if claim.page not in numbers:
        return "not run", "n/a"
    try:
        result = claim.measure(numbers[claim.page])
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return "not measured", "n/a"
    if result is None:
        return "does not apply", "n/a"
    value, passed = result
    return _fmt(value), "pass" if passed else "fail"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


STATUS_MARK = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "n/a"}


def markdown(chapters: dict[str, Path], claims: list[Claim], link_base: Path) -> str:
    """The scorecard page: one row per claim, one column per model chapter (name -> directory)."""
    numbers = {model: read_numbers(directory) for model, directory in chapters.items()}
    lines = ["# Scorecard", "",
             "Each claim of the papers that a page measures, with the criterion this suite uses, and for each "
             "model the measured value: **pass** when it meets the criterion, **fail** when not, **n/a** when the "
             "page did not run for the model or the quantity does not exist for it. Each cell links to the page "
             "that measured it. A fail on a registry model says that the effect does not show in that model at "
             "these sizes, not that the paper is wrong.", ""]
    header = ["paper", "claim", *[f"`{m}`" for m in chapters]]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    counts = {m: {"pass": 0, "fail": 0, "n/a": 0} for m in chapters}
    for claim in claims:
        cells = []
        for model, directory in chapters.items():
            value, status = evaluate(claim, numbers[model])
            counts[model][status] += 1
            text = f"{value} {STATUS_MARK[status]}"
            page = directory / f"{claim.page}.ipynb"
            cells.append(f"[{text}]({page.relative_to(link_base).as_posix()})" if page.exists() else text)
        lines.append(f"| {claim.paper} | {claim.text} (`{claim.page}`) | " + " | ".join(cells) + " |")
    lines += ["", "**Totals:** " + "; ".join(
        f"`{m}`: {c['pass']} pass, {c['fail']} fail, {c['n/a']} n/a" for m, c in counts.items()), ""]
    return "\n".join(lines)
