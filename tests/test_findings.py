"""The findings are data: built from synthetic runs whose numbers say one thing, then from runs
whose numbers say the opposite, each finding's verdict (and the words the pages choose from it)
must reverse. Also: runs are chosen by their role in the plan, and a missing planned run is an error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from vae.report import PROFILES, run_specs
from vae.report.comparisons import Comparison
from vae.report.findings import FOOTWEAR, compute_findings, diminishing_epoch
from vae.report.plan import PlanError, select
from vae.report.run import RunOutcome

PROFILE = dataclasses.replace(PROFILES["quick"], seeds=3)
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def metrics(elbo: float, kl: float, kl_dims: list[float], **extra) -> dict:
    terms = {"elbo": elbo, "recon": elbo - kl, "kl": kl, "elbo_per_pixel": elbo / 784, "loss": elbo}
    return {"test": terms, "val": terms, "best_epoch": 3, "params": 1000, "epochs_trained": 3, "hit_cap": False,
            "stopped_early": True, "active_units": sum(k > 0.05 for k in kl_dims), "kl_per_dimension": kl_dims,
            "epoch_time_median_s": 1.0, "first_epoch_time_s": 1.0, "wall_time_s": 3.0, "device_name": "cpu", **extra}


def history(values: list[float]) -> list[dict]:
    return [{"epoch": e + 1, "val_elbo": v, "train_elbo": v, "train_recon": v, "val_recon": v, "train_kl": 0.0,
             "val_kl": 0.0, "val_elbo_per_pixel": v / 784} for e, v in enumerate(values)]


def synthetic_outcomes(tmp_path: Path, reverse: bool) -> Comparison:
    """A whole plan's results; `reverse` turns every finding around."""
    specs = run_specs(PROFILE)
    rng = np.random.default_rng(0)
    outcomes = {}
    for spec in specs:
        z, beta = spec.config.latent_dim, spec.config.beta
        seed_noise = 0.05 * (spec.config.seed - PROFILE.seed)          # the seed spread: s.d. 0.05 nats
        kl = 20.0 / beta if not reverse else 20.0 * beta               # β trades KL away, or (reversed) not
        elbo = 100 + 3 * abs(np.log2(beta)) * (1 if not reverse else -1) + seed_noise
        dims = [kl / z] * z if not (beta >= 4 and not reverse) else [kl / 2] * 2 + [0.001] * (z - 2)
        extra, hist = {}, history([110.0, 105.0, 104.0])
        if spec.plays("reference"):
            fashion = spec.plays("reference", "fashion-mnist")
            elbo = 150 + (110 if fashion != reverse else 0)
            dims = [3.0, 3.0]
            extra["failures"] = {"images": [{"test_index": 1, "class": "8", "negative_elbo": 400.0}],
                                 "median_negative_elbo": 140.0, "test_images": 10}
            run_dir = tmp_path / "runs" / spec.name
            run_dir.mkdir(parents=True)
            labels = np.repeat(np.arange(10), 30)
            mu = rng.normal(size=(300, 2))
            footwear = np.isin(labels, [FASHION.index(n) for n in FOOTWEAR])
            if not reverse:
                mu[footwear] += 50.0      # footwear far from clothing
            np.savez(run_dir / "latents.npz", mu=mu, labels=labels, classes=np.array(FASHION if fashion else
                                                                                   [str(i) for i in range(10)]))
            hist = history([(v + (5 if not reverse else -5)) for v in
                            (166.6079, 157.6834, 154.2295, 152.5510, 151.5376, 149.6207, 149.2737, 149.1837,
                             148.2316, 148.2099)][:spec.config.epochs])
        if spec.plays("likelihood"):
            nll = 90.0 if spec.plays("likelihood", "iwae") != reverse else 95.0
            extra["likelihood"] = {"nll": nll, "nll_standard_error": 0.3, "negative_elbo": nll + 3, "k": 50,
                                   "test_images": 100}
        if spec.plays("binarized"):
            extra.setdefault("likelihood", {"nll": 92.0, "nll_standard_error": 0.3, "negative_elbo": 95.0,
                                            "k": 50, "test_images": 100})
        snapshots = {}
        if spec.plays("training_length"):
            # Fast early gains then a plateau (diminishing at epoch 3), or (reversed) gains to the end.
            values = [100 + 10 / e for e in range(1, 9)] if reverse else [110, 104, 100.02, 100.01, 100.0, 100.0,
                                                                          100.0, 100.0]
            hist = history(values)
            snapshots = {e: {"test": {"elbo": values[e - 1], "recon": values[e - 1] - 20, "kl": 20.0}}
                         for e in spec.snapshot_epochs}
        outcomes[spec.name] = RunOutcome(spec=spec, metrics=metrics(elbo, sum(dims), dims, **extra), history=hist,
                                         files=[], final_samples=torch.empty(0), report_time_s=1.0,
                                         snapshots=snapshots)
    (tmp_path / "tables").mkdir(exist_ok=True)
    return Comparison(PROFILE, specs, outcomes, tmp_path / "tables", tmp_path / "figures")


