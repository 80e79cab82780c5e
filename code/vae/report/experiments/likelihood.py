"""The literature's footing: dynamically binarized MNIST, where −log p(x) estimated by importance
sampling (the IWAE bound with k samples) is comparable with published numbers. Burda et al.'s
784-200-200-50 tanh MLP is trained once on the ELBO (a VAE) and once on the IWAE bound, beside the
sweep MLP at latent 50; the table puts them next to the paper's rows (quoted)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path

from ... import figures
from ..comparisons import Comparison, summary_row
from ...config import TrainConfig
from ..plan import Profile, Role, RunSpec, describe, spec
from ..quoted import BURDA_LABELS, QUOTED
from ..tables import Column, outputs, write_table
from ..verdicts import DIFFERENCE_VERDICTS, Finding, Spread, differ, unmeasured

ROLES = ("likelihood", "binarized")
FINDINGS = {"likelihood": (*DIFFERENCE_VERDICTS, "unmeasured"),
            "paper_vae": (*DIFFERENCE_VERDICTS, "unmeasured")}
# Burda, Grosse & Salakhutdinov (2015), table 1: the 784-200-200-50 tanh MLP (one stochastic layer).
BURDA_HIDDEN = (200, 200)
BURDA_LATENT_DIM = 50


OUTPUTS = outputs(tables=("likelihood", "binarized"), figures=("likelihood_epochs.png",))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    """The sweep MLP at latent 50, and Burda et al.'s MLP trained on the ELBO and on the IWAE bound
    with the profile's k (50 in `full`, 5 elsewhere: the IWAE step costs about k decoder passes)."""
    vae_epochs, iwae_epochs = profile.likelihood_epochs
    burda = dataclasses.replace(
        base, arch="mlp", hidden=BURDA_HIDDEN, latent_dim=BURDA_LATENT_DIM, binarize=True, activation="tanh",
        init_output_bias=True, lr_schedule=profile.likelihood_lr_schedule,
        kl_warmup_epochs=min(profile.likelihood_kl_warmup_epochs, min(profile.likelihood_epochs) - 1))
    iwae = dataclasses.replace(burda, epochs=iwae_epochs, objective="iwae", k=profile.likelihood_train_k)
    sweep_mlp = dataclasses.replace(base, arch="mlp", hidden=profile.sweep_hidden,
                                    latent_dim=profile.binarized_latent_dim, binarize=True)
    return [spec(sweep_mlp, base, Role("binarized", "mlp400"), likelihood=True),
            spec(dataclasses.replace(burda, epochs=vae_epochs), base, Role("likelihood", "elbo"),
                 Role("binarized", "burda-elbo"), likelihood=True, bound_by_epoch=True),
            spec(iwae, base, Role("likelihood", "iwae"), Role("binarized", "burda-iwae"),
                 likelihood=True, bound_by_epoch=True)]


def write(c: Comparison) -> list[Path]:
    return [*likelihood_table(c), *binarized_table(c)]


def likelihood_table(c: Comparison) -> list[Path]:
    rows = []
    for outcome in c.outcomes.values():
        if "likelihood" in outcome.metrics:
            lk = outcome.metrics["likelihood"]
            rows.append({"run": outcome.spec.name, "model": describe(outcome.spec.config),
                         "binarized": outcome.spec.config.binarize, **lk, "gap": lk["negative_elbo"] - lk["nll"]})
    return write_table(c.tables, "likelihood", rows, [
        Column("model", "model"), Column("test_images", "test images", "count"), Column("k", "k", "count"),
        Column("negative_elbo", "-ELBO", "nats"), Column("nll", "-log p(x), IWAE", "nats"),
        Column("nll_standard_error", "s.e. of -log p(x)", "nats"), Column("gap", "ELBO gap", "nats")])


