"""MNIST against Fashion-MNIST: the reference ConvVAE trained the same way on each (one seed each;
the spread is borrowed from the sweeps' centre, and the findings say so)."""

from __future__ import annotations

from pathlib import Path

from ... import figures
from ..comparisons import TERM_NAMES, TEST_TERMS, Comparison, summary_row
from ...config import TrainConfig
from ..plan import DATASET_TITLES, Profile, RunSpec
from ..tables import Column, outputs, write_table
from ..verdicts import DIFFERENCE_VERDICTS, Finding, Spread, unmeasured

ROLES = ()
TERMS = {"elbo": "test_elbo", "recon": "test_recon", "kl": "test_kl"}
FINDINGS = {**{f"datasets_{term}": (*DIFFERENCE_VERDICTS, "unmeasured") for term in TERMS},
            "datasets_curves": ("measured", "unmeasured")}
EARLY_EPOCH = 3     # how much of each validation curve's fall is made by this epoch


OUTPUTS = outputs(tables=("datasets",), figures=("datasets.png", "datasets_curves.png"))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return []   # the reference runs (reference.py)


def write(c: Comparison) -> list[Path]:
    present = [o for value in ("mnist", "fashion-mnist") for o in c.runs("reference", value)[:1]]
    rows = [{**summary_row(o), "dataset": DATASET_TITLES[o.spec.config.dataset]} for o in present]
    panels = {DATASET_TITLES[o.spec.config.dataset]: o.final_samples for o in present}
    curves = {DATASET_TITLES[o.spec.config.dataset]: o.history for o in present}
    return [*write_table(c.tables, "datasets", rows, [
                Column("dataset", "dataset"), *TEST_TERMS, Column("test_elbo_per_pixel", "-ELBO per pixel", "per_pixel"),
                Column("active_units", "active units", "count")]),
            figures.plot_image_panels(panels, c.figures / "datasets.png", title="prior samples, ConvVAE, latent 2"),
            figures.plot_curve_comparison(curves, c.figures / "datasets_curves.png",
                                          title="ConvVAE, latent 2: validation −ELBO per epoch")]


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    """Fashion-MNIST minus MNIST, for the bound and each of its terms."""
    mnist, fashion = c.one("reference", "mnist"), c.one("reference", "fashion-mnist")
    claims = {term: f"Fashion-MNIST against MNIST, {TERM_NAMES[key]} of the same ConvVAE (one seed each)"
              for term, key in TERMS.items()}
    curves_claim = (f"the share of each reference run's validation -ELBO fall made by epoch {EARLY_EPOCH}, "
                    "and validation minus training at the last epoch")
    if mnist is None or fashion is None:
        return [*(unmeasured(f"datasets_{term}", claims[term], FINDINGS[f"datasets_{term}"]) for term in TERMS),
                unmeasured("datasets_curves", curves_claim, FINDINGS["datasets_curves"])]
    a, b = summary_row(mnist), summary_row(fashion)
    elbo_difference = b["test_elbo"] - a["test_elbo"]
    found = []
    for term, key in TERMS.items():
        call = spread.differ(b[key] - a[key], key)
        found.append(Finding(f"datasets_{term}", claims[term], FINDINGS[f"datasets_{term}"], call["verdict"], {
            "mnist": a[key], "fashion_mnist": b[key], "difference": b[key] - a[key], "margin": call["margin"],
            # the share of the bound's difference that lies in this term (for the bound itself, none)
            "share_of_elbo_difference": (b[key] - a[key]) / elbo_difference if elbo_difference and term != "elbo"
            else None},
            {**spread.record(key), "borrowed": True}, call, [mnist.spec.name, fashion.spec.name], compares=claims[term]))
    shapes = {name: curve_shape(o.history) for name, o in (("mnist", mnist), ("fashion_mnist", fashion))}
    found.append(Finding("datasets_curves", curves_claim, FINDINGS["datasets_curves"], "measured", {
        "early_epoch": EARLY_EPOCH, "epochs": len(mnist.history),
        **{f"{name}_{key}": value for name, shape in shapes.items() for key, value in shape.items()}},
        evidence=[mnist.spec.name, fashion.spec.name]))
    return found


def curve_shape(history: list[dict[str, float]]) -> dict[str, float]:
    """The share of the validation -ELBO's fall, from the first epoch to the last, made by
    EARLY_EPOCH; and validation minus training at the last epoch (training's value is the mean
    over that epoch's steps, taken while the weights still change)."""
    values = [row["val_elbo"] for row in history]
    early = values[min(EARLY_EPOCH, len(values)) - 1]
    fall = values[0] - values[-1]
    return {"share": (values[0] - early) / fall if fall else None,
            "gap": history[-1]["val_elbo"] - history[-1]["train_elbo"]}