@pytest.fixture
def both(tmp_path):
    forward, backward = tmp_path / "forward", tmp_path / "backward"
    forward.mkdir(), backward.mkdir()
    return compute_findings(synthetic_outcomes(forward, False)), compute_findings(synthetic_outcomes(backward, True))


def test_the_yardstick_is_the_sample_sd_over_the_centre_seeds(both):
    found, _ = both
    ruler = found["yardstick"]
    assert ruler["verdict"] == "measured" and ruler["numbers"]["seeds"] == PROFILE.seeds
    assert ruler["numbers"]["test_elbo_sd"] == pytest.approx(0.05)        # seeds 42, 43, 44: +0, 0.05, 0.10


def test_each_finding_reverses_when_its_numbers_do(both):
    found, reversed_ = both
    assert found["beta_best"]["numbers"]["best_beta"] == 1.0 and found["beta_best"]["verdict"] == "clear"
    assert reversed_["beta_best"]["numbers"]["best_beta"] != 1.0
    assert found["beta_trade"]["verdict"] == "trades" and reversed_["beta_trade"]["verdict"] == "mixed"
    assert found["beta_trade"]["numbers"]["largest_beta"]["units_dropped"] > 0
    assert reversed_["beta_trade"]["numbers"]["largest_beta"]["units_dropped"] == 0
    assert found["datasets"]["verdict"] == "higher" and reversed_["datasets"]["verdict"] == "lower"
    assert found["likelihood"]["verdict"] == "lower" and reversed_["likelihood"]["verdict"] == "higher"
    assert found["seed_000"]["verdict"] == "worse_every_epoch"
    assert reversed_["seed_000"]["verdict"] == "better_every_epoch"
    assert found["latent_reading"]["verdict"] == "apart" and reversed_["latent_reading"]["verdict"] == "mixed"
    assert found["training_length"]["numbers"]["diminishing_epoch"] == 3
    first_gain = found["training_length"]["numbers"]["gains"][0]            # epoch 2 -> 4: 104 -> 100.01
    assert first_gain["verdict"] == "lower" and first_gain["test_elbo_gain"] == pytest.approx(3.99)
    assert reversed_["training_length"]["numbers"]["diminishing_epoch"] > 3
    assert found["collapsed_units"]["verdict"] == "some_collapse"
    assert reversed_["collapsed_units"]["verdict"] == "none_collapse"


def test_a_difference_within_the_spread_is_not_called_one(tmp_path):
    c = synthetic_outcomes(tmp_path, False)
    fashion = next(o for o in c.outcomes.values() if o.spec.plays("reference", "fashion-mnist"))
    mnist = next(o for o in c.outcomes.values() if o.spec.plays("reference", "mnist"))
    fashion.metrics["test"] = dict(mnist.metrics["test"], elbo=mnist.metrics["test"]["elbo"] + 0.05)
    assert compute_findings(c)["datasets"]["numbers"]["elbo"]["verdict"] == "same"


def test_the_diminishing_epoch_is_where_the_gains_to_come_fall_under_the_spread():
    assert diminishing_epoch([10, 5, 4.5, 4.4, 4.35], 0.2) == 3
    assert diminishing_epoch([10, 9, 8, 7], 0.5) == 4
    assert diminishing_epoch([10, 9], None) is None


def test_runs_are_chosen_by_role_and_a_missing_planned_run_is_an_error_naming_it(tmp_path):
    c = synthetic_outcomes(tmp_path, False)
    assert [o.spec.config.dataset for o in c.runs("reference", "fashion-mnist")] == ["fashion-mnist"]
    assert len(c.by_value("beta")[1.0]) == PROFILE.seeds
    missing = c.runs("beta", 2.0)[0].spec.name
    del c.outcomes[missing]
    with pytest.raises(PlanError, match=missing):
        c.runs("beta")
    c.failed = frozenset({missing})            # a failed run is left out: the report already says so
    assert missing not in [o.spec.name for o in c.runs("beta")]
    with pytest.raises(PlanError, match="beta = 3"):
        c.runs("beta", 3.0)
    with pytest.raises(PlanError, match="unknown experiment"):
        select(c.specs, "betta")


# ---------------------------------------------------------------------------------------------
# The words on the pages: the Conclusions page rendered through the site's macros

