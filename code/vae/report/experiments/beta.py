"""The weight of the KL term: the sweep MLP at latent 16 trained on reconstruction + β·KL for
β = 0.5, 1, 2 and 4, until the stopping rule (β = 1 is the centre, with several seeds). Its figure
puts both sweeps on one rate–distortion plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ... import figures
from ..comparisons import TERM_NAMES, Comparison, sweep_outputs, sweep_rows
from ...config import TrainConfig
from ..plan import Profile, RunSpec, Sweep
from ..verdicts import DIFFERENCE_VERDICTS, Finding, Spread, unmeasured
from ..tables import outputs
from .yardstick import centre, seeds

ROLES = ("beta",)
LARGEST = {"kl": "test_kl", "recon": "test_recon", "elbo": "test_elbo", "units": "active_units"}
FINDINGS = {"beta_best": ("one_clear", "other_clear", "within_spread", "unmeasured"),
            "beta_runner_up_length": ("still_improving", "settled", "unmeasured"),
            "beta_trade": ("trades", "mixed", "unmeasured"),
            **{f"beta_largest_{term}": (*DIFFERENCE_VERDICTS, "unmeasured") for term in LARGEST}}


OUTPUTS = outputs(tables=("beta",), figures=("beta_sweep.png", "beta_samples.png", "rate_distortion.png"))


# --8<-- [start:plan]
def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return Sweep("beta", "beta", profile.betas, centre(profile, base), seeds(profile)).specs(base)
# --8<-- [end:plan]


def write(c: Comparison) -> list[Path]:
    def points(experiment: str, label: Callable[[Any], str]) -> list[dict[str, Any]]:
        return [{"label": label(r["value"]), "kl": r["test_kl"], "recon": r["test_recon"],
                 "kl_sd": r["test_kl_sd"], "recon_sd": r["test_recon_sd"]} for r in sweep_rows(c, experiment)]
    z = c.profile.sweep_latent_dim
    sweeps = {f"β sweep (latent {z})": points("beta", lambda v: f"β = {v:g}"),
              "latent-size sweep (β = 1)": points("latent_dim", lambda v: f"z = {v}")}
    model = "MLP 784-" + "-".join(map(str, c.profile.sweep_hidden))
    return [*sweep_outputs(c, "beta", "beta", "β"),
            plot_rate_distortion(sweeps, c.figures / "rate_distortion.png", f"MNIST, {model}: test set, mean over seeds")]


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    rows = sweep_rows(c, "beta")
    by_value = {r["value"]: r for r in rows}
    one, top = by_value.get(1.0), rows[-1] if rows else None
    if len(rows) < 2 or one is None or top is one or spread.of("test_elbo") is None:
        return [unmeasured(name, "the β sweep", verdicts) for name, verdicts in FINDINGS.items()]
    evidence = [run for r in rows for run in r["runs"]]
    ranked = sorted(rows, key=lambda r: r["test_elbo"])
    best, second = ranked[0], ranked[1]
    call = spread.differ(second["test_elbo"] - best["test_elbo"], "test_elbo", (second["seeds"], best["seeds"]))
    verdict = "within_spread" if call["verdict"] != "higher" else "one_clear" if best["value"] == 1.0 else "other_clear"
    found = [Finding("beta_best", "the β whose model has the lowest test −ELBO (the tightest bound)",
                     FINDINGS["beta_best"], verdict, {
                         "best_beta": best["value"], "best_elbo": best["test_elbo"], "runner_up_beta": second["value"],
                         "runner_up_elbo": second["test_elbo"], "margin_to_runner_up": second["test_elbo"] - best["test_elbo"],
                         "margin": call["margin"], "clearance": call["clearance"]},
                     spread.record("test_elbo"), call, evidence,
                     compares=f"β = {second['value']:g} against the best β, β = {best['value']:g}: {TERM_NAMES['test_elbo']}")]
    found.append(runner_up_length(c, best, second))
    steps = [{"from": low["value"], "to": high["value"], "kl_saved": low["test_kl"] - high["test_kl"],
              "recon_lost": high["test_recon"] - low["test_recon"]} for low, high in zip(rows, rows[1:])]
    trades = all(s["kl_saved"] > 0 and s["recon_lost"] > 0 for s in steps)
    found.append(Finding("beta_trade", "each step up in β saves KL and loses reconstruction",
                         FINDINGS["beta_trade"], "trades" if trades else "mixed",
                         {"steps": steps, "smallest_beta": rows[0]["value"], "largest_beta": top["value"]},
                         evidence=evidence))
    for term, key in LARGEST.items():
        call = spread.differ(top[key] - one[key], key, (top["seeds"], one["seeds"]))
        claim = f"the largest β against β = 1: {TERM_NAMES[key]}"
        found.append(Finding(f"beta_largest_{term}", claim,
                             FINDINGS[f"beta_largest_{term}"], call["verdict"], {
                                 "beta": top["value"], "at_1": one[key], "at_largest": top[key],
                                 "difference": top[key] - one[key], "margin": call["margin"],
                                 "latent_dim": c.profile.sweep_latent_dim, "seeds_at_1": one["seeds"],
                                 "seeds_at_largest": top["seeds"]},
                             spread.record(key), call, evidence,
                             compares=f"β = {top['value']:g} against β = 1: {TERM_NAMES[key]}"))
    return found


def runner_up_length(c: Comparison, best: Mapping[str, Any], second: Mapping[str, Any]) -> Finding:
    """Whether the runner-up β's runs ended training at their best epoch (still improving when the
    stopping rule or the cap ended them): then part of its gap to the best β may be training length,
    not β. The best β's runs are counted the same way, for the sentence to set beside it."""
    def ended_at_best(value: Any) -> tuple[int, int, int]:
        outcomes = c.by_value("beta")[value]
        trained = [o.metrics.get("epochs_trained", o.spec.config.epochs) for o in outcomes]
        at_best = sum(o.metrics["best_epoch"] >= epochs for o, epochs in zip(outcomes, trained))
        return at_best, len(outcomes), max(trained)
    at_best, runs, last_epoch = ended_at_best(second["value"])
    best_at_best, best_runs, _ = ended_at_best(best["value"])
    return Finding("beta_runner_up_length",
                   "whether the runner-up β's runs were still improving (best epoch their last) when training ended",
                   FINDINGS["beta_runner_up_length"], "still_improving" if at_best else "settled", {
                       "runner_up_beta": second["value"], "best_beta": best["value"],
                       "margin_to_runner_up": second["test_elbo"] - best["test_elbo"],
                       "runs": runs, "runs_at_best_epoch": at_best, "last_epoch": last_epoch,
                       "best_runs": best_runs, "best_runs_at_best_epoch": best_at_best},
                   evidence=[*second["runs"], *best["runs"]])


