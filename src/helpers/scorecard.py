"""The book's scorecard: each checkable claim of the papers that a page measures, per model.

A :class:`Claim` holds the claim in the paper's words, the value the paper reports and on which
model, the page that measures it, and its rule: a function of the page's key numbers
(``runs/<model>/<page>_files/key_numbers.json``) that returns our value with its 95 % interval and
a verdict. The verdicts use the interval, never the point alone (book: Methods, "Intervals and
verdicts"):

- **reproduced**: the whole interval is on the claim's side of the rule's threshold;
- **partly**: the point estimate is, but the interval reaches across;
- **not reproduced**: the point estimate is not on the claim's side;
- **n/a**: the page did not run for this model, the claim is about something this model does
  not have (e.g. a neuron the paper names in another model), the number has no usable interval, or
  the claim is about the page's followed neuron and no neuron passes the selection rule (the page's
  stand-in is not judged).

A two-part claim (:func:`both`) is reproduced iff both parts are and partly iff both are at least
partly. Where a bare sign would hold for a network that learned nothing, the rule asks for a margin
or compares with a reference measured on the same page (:func:`beyond`: e.g. the page's random
neurons).

Null twins (:mod:`helpers.twins`) are the controls: a claim whose rule gives reproduced or partly
on a twin **does not discriminate** (:func:`discriminates`), and no real model scores better than
partly on it (:func:`cap`). The paper's own control claims (``Claim.control``) are exempt; claims
that follow from a selection rule by construction (``Claim.circular``) are shown but not counted.

A rule is never weaker than the claim: where the paper gives a number, the rule compares with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from helpers import twins
from helpers.io import read_json
from helpers.report import KEY_NUMBERS_FILE
from helpers.rules import (
    NA,
    NOT,
    PARTLY,
    REPRODUCED,
    VERDICTS,
    Judge,
    Result,
    above,
    applies_if,
    below,
    between,
    beyond,
    both,
    paper_models_only,
    per_model,
    sized,
)

STOLFO, VOITA = "Stolfo et al. 2024", "Voita et al. 2023"
@dataclass(frozen=True)
class Claim:
    id: str  # the id in the claims audit (S-nn: Stolfo, V-nn: Voita), with a letter for parts
    paper: str
    where: str  # abstract, figure caption or section
    quote: str  # the claim in the paper's words
    reported: str  # what the paper reports, and on which model
    page: str  # the notebook that measures it
    rule: str  # how the verdict is formed
    judge: Judge  # (the page's key numbers, model name) -> Result, or None for n/a
    follows: str = ""  # "entropy" / "frequency": the claim is about the page's followed neuron of that kind
    control: bool = False  # the paper's own control (e.g. random neurons): expected to pass on a twin, exempt
    circular: str = ""  # non-empty: why the claim follows from a selection rule by construction (not counted)


# ---------------------------------------------------------------------------------------------
# The claims

_G2S, _P410, _L7 = "GPT-2 Small", "Pythia 410M", "LLaMA2 7B"

CLAIMS: list[Claim] = [
    # --- entropy neurons: weights ---------------------------------------------------------------
    Claim("S-01", STOLFO, "Abstract; Fig 2a",
          "Entropy neurons are characterized by an unusually high weight norm.",
          f"{_G2S}: the named entropy neurons lie far right of the layer's ‖w_out‖ distribution (Fig 2a)",
          "fig2a_norm_logitvar",
          "median robust z of ‖w_out‖ (distance from the layer's median neuron in robust SDs) over the entropy "
          "neurons (the paper's list, else the rule's, selected on the selection rows) > 3, an outlier as the "
          "selection rules judge 'unusual' (the page's random neurons: ≈ 0); interval over those neurons; n/a "
          "when no neuron is selected",
          above("entropy_norm_z", 3)),
    Claim("S-09", STOLFO, "Fig 2a", "Entropy neurons (red) have high norm and low logit variance.",
          f"{_G2S}: LogitVar of the named neurons far below the bulk (log scale)", "fig2a_norm_logitvar",
          "median robust z of log LogitVar over the entropy neurons < −3 (the page's random neurons: ≈ 0); interval "
          "over those neurons; n/a when no neuron is selected",
          below("entropy_logit_var_z", -3),
          circular="LogitVar is the variance over the vocabulary of cos(w_out, W_U column); the rules select a "
                   "w_out unusually deep in W_U's null space (z(ρ) ≥ 3) whose effect goes mostly through the norm "
                   "(1 − DE/TE ≥ 0.5, a small direct effect on the logits), so its cosines with every column are "
                   "near zero and a low LogitVar follows from the selection"),
    Claim("S-11", STOLFO, "Fig 2d",
          "Singular values of the unembedding W_U: an effective null space of the last few directions.",
          f"{_G2S}: a sharp drop over the last ~12 of 768 singular values", "fig2d_unembed_null_space",
          "mean of the last k singular values / median singular value < 0.1 (a drop by an order of "
          "magnitude; exact, from the weights), k from the spectrum's gap: the largest log-gap among the last 5 % "
          "of singular values",
          below("null_space_over_median", 0.1)),
    Claim("S-12", STOLFO, "Fig 2d",
          "Cosine similarity between neuron output weights and singular vectors of W_U: entropy neurons write "
          "into the bottom singular directions.",
          f"{_G2S}: the entropy neurons' cosines concentrate on the last ~12 directions", "fig2d_unembed_null_space",
          "share of the followed entropy neuron's squared norm in the null space (k from the spectrum's gap) over "
          "the 99th percentile of the largest share among d_mlp random unit directions (what the layer's most "
          "extreme neuron reaches by chance) > 1 (exact)",
          above("null_sq_share_over_random_max", 1), follows="entropy"),
    # --- entropy neurons: the sweep -------------------------------------------------------------
    Claim("S-07", STOLFO, "Fig 1",
          "We identify a set of neurons whose effect depends on LayerNorm (red points) … which affect the model's "
          "confidence … with minimal impact on the prediction.",
          f"{_L7}: a separate set of red neurons (Fig 1); {_G2S}: six named (11.584, 11.2378, …)",
          "fig1_prediction_vs_entropy",
          "number of entropy neurons by the selection rule on the selection rows ≥ 1 (interval: the rule "
          "re-applied to resampled selection rows)",
          above("n_entropy_neurons", 0.5)),
    Claim("S-08", STOLFO, "Fig 1", "… with minimal impact on the prediction.",
          f"{_L7}: the top entropy neuron |ΔH| ≈ 0.037 at ≈ 0.2 % prediction change, normal neurons |ΔH| ≲ 0.02 at "
          "up to 1.4 % (≈ 10× more entropy change per prediction change)", "fig1_prediction_vs_entropy",
          "median over the entropy neurons of |ΔH| per prediction change over the layer's median neuron's, on the "
          "judgement rows, > 2 (the rule asks > 1 on the selection rows); interval over judgement rows and neurons",
          above("entropy_per_prediction_selected", 2)),
    Claim("S-02", STOLFO, "Abstract; Fig 1",
          "Entropy neurons … influence the final LayerNorm scale to effectively scale down the logits.",
          f"{_L7}: 1 − DE/TE of the red neurons up to ≈ 0.8 (Fig 1 colour)", "fig2c_total_vs_direct",
          "median 1 − DE/TE over the entropy neurons, on the judgement rows, > 0.5 (most of their effect on the "
          "loss goes through the norm, on rows the selection did not see); interval over judgement rows and neurons",
          above("ln_fraction_selected", 0.5)),
    Claim("S-10a", STOLFO, "Fig 2c",
          "Comparison of total and direct effects on model loss for entropy neurons and randomly selected neurons.",
          f"{_G2S}: total effect of the entropy neurons several times their direct effect", "fig2c_total_vs_direct",
          "median over the entropy neurons of the per-token median |ΔL| total / direct, on the judgement rows, > 2; "
          "interval over judgement rows and neurons",
          above("te_over_de_selected", 2)),
    Claim("S-10b", STOLFO, "Fig 2c", "… and randomly selected neurons (total ≈ direct).",
          f"{_G2S}: the random neurons' boxes of total and direct effect alike", "fig2c_total_vs_direct",
          "median per-token |ΔL| total / direct of the pooled random neurons within [0.8, 1.25] (the paper's "
          "control: it holds on a null twin too)",
          between("te_over_de_random", 0.8, 1.25), control=True),
    Claim("S-13", STOLFO, "Fig 2e",
          "Entropy neurons (red) show significant LayerNorm-mediated effects and high projection onto the null "
          "space (ρ).", f"{_G2S}: ρ (k = 12) and 1 − DE/TE rise together; the red neurons top both",
          "fig2e_rho_vs_ln_fraction",
          "the tail: median 1 − DE/TE of the 10 highest-ρ neurons minus the rest's median > 0.05 (interval over "
          "the evaluated rows; the highest-ρ neurons are chosen by their weights)",
          above("ln_fraction_top_rho_minus_rest", 0.05)),
    Claim("S-14", STOLFO, "Fig 2f",
          "Relationship between ρ and the LayerNorm-mediated effect in LLaMA2 7B … Color represents absolute "
          "change in entropy upon ablation.", f"{_L7}: the high-ρ neurons are the ones with large |ΔH|",
          "fig2e_rho_vs_ln_fraction",
          "median |ΔH| of the 10 highest-ρ neurons / median |ΔH| of the rest > 2 (interval over the evaluated rows)",
          above("abs_dentropy_top_rho_over_rest", 2)),
    # --- token-frequency neurons ----------------------------------------------------------------
    Claim("S-17", STOLFO, "Fig 3a", "D_KL(P_freq‖P_model) and Entropy are correlated negatively.",
          f"{_P410}: a negative correlation over C4 tokens", "fig3a_kl_vs_entropy",
          "Spearman correlation of per-token entropy and D_KL(P_freq ‖ P_model) < 0 (any broad output gives this) "
          "and mean D_KL to P_freq / mean D_KL to P_freq with permuted token ids < 0.8 (the output is closer to "
          "*these* tokens' frequencies); intervals over rows; n/a when the counts determine < 90 % of P_freq "
          "(the add-one floor holds the rest)",
          applies_if("p_freq_counted_mass", 0.9, "too few tokens counted for this vocabulary",
                     both(below("spearman_kl_entropy", 0), below("kl_true_over_permuted", 0.8)))),
    Claim("S-18", STOLFO, "Fig 3b",
          "Token frequency neurons (in green), with high effect on D_KL(P_freq‖P_model), significantly mediated by "
          "the token frequency direction.", f"{_P410}: five named (23.417, 23.87, 23.730, 23.2017, 23.3412)",
          "fig3b_frequency_neurons",
          "number of token-frequency neurons by the selection rule on the selection rows ≥ 1 (interval: the rule "
          "on resampled selection rows)",
          above("n_frequency_neurons", 0.5)),
    Claim("S-05", STOLFO, "Abstract",
          "Token frequency neurons … boost or suppress each token's logit proportionally to its log frequency.",
          f"{_P410}: (no number given)", "fig3b_frequency_neurons",
          "share of the token-frequency neurons whose |cos(W_Uᵀ w_out, log P_freq − mean)| > 0.5 (logit effect "
          "follows log frequency; random neurons: the page shows their median) is > 0.5 (most of them); exact "
          "cosines, interval over the neurons",
          above("share_frequency_cos_strong", 0.5)),
    Claim("S-19", STOLFO, "Fig 3c",
          "Box plots showing substantial difference in total vs. direct effect in token frequency neurons.",
          f"{_P410}: total effect well above the frequency-direct effect", "fig3c_total_vs_freq_direct",
          "median over the token-frequency neurons of the per-token median |ΔL| total / frequency-direct, on the "
          "judgement rows, > 4/3 (at least a quarter of the effect along u_freq: the selection's share and the low "
          "end of the paper's neurons, ≈ 0.3–0.6; random neurons ≈ 1); interval over judgement rows and neurons",
          above("te_over_de_freq_selected", 4 / 3)),
    # --- single neurons at work -------------------------------------------------------------------
    Claim("S-20", STOLFO, "Fig 4a",
          "Change in loss after ablation of entropy neuron 11.2378 … Color indicates reciprocal rank (RR): "
          "the loss falls where the model is right and rises where it is wrong (hedging).",
          f"{_G2S}, 11.2378", "fig4ab_entropy_neuron_example",
          "median over the entropy neurons of the mean ΔL on judgement-row tokens where the neuron is above its "
          "mean: < 0 where RR = 1 and > 0 where RR < 0.5 (reproduced if both intervals, over judgement rows and "
          "neurons, are on their side)",
          both(below("dloss_correct_selected", 0), above("dloss_wrong_selected", 0))),
    Claim("S-37", STOLFO, "Fig 7a; §3.3",
          "Ablation decreases entropy (the entropy neuron adds norm along the null space and so raises entropy).",
          f"{_L7} 31.3228 (Fig 7a); {_G2S} 11.2378", "fig4ab_entropy_neuron_example",
          "mean ΔH on tokens where the neuron is above its mean < −2 × |the same for the page's random neuron with "
          "the largest|", beyond("dentropy_active", "dentropy_active_random", 2, sign=-1), follows="entropy"),
    Claim("S-22a", STOLFO, "Fig 4c",
          "Change in entropy … on correct tokens (RR = 1) post ablation of neuron 23.417 … The neuron increases "
          "entropy.", f"{_P410}, 23.417", "fig4c_frequency_neuron_example",
          "share of the token-frequency neurons whose ablation lowers the mean entropy (ΔH < 0) on judgement-row "
          "RR = 1 tokens where the neuron is above its mean > 0.5 (most act as 23.417); interval over judgement "
          "rows and neurons",
          above("share_frequency_raising_entropy", 0.5)),
    Claim("S-22b", STOLFO, "Fig 4c; Abstract",
          "… and aligns the model's output with the token frequency distribution.", f"{_P410}, 23.417",
          "fig4c_frequency_neuron_example",
          "share of the token-frequency neurons whose ablation raises the mean D_KL(P_freq ‖ P_model) on the same "
          "tokens (moves the output away from P_freq) > 0.5; interval over judgement rows and neurons",
          above("share_frequency_towards_pfreq", 0.5)),
    # --- induction ----------------------------------------------------------------------------------
    Claim("S-23a", STOLFO, "Fig 5a",
          "Activations, entropy, and loss across duplicated 200-token input sequences: entropy falls on the repeat.",
          f"{_G2S}: entropy drops sharply after the repeat starts", "fig5a_induction_activity",
          "mean entropy on the repeated half / on the first half < 0.5 (falls by at least half; interval over "
          "sequences)",
          below("entropy_ratio_repeat", 0.5)),
    Claim("S-23b", STOLFO, "Fig 5a", "… and the loss falls on the repeat.", f"{_G2S}",
          "fig5a_induction_activity", "mean loss on the repeated half / on the first half < 0.5 (falls by at least half)",
          below("loss_ratio_repeat", 0.5)),
    Claim("S-24", STOLFO, "Fig 5a", "The entropy neuron 11.2378 rises on the repeated half (hedging).",
          f"{_G2S}, 11.2378", "fig5a_induction_activity",
          "the followed entropy neuron's mean activation change (repeated − first half) × ‖w_out‖ over the 95th "
          "percentile of |change × ‖w_out‖| among the layer's neurons > 1 (it rises, and more than 95 % of the "
          "layer moves; interval over sequences)",
          above("weighted_change_over_layer", 1), follows="entropy"),
    Claim("S-25", STOLFO, "Fig 5b", "The effect of clip mean-ablation of specific entropy neurons. Neuron 11.2378 "
          "shows the most significant impact.", f"{_G2S}, 11.2378 among the entropy neurons", "fig5b_clip_ablation",
          "11.2378's largest entropy reduction minus the next entropy neuron's > 0 (paper's models only)",
          paper_models_only(("gpt2-small",), above("followed_lead_over_next", 0))),
    Claim("S-26", STOLFO, "Fig 5b", "… with up to a 70% reduction in entropy.", f"{_G2S}, 11.2378: 70 %",
          "fig5b_clip_ablation",
          "largest mean entropy reduction over the repeat's positions under clip mean-ablation of the followed "
          "neuron, over 2 × the largest of the page's random neurons' (interval over sequences)",
          beyond("max_entropy_reduction_followed", "max_entropy_reduction_random", 2), follows="entropy"),
    Claim("S-27a", STOLFO, "Fig 5c",
          "Upon the ablation of three induction heads in GPT-2 Small, the activation of entropy neuron 11.2378 "
          "decreases substantially.", f"{_G2S}: L5H1, L5H5, L6H9 ablated together", "fig5c_bos_ablation",
          "share of the neuron's repeat-induced rise removed by BOS-ablating the top-3 induction heads together "
          "> 0.5 (substantially: at least half) and > 2 × the share the strongest baseline removes",
          both(above("rise_removed_three_heads", 0.5), beyond("rise_removed_three_heads", "rise_removed_baselines_max", 2)),
          follows="entropy"),
    Claim("S-27b", STOLFO, "Fig 5c", "… while other heads leave it near the original (baselines).",
          f"{_G2S}: 6 single heads and 6 sets of non-induction heads", "fig5c_bos_ablation",
          "|share of the rise removed| by the baseline heads removing most (chosen on all sequences) < 0.2, and "
          "the top-3 induction heads remove > 2 × that (where nothing drives the neuron, every share is small)",
          both(below("rise_removed_baselines_max", 0.2),
               beyond("rise_removed_three_heads", "rise_removed_baselines_max", 2))),
    Claim("S-28", STOLFO, "Fig 5c (authors' code)", "Induction heads: attention score > 0.7 on repeated random "
          "tokens; three of them drive the entropy neuron.", f"{_G2S}: L5H1, L5H5, L6H9, L7H10, L7H2 above 0.7",
          "fig5c_bos_ablation", "the mean induction score of the third-ranked head > 0.7 (at least three induction "
          "heads; interval over random sequences)",
          above("third_induction_score", 0.7)),
    Claim("S-35", STOLFO, "Fig 10c",
          "Ablation tends to increase loss for low initial loss tokens and decrease it for high initial loss "
          "tokens.", f"{_P410}, 23.417", "fig10_frequency_neurons_induction",
          "mean ΔL of the followed token-frequency neuron (clip mean-ablation on the repeats) > 2 × the page's "
          "random neurons' on the lowest clean-loss quartile and < −2 × theirs on the highest (any ablation raises "
          "low losses and lowers high ones a little: regression to the mean)",
          both(beyond("dloss_low_clean", "dloss_low_clean_random", 2),
               beyond("dloss_high_clean", "dloss_high_clean_random", 2, sign=-1)), follows="frequency"),
    Claim("S-36", STOLFO, "Fig 11",
          "Among final-layer neurons, entropy neurons exhibit the largest activation change for both synthetic and "
          "natural induction settings.", f"{_G2S} and {_L7}", "fig11_synthetic_vs_natural",
          "the best rank of an entropy neuron by |Δ activation × ‖w_out‖| among all final-layer neurons is ≤ 3 in "
          "both settings (interval over sequences / repeats, of the rank of the set's best neuron)",
          both(below("entropy_rank_synthetic", 3.5), below("entropy_rank_natural", 3.5)), follows="entropy"),
    # --- across models ------------------------------------------------------------------------------
    Claim("S-04", STOLFO, "Abstract; Fig 7",
          "We show the presence of entropy neurons across a range of models, up to 7 billion parameters.",
          "GPT-2, Pythia, Phi-2, Gemma 2B, LLaMA2 7B", "fig7_entropy_across_models",
          "number of entropy neurons by the rule (selection rows) ≥ 1 in this model (interval over those rows)",
          per_model(above("n_entropy_neurons", 0.5))),
    Claim("S-32", STOLFO, "Fig 8", "Token frequency neurons in GPT-2 Small and Pythia 1B.",
          "GPT-2 Small, Pythia 1B", "fig8_frequency_across_models",
          "number of token-frequency neurons by the rule (selection rows) ≥ 1 in this model (interval over those rows)",
          per_model(above("n_frequency_neurons", 0.5))),
    # --- Voita et al. -----------------------------------------------------------------------------
    Claim("V-04", VOITA, "§3, Fig 1a",
          "While the first half contains a solid proportion of dead neurons, the second half is fully 'alive'.",
          "every OPT model but 350m", "voita_fig1_dead_neurons",
          "dead neurons > 5 % of the first half's neurons ('a solid proportion') and < 0.1 % of the second "
          "half's ('fully alive', allowing a few rare firings missed at this size); dead = the FFN "
          "nonlinearity's input never > 0 (Methods); mean of 4 disjoint splits of the rows, t interval",
          sized(both(above("dead_pct_first_half", 5), below("dead_pct_second_half", 0.1)))),
    Claim("V-05", VOITA, "§3, Fig 1",
          "Layers with most dead neurons are the ones where alive neurons activate most rarely.", "OPT family",
          "voita_fig1_dead_neurons", "Spearman correlation over layers of % dead and the alive neurons' mean "
          "frequency < −0.5 (a clear monotone relation, not a sign), in splits where ≥ 3 layers have a dead "
          "neuron (else n/a: no pattern to correlate); mean of 4 disjoint splits, t interval",
          sized(below("spearman_dead_alive_freq", -0.5))),
    Claim("V-07", VOITA, "§4.1, Fig 2",
          "The largest models have a substantial proportion of neurons that are covered by as few as 1 to 5 tokens.",
          "OPT 13b-66b", "voita_fig2_covering_counts",
          "share of the first-half neurons with ≥ 20 counted firings (minimum support) that 1-5 tokens cover "
          "> 10 %; mean of 4 disjoint splits, t interval", sized(above("pct_cover_1_to_5", 10))),
    Claim("V-08", VOITA, "§4.2, Fig 3a",
          "There are indeed a lot of token-detecting neurons … the 66b model has overall 5351 token detectors.",
          "OPT-66b: 5,351 detectors, 0.23 % of its neurons", "voita_fig3_token_detectors",
          "share of the model's neurons that are token detectors with ≥ 20 firings on their covered tokens (each "
          "seen ≥ 3 times) > "
          "0.23 % (66b's share); mean of 4 disjoint splits, t interval",
          sized(above("token_detector_pct", 0.23))),
    Claim("V-19", VOITA, "App A.2, Fig 14a", "Trigram-detecting neurons: covered by 1-50 trigrams, 95 % / 95 %.",
          "all OPT models", "voita_fig3_token_detectors",
          "trigram detectors with ≥ 20 firings on their covered trigrams (each seen ≥ 3 times): mean over 4 "
          "disjoint splits > 0.5 "
          "(at least one per split), t interval", sized(above("trigram_detectors", 0.5))),
    Claim("V-13", VOITA, "§4.3, Fig 4",
          "In each following layer, detected tokens mostly differ from all the tokens covered by the layers below.",
          "all OPT models", "voita_fig4_new_tokens",
          "mean over the layers after the first detecting one (at least 3, else n/a) of (tokens new overall / "
          "tokens detected) > 0.5, detectors with minimum support (interval over those layers)",
          sized(above("share_new_following_layers", 0.5), "n_tokens")),
    Claim("V-14", VOITA, "§4.4, Fig 5", "The top suppressed concepts are … exactly the tokens triggering this neuron.",
          "OPT-66b examples", "voita_fig5_suppression",
          "share of token detectors (with minimum support; at least 5, else n/a) with a trigger among their 10 "
          "most suppressed tokens > 0.5 (interval over detectors)",
          sized(above("share_trigger_in_bottom10", 0.5), "n_tokens")),
    Claim("V-15", VOITA, "§4.4",
          "For over 80% of token-detecting neurons their corresponding updates point in the negative direction from "
          "the triggering them tokens.", "all OPT models: > 80 %", "voita_fig5_suppression",
          "share of token detectors (with minimum support; at least 5, else n/a) whose output row projects "
          "negatively on their triggers' unembeddings > 0.8 (interval over detectors)",
          sized(above("suppression_share", 0.8), "n_tokens")),
    Claim("V-22", VOITA, "§5.1", "We pick neurons with I(act, pos) > 0.05: positional neurons.",
          "all OPT models", "voita_fig8_positional_neurons",
          "strong positional neurons (Miller-Madow-corrected I(act; pos) > 0.05 and ≥ 90 % of positions at an "
          "extreme: position decides the firing) ≥ 1: mean over disjoint splits of ≥ 16 rows each (4 at the quick "
          "profile; fewer rows make fr(pos) hit 0 or 1 by chance) > 0.5, t interval. Weak ones are "
          "not enough: an untrained twin has hundreds (the first positions of causal attention are special in "
          "any transformer)", sized(above("strong_positional_neurons", 0.5))),
    Claim("V-24", VOITA, "§5.3, Fig 8",
          "Oscillatory is the most frequent type of positional neurons for models smaller than 6.7b.",
          "OPT 125m-2.7b", "voita_fig8_positional_neurons",
          "share of oscillatory minus the share of the next most frequent type, among the strong positional "
          "neurons (at least 5, else n/a: a weak curve near fr = 0.5 wobbles across the on/off levels by "
          "sampling noise and looks oscillatory), > 0 (interval over those neurons)",
          sized(above("oscillatory_lead", 0), "n_tokens")),
    Claim("V-27", VOITA, "§5.3, Fig 9",
          "The 10 strongly oscillatory neurons in the second layer of the 125m model … altogether cover all "
          "positions such that none of these neurons is redundant.", "OPT-125m, layer 1: 10 neurons",
          "voita_fig9_oscillatory_ranges",
          "strong oscillatory neurons in layer 1 ≥ 10 and their ranges cover ≥ 95 % of positions (means over "
          "disjoint splits of ≥ 16 rows each, t intervals)",
          sized(both(above("strong_oscillatory", 9.5), above("positions_covered", 0.95)))),
    Claim("V-30", VOITA, "§3; §5.1 (data)",
          "Many neurons never activate on our diverse data, i.e. they can be seen as 'dead' (data of several domains).",
          "Pile subsets, Reddit, code", "voita_domains",
          "neurons dead on both domains > 1 % of all neurons ('many'; split i of each domain, mean of 4, t "
          "interval) and of the neurons dead on the first domain (at least 5, else n/a) > 50 % dead on the "
          "second too", sized(both(above("dead_pct_both_domains", 1), above("dead_shared_share", 0.5)))),
    Claim("V-31", VOITA, "§5.1 (data)", "Positional neurons found on Wikipedia, DM Mathematics and code alike.",
          "Wikipedia, DM Mathematics, Codeparrot", "voita_domains",
          "share of the strong positional neurons of the first domain (at least 5, else n/a; weak ones appear in "
          "untrained twins, see V-22) that are positional on the second too > 0.5",
          sized(above("strong_positional_shared_share", 0.5), "n_tokens")),
]


# ---------------------------------------------------------------------------------------------
# Reading and rendering


def read_numbers(chapter_dir: Path) -> dict[str, dict[str, Any]]:
    """{page: key numbers} for the pages of one chapter directory that wrote them (an unreadable
    file counts as not written: the runner reports the page as damaged)."""
    found = {}
    for path in sorted(chapter_dir.glob(f"*_files/{KEY_NUMBERS_FILE}")):
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("numbers"), dict):
            found[path.parent.name[: -len("_files")]] = data["numbers"]
    return found


NO_NEURON = "no neuron passes the rule: nothing to judge"


def evaluate(claim: Claim, numbers: dict[str, dict[str, Any]], model: str) -> Result:
    """The claim's result for one model; n/a when its page did not run, the claim does not apply, or
    the claim is about the followed neuron and the page follows a stand-in (no neuron passes the rule)."""
    if claim.page not in numbers:
        return Result("not run", NA)
    suffix = {"entropy": "", "frequency": "_frequency"}.get(claim.follows)
    if suffix is not None and numbers[claim.page].get(f"followed{suffix}_kind") == "stand-in":
        return Result(NO_NEURON, NA)
    try:
        result = claim.judge(numbers[claim.page], model)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError):
        return Result("not measured", NA)
    return Result("does not apply", NA) if result is None else result


def results(chapters: dict[str, Path], cross_dir: Path | None, claims: list[Claim]) -> dict[str, list[Result]]:
    """{model: [result per claim]} for the models of the book (cross-model pages read from ``cross_dir``)."""
    cross = read_numbers(cross_dir) if cross_dir is not None and cross_dir.is_dir() else {}
    out = {}
    for model, directory in chapters.items():
        numbers = {**cross, **read_numbers(directory)}
        out[model] = [evaluate(c, numbers, model) for c in claims]
    return out


# --- the twin test ----------------------------------------------------------------------------


def discriminates(results_by_model: Mapping[str, Result]) -> bool:
    """Whether a claim's rule fails on every null twin among the models: False as soon as one twin
    (a network that learned nothing) gives reproduced or partly."""
    return not passing_twins(results_by_model)


def passing_twins(results_by_model: Mapping[str, Result]) -> list[str]:
    """The null twins on which the rule gives reproduced or partly."""
    return [m for m, r in results_by_model.items() if twins.is_twin(m) and r.verdict in (REPRODUCED, PARTLY)]


def cap(result: Result, passing: list[str]) -> Result:
    """A real model's result on a claim that does not discriminate: reproduced becomes partly, and
    the note says which twin the rule also passes on; any other verdict is kept."""
    if result.verdict != REPRODUCED or not passing:
        return result
    return Result(result.shown, PARTLY, f"reproduced by the rule, capped to partly: it also passes on {', '.join(passing)}")


@dataclass(frozen=True)
class Row:
    """One claim across the book's models, the twin test applied."""

    claim: Claim
    results: dict[str, Result]  # model -> result (real models capped where the claim does not discriminate)
    discriminates: bool  # False: a twin gives reproduced or partly (never False for a control claim)
    passing: tuple[str, ...] = ()  # the twins it passes on