def render_page(page: Path, assets: Path) -> str:
    """`page` rendered as the site renders it (code/site_macros.py: variables, filters, macros),
    with `assets` as docs/assets."""
    import sys
    from types import SimpleNamespace

    import jinja2

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))
    import site_macros

    env = SimpleNamespace(config={"on_undefined": "strict", "on_error_fail": True},
                          conf={"docs_dir": str(assets.parent), "repo_url": ""}, variables={}, filters={},
                          macros={})
    env.filter = lambda function, name=None: env.filters.__setitem__(name or function.__name__, function)
    env.macro = lambda function, name=None: env.macros.__setitem__(name or function.__name__, function)
    site_macros.define_env(env)
    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined, finalize=site_macros.finalize,
                               trim_blocks=True, lstrip_blocks=True)
    jinja.filters.update(env.filters)
    jinja.globals.update(env.variables, **env.macros)
    return jinja.from_string(page.read_text(encoding="utf-8")).render()


def write_assets(c: Comparison) -> Path:
    """The assets the Conclusions page reads, from synthetic runs: findings.json and quoted.json
    as the report writes them, and the few other records the page quotes."""
    import json

    from vae.report.findings import write_findings

    from vae.report.comparisons import sweep_rows

    root = c.tables.parent
    write_findings(c)
    (root / "manifest.json").write_text(json.dumps({"profile": "quick", "profile_settings": dataclasses.asdict(PROFILE)}))
    (root / "tables" / "anomaly.json").write_text(json.dumps({"rows": [{"roc_auc": 0.9, "mean_in_score": 150.0,
                                                                         "mean_out_score": 700.0}]}))
    for dataset in ("mnist", "fashion-mnist"):
        history = c.one("reference", dataset).history
        (root / "tables" / f"reference_epochs_{dataset}.json").write_text(json.dumps({"rows": history}))
    for experiment, table in (("beta", "beta"), ("latent_dim", "latent_dim")):
        (root / "tables" / f"{table}.json").write_text(json.dumps({"rows": sweep_rows(c, experiment)}))
    for outcome in c.outcomes.values():
        folder = root / "runs" / outcome.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps({**outcome.metrics, "epochs": outcome.spec.config.epochs,
                                                         "train_examples": 1000}))
        (folder / "config.json").write_text(json.dumps({"config": dataclasses.asdict(outcome.spec.config)},
                                                       default=str))
    return root


def rendered_both_ways(tmp_path: Path, page_name: str) -> tuple[str, str]:
    """The page rendered from synthetic runs, and from runs whose every finding is reversed."""
    page = Path(__file__).resolve().parents[1] / "docs" / page_name
    texts = {}
    for reverse in (False, True):
        folder = tmp_path / ("reversed" if reverse else "forward") / "assets"
        folder.mkdir(parents=True)
        texts[reverse] = " ".join(render_page(page, write_assets(synthetic_outcomes(folder, reverse))).split())
    return texts[False], texts[True]


def test_the_conclusions_turn_around_when_the_results_do(tmp_path):
    forward, backward = rendered_both_ways(tmp_path, "conclusions.md")
    assert "β = 1 gives the tightest bound" in forward and "β = 1 gives the tightest bound" not in backward
    assert "This is what the theory predicts" in forward and "a short training can move the optimum" in backward
    assert "it switches off" in forward and "every latent unit stays active" in backward
    assert "footwear (sandal, sneaker, ankle boot) stands apart from clothing" in forward
    assert "is not separated from clothing" in backward
    assert "higher on Fashion-MNIST than on MNIST" in forward and "lower on Fashion-MNIST than on MNIST" in backward
    assert "a better likelihood for the IWAE-trained model" in forward
    assert "a worse likelihood for the IWAE-trained model" in backward
    assert "gains less than one seed standard deviation after epoch 3" in forward
    assert "still gains more than one seed standard deviation at its last epoch" in backward
    assert "higher than seed report 000's at every one" in forward
    assert "lower than seed report 000's at every one" in backward
    assert "nats of KL and costs" in forward and "adds" in backward and "nats of KL and saves" in backward
    assert "paid for in reconstruction error and a worse bound" in forward
    assert "paid for in reconstruction error" not in backward
    assert "(one run at β = 4 against the mean of 3 seeds at β = 1)" in forward


def test_the_experiments_page_turns_around_when_the_results_do(tmp_path):
    forward, backward = rendered_both_ways(tmp_path, "experiments.md")
    assert "each step up in β trades reconstruction for KL" in forward
    assert "a larger β does not trade reconstruction for KL at every step" in backward
    assert "from β = 2 to 4 the KL falls by" in forward and "from β = 2 to 4 the KL rises by" in backward
    assert "the reconstruction term rises by" in forward and "the reconstruction term falls by" in backward
    assert "A large β is a way to buy a simpler code" in forward and "A large β is a way" not in backward
    assert "nats closer to the prior" in forward and "nats farther from the prior" in backward
    assert "lowers the rate and raises the distortion at every step" in forward
    assert "does not lower the rate and raise the distortion at every step" in backward
    assert "the centre model's gains fall under the spread after epoch 3" in forward
    assert "the centre model still gains more than the spread" in backward