def _shared_labels(points: Sequence[Mapping[str, float]], tolerance: float = 0.01) -> dict[tuple[float, float], list[str]]:
    """One label per place: points of several sweeps that sit on the same spot (the sweeps share
    their centre run) within `tolerance` of each axis's range get one joined label, so that no two
    labels are drawn on top of each other."""
    if not points:
        return {}
    kl_range = (max(p["kl"] for p in points) - min(p["kl"] for p in points)) or 1.0
    recon_range = (max(p["recon"] for p in points) - min(p["recon"] for p in points)) or 1.0
    places: dict[tuple[float, float], list[str]] = {}
    for p in points:
        place = next((q for q in places if abs(q[0] - p["kl"]) <= tolerance * kl_range
                      and abs(q[1] - p["recon"]) <= tolerance * recon_range), (p["kl"], p["recon"]))
        if p["label"] not in places.setdefault(place, []):
            places[place].append(p["label"])
    return places


@figures.styled
def plot_rate_distortion(sweeps: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path,
                         title: str = "") -> Path:
    """Rate (KL, x) against distortion (reconstruction, y) of every run of each sweep, one marker
    per sweep, the points of a sweep joined in order and labelled with their value; dashed lines
    of equal −ELBO = reconstruction + KL (slope −1): a point on a lower line has a better bound
    (Alemi et al. 2018). Each point is a mean over seeds, with ± one standard deviation where
    several seeds were trained."""
    fig, ax = figures.new_figure(1, 1, (figures.FULL_WIDTH_IN, 5.2))
    markers = "osD^v"
    points = [p for sweep in sweeps.values() for p in sweep]
    for index, (label, sweep) in enumerate(sweeps.items()):
        ax.plot([p["kl"] for p in sweep], [p["recon"] for p in sweep], markers[index % len(markers)] + "-",
                color=figures.CLASS_COLOURS(index), label=label, ms=6)
        figures.error_bars(ax, [p["kl"] for p in sweep], [p["recon"] for p in sweep], [p.get("recon_sd") for p in sweep],
                           [p.get("kl_sd") for p in sweep], ecolor=figures.CLASS_COLOURS(index), capsize=3)
    labels = [(", ".join(names), place) for place, names in _shared_labels(points).items()]
    if points:
        kl_low, kl_high = min(p["kl"] for p in points), max(p["kl"] for p in points)
        rec_low, rec_high = min(p["recon"] for p in points), max(p["recon"] for p in points)
        pad_kl, pad_rec = 0.12 * (kl_high - kl_low or 1), 0.12 * (rec_high - rec_low or 1)
        ax.set_xlim(kl_low - pad_kl, kl_high + pad_kl)
        ax.set_ylim(rec_low - pad_rec, rec_high + pad_rec)
        elbos = [p["kl"] + p["recon"] for p in points]
        step = max(1.0, float(np.ceil((max(elbos) - min(elbos)) / 5)))
        xs = np.array(ax.get_xlim())
        for level in np.arange(np.floor(min(elbos)), max(elbos) + step, step):
            ax.plot(xs, level - xs, "--", color="#999999", lw=0.8, zorder=0)
            y_at = level - xs[1]
            if ax.get_ylim()[0] <= y_at <= ax.get_ylim()[1]:
                ax.text(xs[1], y_at, f" {level:.0f}", color="#666666", va="center", fontsize=10)
        ax.set_xlim(*xs)
    ax.set_xlabel("rate: KL (nats)")
    ax.set_ylabel("distortion: reconstruction (nats)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    _place_labels(ax, labels)
    return figures.save_png(fig, path)


def _place_labels(ax, labels: Sequence[tuple[str, tuple[float, float]]]) -> None:
    """Each label beside its point: above right, else below right, above left or below left,
    whichever first overlaps no label already placed (with a 3 px gap)."""
    renderer = ax.figure.canvas.get_renderer()
    placed = []
    for text, point in labels:
        for offset, align in (((6, 4), "left"), ((6, -16), "left"), ((-6, 4), "right"), ((-6, -16), "right")):
            note = ax.annotate(text, point, textcoords="offset points", xytext=offset, ha=align, fontsize=10)
            box = note.get_window_extent(renderer).padded(3)   # a gap the eye sees between labels
            if not any(box.overlaps(other) for other in placed):
                break
            note.remove()
        else:
            note = ax.annotate(text, point, textcoords="offset points", xytext=(6, 4), fontsize=10)
            box = note.get_window_extent(renderer)
        placed.append(box)
