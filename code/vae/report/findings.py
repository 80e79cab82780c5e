"""The report's conclusions as data: each finding is computed from the runs and written to
findings.json (beside manifest.json), so that the pages choose their words from its numbers and a retraining
that reverses a result reverses the sentence.

Every finding is `{"claim": ..., "verdict": ..., "numbers": {...}, "spread": {...}, "evidence": [...]}`:
`claim` says in words what is measured, `verdict` is the short key the pages branch on, `numbers`
the values, `spread` the yardstick the verdict was judged against, and `evidence` the runs and
files it comes from.

The yardstick: the sweeps share one centre (the sweep MLP at latent 16, β = 1), trained with
`Profile.seeds` seeds; the sample standard deviation (n − 1) of each quantity over those seeds is
its spread. A difference is called a difference only when it exceeds `MARGIN_SDS` spreads; a
comparison of single runs elsewhere (the two ConvVAEs, the architectures) borrows this spread,
and says so (`"borrowed": true`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import figures
from ..plumbing import artifacts
from ..evaluation import ACTIVE_KL_NATS
from ..training import stopped
from .comparisons import Comparison, mean_sd, summary_row, sweep_rows
from .plan import describe
from .quoted import QUOTED, quoted_record

MARGIN_SDS = 2.0          # a difference must exceed twice the seed standard deviation to be called one
KNN_NEIGHBOURS = 5
KNN_FOLDS = 5
# Fashion-MNIST's classes by kind: what the 2-D latent space is read for (seed report 002).
FOOTWEAR = ("Sandal", "Sneaker", "Ankle boot")
CLOTHING = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt")


def compare(delta: float, sd: float | None) -> str:
    """"higher", "lower" or "same": the sign of `delta`, or "same" when it is within MARGIN_SDS
    spreads; "unmeasured" when there is no spread to judge it against."""
    if sd is None or not math.isfinite(sd):
        return "unmeasured"
    if abs(delta) <= MARGIN_SDS * sd:
        return "same"
    return "higher" if delta > 0 else "lower"


def finding(claim: str, verdict: str, numbers: dict[str, Any], spread: dict[str, Any] | None = None,
            evidence: Sequence[str] = ()) -> dict[str, Any]:
    return {"claim": claim, "verdict": verdict, "numbers": numbers, "spread": spread or {},
            "evidence": list(evidence)}


# ---------------------------------------------------------------------------------------------
# The yardstick

def yardstick(c: Comparison) -> dict[str, Any]:
    """The spread of every quantity over the seeds of the sweeps' centre."""
    centre = c.by_value("beta").get(1.0, [])
    rows = [summary_row(o) for o in centre]
    numbers: dict[str, Any] = {"seeds": len(rows), "latent_dim": c.profile.sweep_latent_dim, "beta": 1.0,
                               "model": describe(centre[0].spec.config) if centre else None}
    for key in ("test_elbo", "test_recon", "test_kl", "val_elbo", "active_units"):
        numbers[key], numbers[f"{key}_sd"] = mean_sd([r[key] for r in rows]) if rows else (None, None)
    return finding("the seed-to-seed spread at the sweeps' centre, the yardstick of every comparison",
                   "measured" if len(rows) > 1 else "unmeasured", numbers,
                   {"kind": "sample standard deviation over seeds (n − 1)", "margin_sds": MARGIN_SDS},
                   [r["run"] for r in rows])


def sd_of(ruler: dict[str, Any], key: str) -> float | None:
    return ruler["numbers"].get(f"{key}_sd")


# ---------------------------------------------------------------------------------------------
# The sweeps