def ordered(models: list[str]) -> list[str]:
    """The real models in their order, then the null twins (the controls)."""
    return [m for m in models if not twins.is_twin(m)] + [m for m in models if twins.is_twin(m)]


def judged(claims: list[Claim], per_model: dict[str, list[Result]]) -> list[Row]:
    """The scorecard's rows: each claim's results per model (real models first, then twins), capped by
    :func:`cap` where the claim is not a control and :func:`discriminates` is False."""
    models = ordered(list(per_model))
    rows = []
    for i, claim in enumerate(claims):
        mine = {m: per_model[m][i] for m in models}
        passing = [] if claim.control else passing_twins(mine)
        capped = {m: r if twins.is_twin(m) else cap(r, passing) for m, r in mine.items()}
        rows.append(Row(claim, capped, not passing, tuple(passing)))
    return rows


CIRCULAR, CONTROL = "circular", "control"
BUCKETS = (*VERDICTS, CIRCULAR, CONTROL)  # CIRCULAR and CONTROL are shown, not counted


def bucket(row: Row, model: str) -> str:
    """Where ``model``'s result on the row counts: its (capped) verdict, or CIRCULAR (a claim that
    restates its selection), or CONTROL (the paper's control claim on a twin, expected to pass)."""
    if row.claim.circular:
        return CIRCULAR
    if row.claim.control and twins.is_twin(model):
        return CONTROL
    return row.results[model].verdict