def binarized_table(c: Comparison) -> list[Path]:
    burda = QUOTED["burda_2015"]
    rows = []
    for outcome in c.runs("binarized"):
        lk, row = outcome.metrics["likelihood"], summary_row(outcome)
        if outcome.spec.config.epochs < burda["passes"] // 10:     # under a tenth of the paper's training
            row["model"] += " (short run)"
        rows.append({**row, "source": "this report", "nll": lk["nll"], "nll_standard_error": lk["nll_standard_error"],
                     "k_eval": lk["k"], "test_images": lk["test_images"]})
    rows += [{"source": "Burda et al. 2015 (quoted)", "model": f"Burda et al. 2015: {BURDA_LABELS[key]} (quoted)",
              "epochs": burda["passes"], "nll": nll, "k_eval": burda["k_eval"], "test_images": burda["test_images"]}
             for key, nll in burda["nll"].items()]
    pair = [o for value in ("elbo", "iwae") for o in c.runs("likelihood", value)[:1]]
    figure = figures.plot_curve_comparison(
        {describe(o.spec.config): [{"epoch": r["epoch"], "test_elbo": r["test_elbo"]} for r in o.test_bound]
         for o in pair}, c.figures / "likelihood_epochs.png", key="test_elbo",
        ylabel="test −ELBO (nats)", log_x=max((o.spec.config.epochs for o in pair), default=1) > 50,
        title="Binarized MNIST, MLP 784-200-200-50 tanh: the bound the VAE optimises\n"
              "(the IWAE run optimises a tighter one; compare −log p(x) in the table)")
    return [*write_table(c.tables, "binarized", rows, [
                Column("model", "model"), Column("epochs", "epochs", "count"), Column("params", "params", "count"),
                Column("wall_time_s", "train time (s)", "seconds"), Column("device", "device"),
                Column("nll", "test -log p(x)", "nats"), Column("nll_standard_error", "s.e.", "nats")]), figure]


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    """Judged against the standard errors of the estimates (not seeds): the IWAE-trained model
    against the VAE-trained one, and the VAE-trained one against the paper's VAE."""
    vae, iwae = c.one("likelihood", "elbo"), c.one("likelihood", "iwae")
    if vae is None or iwae is None:
        return [unmeasured(name, "the binarized-MNIST likelihoods", verdicts) for name, verdicts in FINDINGS.items()]
    a, b = vae.metrics["likelihood"], iwae.metrics["likelihood"]
    burda = QUOTED["burda_2015"]
    # Both models score the same test images: the spread of the image-by-image difference, not of
    # each estimate (which carries how much the images differ from one another, twice).
    paired = [nb - na for na, nb in zip(a["nll_per_image"], b["nll_per_image"], strict=True)]
    se = statistics.stdev(paired) / math.sqrt(len(paired))
    kind = {"kind": "standard error of the paired difference (the same test images)", "standard_error": se,
            "unpaired_standard_error": math.hypot(a["nll_standard_error"], b["nll_standard_error"]),
            "margin_standard_errors": 2.0}
    call = differ(b["nll"] - a["nll"], se)
    numbers = {"vae_nll": a["nll"], "iwae_nll": b["nll"], "difference": b["nll"] - a["nll"],
               "vae_elbo": a["negative_elbo"], "iwae_elbo": b["negative_elbo"],
               "elbo_difference": b["negative_elbo"] - a["negative_elbo"], "margin": call["margin"],
               "iwae_train_k": iwae.spec.config.k, "vae_epochs": vae.spec.config.epochs,
               "iwae_epochs": iwae.spec.config.epochs, "k_eval": a["k"], "test_images": a["test_images"]}
    paper = differ(a["nll"] - burda["nll"]["vae"], a["nll_standard_error"])
    claims = {"likelihood": "−log p(x) of the IWAE-trained model against the VAE-trained one",
              "paper_vae": "−log p(x) of the VAE-trained model against Burda et al.'s VAE (quoted)"}
    return [Finding("likelihood", claims["likelihood"], FINDINGS["likelihood"], call["verdict"], numbers, kind, call,
                    [vae.spec.name, iwae.spec.name], compares=claims["likelihood"]),
            Finding("paper_vae", claims["paper_vae"],
                    FINDINGS["paper_vae"], paper["verdict"], {
                        "nll": a["nll"], "standard_error": a["nll_standard_error"], "paper": burda["nll"]["vae"],
                        "difference": a["nll"] - burda["nll"]["vae"], "epochs": vae.spec.config.epochs,
                        "paper_epochs": burda["passes"], "k_eval": a["k"], "test_images": a["test_images"],
                        "paper_k_eval": burda["k_eval"], "wall_time_s": vae.metrics["wall_time_s"]},
                    {"kind": "standard error of the estimate", "standard_error": a["nll_standard_error"],
                     "quoted": burda["source"]}, paper, [vae.spec.name], compares=claims["paper_vae"])]