def beta_best(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    rows = sweep_rows(c, "beta")
    ranked = sorted(rows, key=lambda r: r["test_elbo"])
    best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    margin = second["test_elbo"] - best["test_elbo"] if second else None
    sd = sd_of(ruler, "test_elbo")
    verdict = "unmeasured" if margin is None else ("clear" if compare(margin, sd) == "higher" else
                                                   "within_spread" if sd is not None else "unmeasured")
    return finding("the β whose model has the lowest test −ELBO (the tightest bound)", verdict, {
        "best_beta": best["value"], "best_elbo": best["test_elbo"], "runner_up_beta": second and second["value"],
        "runner_up_elbo": second and second["test_elbo"], "margin": margin, "best_is_beta_1": best["value"] == 1.0,
        "elbo_by_beta": {f"{r['value']:g}": r["test_elbo"] for r in rows}},
        {"test_elbo_sd": sd, "margin_sds": MARGIN_SDS}, [run for r in rows for run in r["runs"]])


def beta_trade(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    """What each step up in β buys: KL saved, reconstruction lost, units dropped."""
    rows = sweep_rows(c, "beta")
    steps = []
    for low, high in zip(rows, rows[1:]):
        kl_saved, recon_lost = low["test_kl"] - high["test_kl"], high["test_recon"] - low["test_recon"]
        steps.append({"from": low["value"], "to": high["value"], "kl_saved": kl_saved, "recon_lost": recon_lost,
                      "elbo_change": high["test_elbo"] - low["test_elbo"],
                      "kl_saved_per_recon_lost": kl_saved / recon_lost if recon_lost > 0 else None,
                      "units_dropped": low["active_units"] - high["active_units"],
                      "kl": compare(-kl_saved, sd_of(ruler, "test_kl")),
                      "recon": compare(recon_lost, sd_of(ruler, "test_recon"))})
    by_value = {r["value"]: r for r in rows}
    top = rows[-1] if rows else None
    one = by_value.get(1.0)
    summary: dict[str, Any] = {}
    if top is not None and one is not None and top is not one:
        summary = {"beta": top["value"], "kl_saved": one["test_kl"] - top["test_kl"],
                   "recon_lost": top["test_recon"] - one["test_recon"],
                   "elbo_cost": top["test_elbo"] - one["test_elbo"],
                   "active_units_at_1": one["active_units"], "active_units_at_top": top["active_units"],
                   "units_dropped": one["active_units"] - top["active_units"],
                   "latent_dim": c.profile.sweep_latent_dim,
                   "elbo": compare(top["test_elbo"] - one["test_elbo"], sd_of(ruler, "test_elbo"))}
    verdict = "trades" if steps and all(s["kl_saved"] > 0 and s["recon_lost"] > 0 for s in steps) else "mixed"
    return finding("each step up in β saves KL and loses reconstruction; what the largest β buys against β = 1",
                   verdict, {"steps": steps, "largest_beta": summary},
                   {"test_kl_sd": sd_of(ruler, "test_kl"), "test_recon_sd": sd_of(ruler, "test_recon"),
                    "margin_sds": MARGIN_SDS}, [run for r in rows for run in r["runs"]])


def latent_size(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    rows = sweep_rows(c, "latent_dim")
    sd = sd_of(ruler, "test_elbo")
    best = min(rows, key=lambda r: r["test_elbo"])
    enough = next(r for r in rows if compare(r["test_elbo"] - best["test_elbo"], sd) in ("same", "unmeasured")
                  and (sd is not None or r is best))
    # verdict: "lower" when the larger latent size has the lower (better) −ELBO beyond the spread.
    steps = [{"from": a["value"], "to": b["value"], "gain": a["test_elbo"] - b["test_elbo"],
              "verdict": compare(b["test_elbo"] - a["test_elbo"], sd)} for a, b in zip(rows, rows[1:])]
    largest = rows[-1]
    return finding("the smallest latent size whose bound is within the spread of the best one",
                   "saturates" if enough is not largest else "still_improving", {
                       "best_latent_dim": best["value"], "best_elbo": best["test_elbo"],
                       "enough_latent_dim": enough["value"], "enough_elbo": enough["test_elbo"], "steps": steps,
                       "largest_latent_dim": largest["value"], "largest_active_units": largest["active_units"],
                       "active_units": {str(r["value"]): r["active_units"] for r in rows}},
                   {"test_elbo_sd": sd, "margin_sds": MARGIN_SDS}, [run for r in rows for run in r["runs"]])


def collapsed_units(c: Comparison) -> dict[str, Any]:
    """Units whose KL is at most the one threshold, in every run with more than two latent units."""
    runs = []
    for outcome in c.outcomes.values():
        kl = outcome.metrics.get("kl_per_dimension", [])
        if len(kl) > 2:
            runs.append({"run": outcome.spec.name, "model": describe(outcome.spec.config), "latent_dim": len(kl),
                         "active": outcome.metrics["active_units"],
                         "collapsed": len(kl) - outcome.metrics["active_units"],
                         "largest_collapsed_kl": max((k for k in kl if k <= ACTIVE_KL_NATS), default=None),
                         "smallest_active_kl": min((k for k in kl if k > ACTIVE_KL_NATS), default=None)})
    most = max(runs, key=lambda r: r["collapsed"] / r["latent_dim"], default=None)
    return finding(f"units whose mean KL is at most {ACTIVE_KL_NATS:g} nats are collapsed (posterior = prior)",
                   "some_collapse" if most and most["collapsed"] else "none_collapse",
                   {"threshold_nats": ACTIVE_KL_NATS, "runs": runs, "most_collapsed": most}, {},
                   [r["run"] for r in runs])


# ---------------------------------------------------------------------------------------------
# Training length and convergence

def diminishing_epoch(values: Sequence[float], sd: float | None) -> int | None:
    """The first epoch after which the best validation −ELBO still to come improves on the best so
    far by less than `sd` (1-based); None without a spread."""
    if sd is None or not values:
        return None
    best_final = min(values)
    best_so_far = np.minimum.accumulate(np.asarray(values, dtype=float))
    return int(np.argmax(best_so_far - best_final < sd)) + 1


def training_length(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    long_run = c.one("training_length")
    if long_run is None:
        return finding("the epoch after which gains are smaller than the seed spread", "unmeasured", {})
    values = [row["val_elbo"] for row in long_run.history]
    sd = sd_of(ruler, "val_elbo")
    epoch = diminishing_epoch(values, sd)
    config = long_run.spec.config
    rule = dataclasses.replace(config, stop_window=c.profile.stop_window, stop_min_gain=c.profile.stop_min_gain)
    rule_epoch = next((e for e in range(1, len(long_run.history) + 1) if stopped(long_run.history[:e], rule)), None)
    snaps = {e: s["test"] for e, s in sorted(long_run.snapshots.items())}
    epochs = sorted(snaps)
    # verdict: "lower" when the later epoch has the lower (better) test −ELBO beyond the spread.
    gains = [{"from": a, "to": b, "test_elbo_gain": snaps[a]["elbo"] - snaps[b]["elbo"],
              "verdict": compare(snaps[b]["elbo"] - snaps[a]["elbo"], sd_of(ruler, "test_elbo"))}
             for a, b in zip(epochs, epochs[1:])]
    best_epoch = int(np.argmin(values)) + 1
    cap = c.profile.sweep_epoch_cap
    best_by_cap = min(values[:cap]) if len(values) >= cap else None
    return finding("the epoch after which the validation −ELBO still to come gains less than the seed spread",
                   "found" if epoch is not None else "unmeasured", {
                       "run": long_run.spec.name, "model": describe(config), "epochs": len(values),
                       "diminishing_epoch": epoch, "rule_stop_epoch": rule_epoch, "best_epoch": best_epoch,
                       "overfits": best_epoch < len(values) and values[-1] - min(values) > (sd or 0) * MARGIN_SDS,
                       "val_rise_after_best": values[-1] - min(values),
                       "test_at": {str(e): snaps[e] for e in epochs}, "gains": gains,
                       "sweep_cap": cap, "gain_after_cap": (best_by_cap - min(values)) if best_by_cap else None},
                   {"val_elbo_sd": sd, "test_elbo_sd": sd_of(ruler, "test_elbo"), "margin_sds": MARGIN_SDS},
                   [long_run.spec.name])


def convergence(c: Comparison) -> dict[str, Any]:
    """How the sweep runs ended: stopped by the rule, or at the cap."""
    runs = [o for experiment in ("latent_dim", "beta", "architecture") for o in c.runs(experiment)
            if o.spec.config.stop_window > 0]
    runs = list({o.spec.name: o for o in runs}.values())
    capped = [o.spec.name for o in runs if o.metrics.get("hit_cap")]
    trained = [o.metrics.get("epochs_trained", o.spec.config.epochs) for o in runs]
    return finding("the sweeps trained until the stopping rule or the cap", "all_stopped" if not capped else
                   "some_capped" if len(capped) < len(runs) else "all_capped", {
                       "runs": len(runs), "capped": len(capped), "capped_runs": capped,
                       "stopped": len(runs) - len(capped), "cap": c.profile.sweep_epoch_cap,
                       "window_epochs": c.profile.stop_window, "min_gain_nats": c.profile.stop_min_gain,
                       "epochs_min": min(trained, default=None), "epochs_max": max(trained, default=None)},
                   {}, [o.spec.name for o in runs])


# ---------------------------------------------------------------------------------------------
# Single-run comparisons, judged against the borrowed yardstick

def datasets(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    mnist, fashion = c.one("reference", "mnist"), c.one("reference", "fashion-mnist")
    if mnist is None or fashion is None:
        return finding("MNIST against Fashion-MNIST with the same ConvVAE", "unmeasured", {})
    a, b = summary_row(mnist), summary_row(fashion)
    terms = {}
    for key, term in (("test_elbo", "elbo"), ("test_recon", "recon"), ("test_kl", "kl")):
        delta = b[key] - a[key]
        terms[term] = {"mnist": a[key], "fashion_mnist": b[key], "difference": delta,
                       "verdict": compare(delta, sd_of(ruler, key))}
    return finding("Fashion-MNIST against MNIST, the same ConvVAE and settings (one seed each)",
                   terms["elbo"]["verdict"], terms,
                   {"borrowed": True, "from": "the sweeps' centre", "test_elbo_sd": sd_of(ruler, "test_elbo"),
                    "test_recon_sd": sd_of(ruler, "test_recon"), "test_kl_sd": sd_of(ruler, "test_kl"),
                    "margin_sds": MARGIN_SDS}, [mnist.spec.name, fashion.spec.name])


def architectures(c: Comparison, ruler: dict[str, Any]) -> dict[str, Any]:
    present = [outcomes[0] for outcomes in c.by_value("architecture").values()]
    rows = sorted((summary_row(o) for o in present), key=lambda r: r["test_elbo"])
    if not rows:
        return finding("the architectures at latent 2", "unmeasured", {})
    best = rows[0]
    others = [{"model": r["model"], "test_elbo": r["test_elbo"], "behind": r["test_elbo"] - best["test_elbo"],
               "epochs_trained": r["epochs_trained"], "params": r["params"],
               "verdict": compare(r["test_elbo"] - best["test_elbo"], sd_of(ruler, "test_elbo"))} for r in rows[1:]]
    return finding("the architecture with the lowest test −ELBO at latent 2",
                   "clear" if others and all(o["verdict"] == "higher" for o in others) else "within_spread", {
                       "best_model": best["model"], "best_elbo": best["test_elbo"],
                       "best_epochs_trained": best["epochs_trained"], "others": others},
                   {"borrowed": True, "test_elbo_sd": sd_of(ruler, "test_elbo"), "margin_sds": MARGIN_SDS},
                   [r["run"] for r in rows])


def likelihood(c: Comparison) -> dict[str, Any]:
    vae, iwae = c.one("likelihood", "elbo"), c.one("likelihood", "iwae")
    if vae is None or iwae is None:
        return finding("the IWAE-trained model against the VAE-trained one", "unmeasured", {})
    a, b = vae.metrics["likelihood"], iwae.metrics["likelihood"]
    se = math.hypot(a["nll_standard_error"], b["nll_standard_error"])
    delta = b["nll"] - a["nll"]
    burda = QUOTED["burda_2015"]["nll"]
    return finding("−log p(x) of the IWAE-trained model against the VAE-trained one (standard errors of the "
                   "estimates, not seeds)", compare(delta, se) if se else "unmeasured", {
                       "vae_nll": a["nll"], "iwae_nll": b["nll"], "difference": delta,
                       "vae_elbo": a["negative_elbo"], "iwae_elbo": b["negative_elbo"],
                       "elbo_difference": b["negative_elbo"] - a["negative_elbo"],
                       "iwae_train_k": iwae.spec.config.k, "epochs": [vae.spec.config.epochs, iwae.spec.config.epochs],
                       "vae_behind_paper": a["nll"] - burda["vae"],
                       "iwae_behind_paper": b["nll"] - burda.get(f"iwae_k{iwae.spec.config.k}", burda["iwae_k50"])},
                   {"kind": "standard error of the difference of the two estimates", "standard_error": se,
                    "margin_standard_errors": MARGIN_SDS}, [vae.spec.name, iwae.spec.name])


def seed_000(c: Comparison) -> dict[str, Any]:
    reference = c.one("reference", "mnist")
    quoted = QUOTED["seed_000"]
    if reference is None:
        return finding("this report's reference run against seed report 000", "unmeasured", {})
    diffs = [row["val_elbo"] - q for row, q in zip(reference.history, quoted["val_elbo"])]
    test_diff = reference.metrics["test"]["elbo"] - quoted["test_elbo"]
    worse = sum(d > 0 for d in diffs)
    return finding("this report's reference run against seed report 000, epoch by epoch (validation) and on test",
                   "worse_every_epoch" if worse == len(diffs) else "better_every_epoch" if worse == 0 else "mixed", {
                       "epochs": len(diffs), "epochs_worse": worse, "epochs_better": len(diffs) - worse,
                       "largest_val_difference": max(diffs, key=abs), "final_val_difference": diffs[-1],
                       "test_difference": test_diff, "test": "worse" if test_diff > 0 else "better"},
                   {"quoted": quoted["source"]}, [reference.spec.name])


# ---------------------------------------------------------------------------------------------
# Reading the 2-D latent spaces

def latent_classes(mu: np.ndarray, labels: np.ndarray, classes: Sequence[str], seed: int) -> dict[str, Any]:
    """k-nearest-neighbour accuracy in the latent space (cross-validated), the confusion between
    classes, and for Fashion-MNIST how far footwear stands from clothing."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(KNN_FOLDS, shuffle=True, random_state=seed)
    knn = KNeighborsClassifier(KNN_NEIGHBOURS)
    predicted = cross_val_predict(knn, mu, labels, cv=folds)
    matrix = confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    per_class = matrix.sum(1)
    pairs = []
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            rate = (matrix[i, j] + matrix[j, i]) / max(per_class[i] + per_class[j], 1)
            pairs.append({"classes": [classes[i], classes[j]], "confusion": float(rate)})
    pairs.sort(key=lambda p: -p["confusion"])
    recall = {classes[i]: float(matrix[i, i] / max(per_class[i], 1)) for i in range(len(classes))}
    result: dict[str, Any] = {
        "knn_accuracy": float((predicted == labels).mean()), "neighbours": KNN_NEIGHBOURS, "folds": KNN_FOLDS,
        "images": int(len(labels)), "chance": float(np.bincount(labels).max() / len(labels)),
        "most_confused": pairs[0], "confused_pairs": pairs[:5], "recall": recall,
        "best_class": max(recall, key=recall.get), "worst_class": min(recall, key=recall.get)}
    if all(name in classes for name in FOOTWEAR + CLOTHING):
        group = np.array([0 if classes[y] in CLOTHING else 1 if classes[y] in FOOTWEAR else 2 for y in labels])
        kept = group < 2
        kind = cross_val_predict(knn, mu[kept], group[kept], cv=folds)
        clothing, footwear = mu[kept][group[kept] == 0], mu[kept][group[kept] == 1]
        distance = float(np.linalg.norm(footwear.mean(0) - clothing.mean(0)))
        spread = float(np.sqrt((footwear.var(0).sum() + clothing.var(0).sum()) / 2))
        result["footwear"] = {"knn_accuracy": float((kind == group[kept]).mean()),
                              "centroid_distance": distance, "within_group_spread": spread,
                              "separation": distance / spread if spread else None,
                              "footwear": list(FOOTWEAR), "clothing": list(CLOTHING)}
    return result


def latent_reading(c: Comparison) -> dict[str, Any]:
    readings, evidence = {}, []
    for dataset in ("mnist", "fashion-mnist"):
        outcome = c.one("reference", dataset)
        path = c.tables.parent / "runs" / (outcome.spec.name if outcome else "") / "latents.npz"
        if outcome is None or not path.is_file():
            continue
        with np.load(path, allow_pickle=False) as data:
            mu, labels = data["mu"].astype(np.float64), data["labels"].astype(int)
            classes = [str(x) for x in data["classes"]] if "classes" in data.files else [str(i) for i in range(10)]
        readings[dataset] = latent_classes(mu, labels, classes, c.profile.seed)
        evidence.append(f"runs/{outcome.spec.name}/latents.npz")
    fashion = readings.get("fashion-mnist", {}).get("footwear")
    verdict = "unmeasured" if fashion is None else ("apart" if fashion["knn_accuracy"] >= 0.95 else
                                                    "mostly_apart" if fashion["knn_accuracy"] >= 0.8 else "mixed")
    return finding("what the reference models' 2-D latent spaces separate: k-NN accuracy, the classes they "
                   "confuse most, and footwear against clothing", verdict, readings,
                   {"kind": f"{KNN_FOLDS}-fold cross-validated {KNN_NEIGHBOURS}-nearest-neighbour predictions on "
                            "the test set's posterior means"}, evidence)


def failures(c: Comparison) -> dict[str, Any]:
    numbers = {}
    for dataset in ("mnist", "fashion-mnist"):
        outcome = c.one("reference", dataset)
        if outcome is not None and "failures" in outcome.metrics:
            gallery = outcome.metrics["failures"]
            classes = [image["class"] for image in gallery["images"]]
            numbers[dataset] = {**gallery, "run": outcome.spec.name,
                                "most_common_class": max(set(classes), key=classes.count),
                                "most_common_count": max(classes.count(x) for x in set(classes)),
                                "worst_over_median": gallery["images"][0]["negative_elbo"] / gallery["median_negative_elbo"]}
    return finding("the test images the reference models reconstruct worst", "found" if numbers else "unmeasured",
                   numbers, {}, [f"runs/{n['run']}/failures.png" for n in numbers.values()])


def reconstruction_class_rate(c: Comparison) -> dict[str, Any]:
    numbers = {}
    for dataset in ("mnist", "fashion-mnist"):
        outcome = c.one("reference", dataset)
        if outcome is not None and "reconstruction_class_rate" in outcome.metrics:
            numbers[dataset] = outcome.metrics["reconstruction_class_rate"]
    return finding("the share of reconstructions the report's classifier puts in their original's class",
                   "measured" if numbers else "unmeasured", numbers, {"kind": "binomial standard error"},
                   [o.spec.name for d in ("mnist", "fashion-mnist") for o in c.runs("reference", d)[:1]])


# ---------------------------------------------------------------------------------------------

def compute_findings(c: Comparison) -> dict[str, Any]:
    """Every finding of the report, keyed by claim."""
    ruler = yardstick(c)
    found = {"yardstick": ruler, "convergence": convergence(c), "training_length": training_length(c, ruler),
             "collapsed_units": collapsed_units(c), "datasets": datasets(c, ruler),
             "architectures": architectures(c, ruler), "likelihood": likelihood(c), "seed_000": seed_000(c),
             "latent_reading": latent_reading(c), "failures": failures(c),
             "reconstruction_classes": reconstruction_class_rate(c)}
    if c.runs("beta"):
        found["beta_best"], found["beta_trade"] = beta_best(c, ruler), beta_trade(c, ruler)
    if c.runs("latent_dim"):
        found["latent_size"] = latent_size(c, ruler)
    return found


def plan_map(c: Comparison) -> dict[str, dict[str, list[str]]]:
    """The runs of each role that have a result, the profile's seed first: how pages find a run
    (`findings.runs.reference.mnist[0]`, `findings.runs.beta["4"]`) without typing its name."""
    roles: dict[str, dict[str, list[str]]] = {}
    for spec in c.specs:
        if spec.name in c.outcomes:
            for role in spec.roles:
                value = "" if role.value is None else f"{role.value:g}" if isinstance(role.value, float) \
                    else str(role.value)
                roles.setdefault(role.experiment, {}).setdefault(value, []).append(spec.name)
    return roles


def write_findings(c: Comparison) -> list[Path]:
    """findings.json (beside manifest.json), tables/quoted.json and the training-length curve."""
    found = compute_findings(c)
    record = {"profile": c.profile.name, "margin_sds": MARGIN_SDS, "active_kl_nats": ACTIVE_KL_NATS,
              "spread": "sample standard deviation over seeds (n − 1)", "runs": plan_map(c), "findings": found}
    written = [artifacts.write_json(c.tables.parent / "findings.json", record),
               artifacts.write_json(c.tables / "quoted.json", quoted_record())]
    long_run = c.one("training_length")
    if long_run is not None:
        length = found["training_length"]["numbers"]
        sd = found["yardstick"]["numbers"].get("val_elbo_sd")
        best = min(row["val_elbo"] for row in long_run.history)
        written.append(figures.plot_length_curve(long_run.history, (best, sd) if sd else None,
                                                 length.get("diminishing_epoch"),
                                                 [int(e) for e in length.get("test_at", {})],
                                                 c.figures / "length_curve.png", describe(long_run.spec.config)))
    return written