def totals(rows: list[Row]) -> dict[str, dict[str, dict[str, int]]]:
    """{model: {paper: {bucket: count}}}, buckets as in :func:`bucket`."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for row in rows:
        for model in row.results:
            counts = out.setdefault(model, {}).setdefault(row.claim.paper, dict.fromkeys(BUCKETS, 0))
            counts[bucket(row, model)] += 1
    return out


# --- marks ------------------------------------------------------------------------------------

# Shapes from common text fonts (DejaVu, Liberation, Noto Sans), distinct in greyscale; no emoji.
SHAPE = {REPRODUCED: "●", PARTLY: "◐", NOT: "○", NA: "–"}
CODE = {REPRODUCED: "R", PARTLY: "P", NOT: "N", NA: "n/a"}
MARK = {v: f"{SHAPE[v]} {v}" for v in VERDICTS}  # plain text: "● reproduced"


def css_class(verdict: str) -> str:
    """``v-reproduced``, ``v-partly``, ``v-not-reproduced``, ``v-na`` (book/_static/verdicts.css)."""
    return "v-" + verdict.replace("n/a", "na").replace(" ", "-")


def badge(verdict: str) -> str:
    """Inline HTML for a verdict: its shape and word, coloured by CSS (readable without it)."""
    return f'<span class="verdict {css_class(verdict)}">{MARK[verdict]}</span>'


_MD_SPECIAL = "\\`*_[]|<>${}#~&"


def md_escape(text: str) -> str:
    """``text`` as literal inline Markdown: every character Markdown, MyST or dollar-math would read
    (``|``, ``*``, ``_``, ``[``, ``$``, ``<`` …) backslash-escaped."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def page_verdicts(notebook: str, numbers: dict[str, Any], models: str | list[str] = "",
                  claims: list[Claim] | None = None) -> str:
    """Markdown for a page: what each model shows for each claim (``claims``, default the papers')
    the page measures."""
    mine = [c for c in (CLAIMS if claims is None else claims) if c.page == notebook]
    if not mine:
        return ""
    models = [models] if isinstance(models, str) else list(models)
    lines = ["**What this model shows**" if len(models) == 1 else "**What the models show**",
             "(verdict rules: Methods, *Intervals and verdicts*):", ""]
    if [m for m in models if twins.is_twin(m)]:
        lines[-1:] = ["", "Null twins learned nothing: reproduced or partly on a twin means the rule does not "
                      "discriminate (the paper's controls aside; the scorecard caps those claims).", ""]
    for claim in mine:
        tags = "".join([" **Control** (the paper's own; expected to hold on a null twin)." if claim.control else "",
                        f" **Circular, not counted**: {md_escape(claim.circular)}." if claim.circular else ""])
        lines.append(f"- *{md_escape(claim.quote)}* ({md_escape(claim.paper)}, {md_escape(claim.where)}; paper: "
                     f"{md_escape(claim.reported)}). Rule: {md_escape(claim.rule)}.{tags}")
        for model in models:
            result = evaluate(claim, {notebook: numbers}, model)
            who = f"`{model}`: " if len(models) > 1 else ""
            lines.append(f"  - {who}{badge(result.verdict)}: {md_escape(result.shown)}")
    return "\n".join(lines)
