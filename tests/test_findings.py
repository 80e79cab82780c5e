"""The findings are data: built from synthetic runs whose numbers say one thing, then from runs
whose numbers say the opposite, each finding's verdict (and the sentence the pages place for it)
must reverse. Every declared verdict has its sentence, every placeholder names a number of its
finding, and no page compares numbers. Runs are chosen by their role in the plan."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np

import pytest
import torch

from vae.report import PROFILES, run_specs
from vae.report.comparisons import Comparison
from vae.report.experiments import comparison, declared_findings, judge_all, worded_findings
from vae.report.experiments.latent_reading import FOOTWEAR
from vae.report.experiments.training_length import diminishing_epoch
from vae.report.plan import PlanError, base_config, merge, run_name, spec
from vae.report.run import RunOutcome
from vae.report.verdicts import FindingError, differ

PROFILE = dataclasses.replace(PROFILES["quick"], seeds=3)
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DOCS = Path(__file__).resolve().parents[1] / "docs"


def metrics(elbo: float, kl: float, kl_dims: list[float], **extra) -> dict:
    terms = {"elbo": elbo, "recon": elbo - kl, "kl": kl, "elbo_per_pixel": elbo / 784, "loss": elbo}
    return {"test": terms, "val": terms, "best_epoch": 3, "params": 1000, "epochs_trained": 3, "hit_cap": False,
            "stopped_early": True, "active_units": sum(k > 0.05 for k in kl_dims), "kl_per_dimension": kl_dims,
            "epoch_time_median_s": 1.0, "first_epoch_time_s": 1.0, "wall_time_s": 3.0, "device_name": "cpu",
            "precision": "fp32", **extra}


def history(values: list[float]) -> list[dict]:
    return [{"epoch": e + 1, "val_elbo": v, "train_elbo": v, "train_recon": v, "val_recon": v, "train_kl": 0.0,
             "val_kl": 0.0, "val_elbo_per_pixel": v / 784} for e, v in enumerate(values)]


IMAGE_OFFSETS = np.random.default_rng(1).normal(0, 5.0, 100)   # how hard each test image is, for every model


def synthetic_outcomes(tmp_path: Path, reverse: bool) -> Comparison:
    """A whole plan's results; `reverse` turns every finding around."""
    specs = run_specs(PROFILE)
    rng = np.random.default_rng(0)
    outcomes = {}
    for spec_ in specs:
        z, beta, floor = spec_.config.latent_dim, spec_.config.beta, spec_.config.free_bits
        seed_noise = 0.05 * (spec_.config.seed - PROFILE.seed)          # the seed spread: s.d. 0.05 nats
        kl = 20.0 / beta if not reverse else 20.0 * beta               # β trades KL away, or (reversed) not
        elbo = 100 + 3 * abs(np.log2(beta)) * (1 if not reverse else -1) + seed_noise
        elbo += 8 / z ** 2 if not reverse else -8 / z ** 2             # larger codes help, then saturate
        dims = [kl / z] * z if not (beta >= 4 and not reverse) else [kl / 2] * 2 + [0.001] * (z - 2)
        if z == PROFILE.free_bits_latent_dim and not floor and not reverse:   # units collapse there...
            dims = [kl / 2] * 2 + [0.001] * (z - 2)
        if floor:                                                      # ...and free bits keep them on, at a cost
            elbo += 2.0 if not reverse else -2.0
        extra, hist, run_dir = {}, history([110.0, 105.0, 104.0]), None
        if spec_.plays("reference"):
            fashion = spec_.plays("reference", "fashion-mnist")
            elbo = (150 + 110 * fashion) if not reverse else (140 - 110 * fashion)
            dims = [3.0, 3.0]
            names = FASHION if fashion else [str(i) for i in range(10)]
            wrong = "6" if not reverse else None
            extra["failures"] = {"images": [{"test_index": i, "class": names[8 if i < 6 else i],
                                             "reconstructed_as": wrong or names[8 if i < 6 else i],
                                             "negative_elbo": 400.0 - i} for i in range(10)],
                                 "median_negative_elbo": 140.0, "test_images": 10}
            extra["reconstruction_class_rate"] = {"images": 100, "kept": 0.7 if not reverse else 0.4,
                                                  "standard_error": 0.05}
            extra["manifold_classes"] = {name: 40 if not reverse or i < 8 else 0 for i, name in enumerate(names)}
            extra.update(manifold_extent=1.64, manifold_codes_outside=0.1,
                         manifold_class_codes_outside={name: i / 10 for i, name in enumerate(names)})
            extra["interpolation_reads"] = [   # the ends may be misread (the first) and the middle not (reversed)
                {"from": names[0], "to": names[1], "read": [names[3], names[2 if not reverse else 1], names[1]]},
                # a misread end's class spilling into the line is not a third class
                {"from": names[0], "to": names[1], "read": [names[3], names[3], names[1]]}]
            run_dir = tmp_path / "runs" / spec_.name
            run_dir.mkdir(parents=True)
            labels = np.repeat(np.arange(10), 30)
            mu = rng.normal(size=(300, 2))
            footwear = np.isin(labels, [FASHION.index(n) for n in FOOTWEAR])
            if not reverse:
                mu[footwear] += 50.0      # footwear far from clothing
            np.savez(run_dir / "latents.npz", mu=mu, labels=labels, classes=np.array(names))
            hist = history([(v + (5 if not reverse else -5)) for v in
                            (166.6079, 157.6834, 154.2295, 152.5510, 151.5376, 149.6207, 149.2737, 149.1837,
                             148.2316, 148.2099)][:spec_.config.epochs])
        if spec_.plays("beta") and reverse:   # the β runs peak before their last epoch
            extra["best_epoch"] = 2
        if spec_.plays("anomaly"):
            extra["anomaly_roc_auc"] = 0.95 if not reverse else 0.55
        if spec_.plays("likelihood"):
            nll = 90.0 if spec_.plays("likelihood", "iwae") != reverse else 95.0
            # the images differ by far more (±5 nats) than the two models on one image (±0.1)
            per_image = nll + IMAGE_OFFSETS + rng.normal(0, 0.1, len(IMAGE_OFFSETS))
            extra["likelihood"] = {"nll": float(per_image.mean()), "negative_elbo": nll + 3, "k": 50,
                                   "nll_standard_error": float(per_image.std(ddof=1) / np.sqrt(len(per_image))),
                                   "test_images": len(per_image), "nll_per_image": per_image.tolist()}
        if spec_.plays("binarized"):
            extra.setdefault("likelihood", {"nll": 92.0, "nll_standard_error": 0.3, "negative_elbo": 95.0,
                                            "k": 50, "test_images": 100, "nll_per_image": [92.0] * 100})
        snapshots = {}
        if spec_.plays("training_length"):
            # Fast early gains then a plateau (diminishing at epoch 3), or (reversed) gains to the end.
            values = [100 + 10 / e for e in range(1, 9)] if reverse else [110, 104, 100.02, 100.01, 100.0, 100.0,
                                                                          100.0, 100.0]
            hist = history(values)
            snapshots = {e: {"test": {"elbo": values[e - 1], "recon": values[e - 1] - 20, "kl": 20.0}}
                         for e in spec_.snapshot_epochs}
        outcomes[spec_.name] = RunOutcome(spec=spec_, metrics=metrics(elbo, sum(dims), dims, **extra), history=hist,
                                          files=[], final_samples=torch.empty(0), report_time_s=1.0,
                                          snapshots=snapshots, run_dir=run_dir)
    (tmp_path / "tables").mkdir(exist_ok=True)
    return comparison(PROFILE, outcomes, tmp_path, specs, workers=2)


def verdicts(c: Comparison) -> dict[str, dict]:
    return {f.name: f.record() for f in judge_all(c)}


@pytest.fixture
def both(tmp_path):
    forward, backward = tmp_path / "forward", tmp_path / "backward"
    forward.mkdir(), backward.mkdir()
    return verdicts(synthetic_outcomes(forward, False)), verdicts(synthetic_outcomes(backward, True))


def test_the_yardstick_is_the_sample_sd_over_the_centre_seeds(both):
    found, _ = both
    ruler = found["yardstick"]
    assert ruler["verdict"] == "measured" and ruler["numbers"]["seeds"] == PROFILE.seeds
    assert ruler["numbers"]["test_elbo_sd"] == pytest.approx(0.05)        # seeds 42, 43, 44: +0, 0.05, 0.10


REVERSALS = {   # finding: (verdict from the forward runs, verdict from the reversed ones)
    "beta_best": ("one_clear", "other_clear"), "beta_trade": ("trades", "mixed"),
    "beta_runner_up_length": ("still_improving", "settled"),
    "beta_largest_kl": ("lower", "higher"), "beta_largest_units": ("lower", "same"),
    "datasets_elbo": ("higher", "lower"), "likelihood": ("lower", "higher"),
    "seed_000_val": ("other_protocol", "other_protocol"), "seed_000_test": ("higher", "lower"),
    "seed_000_recon": ("higher", "lower"), "free_bits_middle": ("higher", "lower"),
    "stopping_rule": ("stops_in_time", "would_not_stop"), "overfitting": ("flat", "too_late_to_tell"),
    "latent_reading": ("apart", "mixed"), "training_length": ("diminishes", "still_gaining"),
    "collapsed_units": ("some_collapse", "none_collapse"), "latent_size": ("saturates", "peaks"),
    "free_bits_units": ("higher", "same"), "free_bits_elbo": ("higher", "lower"),
    "free_bits_smallest": ("higher", "lower"), "manifold_mnist": ("all_classes", "some_missing"),
    "manifold_fashion_mnist": ("all_classes", "some_missing"),
    "anomaly": ("separates", "barely"), "reconstruction_classes": ("most_kept", "half_or_fewer"),
    "failures_mnist": ("mostly_one", "mostly_one"), "failures_confused_mnist": ("mostly", "none"),
}


@pytest.mark.parametrize("name", REVERSALS)
def test_each_finding_reverses_when_its_numbers_do(both, name):
    found, reversed_ = both
    assert (found[name]["verdict"], reversed_[name]["verdict"]) == REVERSALS[name]


@pytest.mark.parametrize("reverse, verdict", [(False, "higher"), (True, "lower")])
def test_the_seed_report_is_compared_epoch_by_epoch_under_its_protocol(tmp_path, reverse, verdict):
    """The quick profile trains the reference 2 epochs on a subset: "other_protocol" above. Under
    the seed's protocol (its 10 epochs on every image) the epochs are compared one by one."""
    c = synthetic_outcomes(tmp_path, reverse)
    outcome = c.one("reference", "mnist")
    protocol = dataclasses.replace(outcome.spec.config, epochs=10, train_limit=None)
    outcome.spec = dataclasses.replace(outcome.spec, config=protocol)
    outcome.history = history([v + (5 if not reverse else -5) for v in
                               (166.6079, 157.6834, 154.2295, 152.5510, 151.5376, 149.6207, 149.2737, 149.1837,
                                148.2316, 148.2099)])
    found = verdicts(c)["seed_000_val"]
    assert found["verdict"] == verdict and found["numbers"]["epochs_worse"] == (0 if reverse else 10)
    assert found["numbers"]["epochs_beyond_margin"] == 10          # 5 nats apart at every epoch
    # judged at the last epoch against the spread of the validation −ELBO, whose splits differ by seed
    assert found["call"]["margin"] == pytest.approx(2 * np.sqrt(2) * found["spread"]["val_elbo_sd"])


def test_the_likelihoods_of_two_models_are_compared_image_by_image(both):
    """Both models score the same test images: the standard error of their paired difference
    leaves out how much the images differ from one another."""
    found, _ = both
    spread = found["likelihood"]["spread"]
    assert spread["standard_error"] < spread["unpaired_standard_error"] / 5
    assert found["likelihood"]["call"]["margin"] == pytest.approx(2 * spread["standard_error"])


def test_the_long_run_says_what_stopping_loses_and_how_the_train_validation_gap_moves(tmp_path):
    c = synthetic_outcomes(tmp_path, False)
    long_run = c.one("training_length")
    # the rule stops at the plateau (values 110, 104, 100.02, ...); a later drop of 1 nat is what it loses
    long_run.history = history([110, 104, 100.02, 100.01, 100.0, 100.0, 100.0, 99.0])
    # training pulls away from validation by 0.5 nat an epoch
    long_run.history = [{**row, "train_elbo": row["val_elbo"] - 0.5 * row["epoch"]} for row in long_run.history]
    found = verdicts(c)
    assert found["stopping_rule"]["verdict"] == "stops_at_a_cost"
    assert found["stopping_rule"]["numbers"]["lost"] == pytest.approx(1.0, abs=0.02)
    gap = found["generalization_gap"]
    assert gap["verdict"] == "widens"
    assert gap["numbers"]["gap_at_last"] - gap["numbers"]["gap_at_first"] == pytest.approx(0.5 * (8 - 2))
    assert found["overfitting"]["verdict"] == "too_late_to_tell"     # its best epoch is the last


def test_the_figure_readings_count_what_the_classifier_reads_and_the_epochs_they_show(tmp_path, both):
    found, reversed_ = both
    lines = found["interpolation_mnist"]["numbers"], reversed_["interpolation_mnist"]["numbers"]
    assert (lines[0]["through_other"], lines[1]["through_other"]) == (1, 0)   # between the ends only
    assert lines[0]["ends_misread"] == lines[1]["ends_misread"] == 2 and lines[0]["points"] == 1
    assert found["manifold_mnist"]["numbers"]["largest_share"] == pytest.approx(0.1)
    assert reversed_["manifold_mnist"]["numbers"]["smallest_outside"] == pytest.approx(0.7)   # class "7", the last read
    assert reversed_["manifold_mnist"]["numbers"]["missing"] == "8, 9"
    c = synthetic_outcomes(tmp_path, False)
    outcome = c.one("reference", "mnist")
    outcome.history = history([160.0 - e for e in (0, 4, 6, 7, 8, 9, 9.5, 9.7, 9.9, 10)])   # epochs 1-10
    reading = verdicts(c)["reconstruction_epochs_mnist"]["numbers"]
    assert (reading["first"], reading["mid"], reading["last"], reading["mid_epoch"]) == (160.0, 152.0, 150.0, 5)
    assert reading["share_by_mid"] == pytest.approx(0.8)


def test_every_declared_finding_is_judged_once_with_a_verdict_of_its_set(both):
    found, _ = both
    declared = declared_findings()
    assert set(found) == set(declared)
    for name, record in found.items():
        assert record["verdict"] in declared[name] and record["verdicts"] == list(declared[name])


def test_one_rule_decides_different_and_records_how_close_the_call_was():
    assert differ(0.22, 0.122)["verdict"] == "same"                       # within 2 s.d. (0.244)
    call = differ(0.30, 0.122)
    assert call["verdict"] == "higher" and call["clearance"] == pytest.approx(0.30 - 0.244)
    assert differ(-1.0, 0.1)["verdict"] == "lower" and differ(1.0, None)["verdict"] == "unmeasured"


def test_a_difference_is_judged_against_the_spread_of_that_difference():
    from vae.report.verdicts import Spread
    ruler = Spread({"test_elbo": 0.1}, seeds=5)
    two_single_runs = ruler.differ(0.25, "test_elbo")                  # 2 × 0.1 × √2 = 0.283
    assert two_single_runs["verdict"] == "same" and two_single_runs["margin"] == pytest.approx(0.2 * 2 ** 0.5)
    against_the_mean = ruler.differ(0.25, "test_elbo", (1, 5))         # 2 × 0.1 × √1.2 = 0.219
    assert against_the_mean["verdict"] == "higher" and against_the_mean["margin"] == pytest.approx(0.2 * 1.2 ** 0.5)
    assert Spread({}, seeds=1).differ(5.0, "test_elbo")["verdict"] == "unmeasured"


def test_a_verdict_outside_the_declared_set_is_refused():
    from vae.report.verdicts import Finding
    with pytest.raises(FindingError, match="clearr"):
        Finding("beta_best", "claim", ("one_clear", "within_spread"), "clearr", {})


def test_every_call_says_what_it_compares_and_in_which_unit(both):
    found, _ = both
    calls = {name: r["call"] for name, r in found.items() if r["call"] and r["call"]["margin"] is not None}
    for name, call in calls.items():
        assert " against " in call["compares"], (name, call["compares"])
    assert {call["unit"] for call in calls.values()} == {"nats", "units"}


def test_the_calls_table_reads_a_against_b_closest_first_and_leaves_counts_of_units_out():
    from vae.report.findings import call_rows
    from vae.report.verdicts import DIFFERENCE_VERDICTS, Finding, Spread
    ruler = Spread({"test_elbo": 0.1, "active_units": 0.5}, seeds=3)

    def finding(name: str, delta: float, key: str) -> Finding:
        call = ruler.differ(delta, key)
        return Finding(name, f"claim {name}", DIFFERENCE_VERDICTS, call["verdict"], {}, call=call,
                       compares=f"{name} against the rest: {key}")
    rows = call_rows([finding("far", 1.0, "test_elbo"), finding("units", 3.0, "active_units"),
                      finding("close", -0.3, "test_elbo")])
    assert [row["finding"] for row in rows] == ["close", "far"]
    assert rows[1]["comparison"] == "far against the rest: test_elbo" and rows[1]["difference"] == 1.0
    assert (rows[0]["called"], rows[1]["called"]) == ("A lower", "A higher")
    assert rows[0]["clearance"] == pytest.approx(0.3 - 0.2 * 2 ** 0.5)
    with pytest.raises(FindingError, match="does not say what it compares"):
        Finding("far", "claim", DIFFERENCE_VERDICTS, "higher", {}, call=ruler.differ(1.0, "test_elbo"))


def test_a_difference_within_the_spread_is_not_called_one(tmp_path):
    c = synthetic_outcomes(tmp_path, False)
    fashion = next(o for o in c.outcomes.values() if o.spec.plays("reference", "fashion-mnist"))
    mnist = next(o for o in c.outcomes.values() if o.spec.plays("reference", "mnist"))
    fashion.metrics["test"] = dict(mnist.metrics["test"], elbo=mnist.metrics["test"]["elbo"] + 0.05)
    assert verdicts(c)["datasets_elbo"]["verdict"] == "same"


def test_the_diminishing_epoch_is_where_the_gains_to_come_fall_within_the_margin():
    assert diminishing_epoch([10, 5, 4.5, 4.4, 4.35], 0.2) == 3
    assert diminishing_epoch([10, 9, 8, 7], 0.5) == 4
    assert diminishing_epoch([10, 9], None) is None


def test_runs_are_chosen_by_role_and_a_missing_planned_run_is_an_error_naming_it(tmp_path):
    c = synthetic_outcomes(tmp_path, False)
    assert [o.spec.config.dataset for o in c.runs("reference", "fashion-mnist")] == ["fashion-mnist"]
    assert len(c.by_value("seeds")) == PROFILE.seeds and len(c.by_value("beta")[1.0]) == PROFILE.seeds
    missing = c.runs("beta", 2.0)[0].spec.name
    del c.outcomes[missing]
    with pytest.raises(PlanError, match=missing):
        c.runs("beta")
    c.failed = frozenset({missing})            # a failed run is left out: the report already says so
    assert missing not in [o.spec.name for o in c.runs("beta")]
    with pytest.raises(PlanError, match="beta = 3"):
        c.runs("beta", 3.0)
    with pytest.raises(PlanError, match="unknown experiment"):
        c.runs("betta")


def test_a_run_asked_for_by_two_experiments_is_trained_once_with_both_roles():
    specs = run_specs(PROFILES["standard"])
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    centre = next(s for s in specs if s.plays("seeds", PROFILES["standard"].seed))
    assert centre.plays("beta", 1.0) and centre.plays("latent_dim", PROFILES["standard"].sweep_latent_dim)
    reference = next(s for s in specs if s.plays("reference", "mnist"))
    assert reference.plays("anomaly") and reference.anomaly_against == "fashion-mnist" and reference.save_model


def test_names_come_from_the_fields_that_differ_and_never_collide():
    base = base_config(PROFILE)
    swept = dataclasses.replace(base, arch="mlp", latent_dim=16, weight_decay=1e-4)
    assert run_name(swept, base) == "mnist-mlp400-z16-wd0.0001"          # a field no sweep had before
    assert "-fb0.25-" in run_name(dataclasses.replace(swept, free_bits=0.25), base)
    same_name = dataclasses.replace(swept, precision="bf16")                # precision is left out of names
    with pytest.raises(PlanError, match="differ in precision"):
        merge([spec(swept, base), spec(same_name, base)])


# ---------------------------------------------------------------------------------------------
# The sentences: one per declared verdict, placeholders that name numbers, no number compared in a page

def test_every_declared_verdict_has_its_sentence_and_no_sentence_is_left_over():
    from vae.report.wording import check_catalogue
    assert check_catalogue(worded_findings()) == []


def test_a_missing_sentence_or_an_unknown_quantity_is_named(tmp_path, monkeypatch):
    from vae.report import wording
    (tmp_path / "en.yml").write_text("beta_best:\n  one_clear: β = {best_beta:furlongs}\nextra:\n  x: y\n")
    monkeypatch.setattr(wording, "SENTENCES_DIR", tmp_path)
    wording.catalogue.cache_clear()
    try:
        problems = "\n".join(wording.check_catalogue({"beta_best": ("one_clear", "within_spread")}))
    finally:
        wording.catalogue.cache_clear()
    assert "'beta_best' has no sentence for the verdict 'within_spread'" in problems
    assert "unknown quantity 'furlongs'" in problems and "'extra', which no experiment declares" in problems


@pytest.mark.parametrize("reverse", [False, True])
def test_every_sentence_of_every_verdict_names_numbers_its_finding_has(tmp_path, reverse):
    """Each finding's numbers fill every placeholder of every sentence it has (not only the one
    for the verdict it reached), so a retraining that moves the verdict finds its numbers."""
    from vae.report.wording import PLACEHOLDER, WordingError, catalogue, lookup, write_value
    found = verdicts(synthetic_outcomes(tmp_path, reverse))
    for key, sentences in catalogue().items():
        if key.split(".")[0] not in declared_findings():
            continue        # the benchmark's, checked on a benchmark built (tests/test_benchmark.py)
        record = found[key.split(".")[0]]
        for verdict, text in sentences.items():
            for match in PLACEHOLDER.finditer(text):
                if verdict == "unmeasured":
                    pytest.fail(f"{key} (unmeasured) names a number: {match[0]}")
                if record["verdict"] == "unmeasured":
                    continue
                try:
                    write_value(lookup(record, match[1]), match[2])
                except WordingError as err:
                    if verdict == record["verdict"]:
                        pytest.fail(f"{key} ({verdict}), {match[0]}: {err}")
                    # a number that exists only for another verdict (e.g. the epoch a rule stopped at)
                    assert "null" in str(err), f"{key} ({verdict}), {match[0]}: {err}"


def test_the_sentence_follows_the_verdict(both):
    from vae.report.wording import sentence
    found, reversed_ = both
    assert sentence("beta_best", found["beta_best"]).startswith("β = 1 gives the lowest test −ELBO")
    assert "although β = 1 is the only β" in sentence("beta_best", reversed_["beta_best"])
    assert "measured under the same stopping rule, not at convergence" in sentence("beta_runner_up_length",
                                                                found["beta_runner_up_length"])
    assert "stands apart from clothing" in sentence("latent_reading", found["latent_reading"])
    assert "footwear is mixed with clothing" in sentence("latent_reading", reversed_["latent_reading"])
    assert "reconstructions as another class" in sentence("failures_confused_mnist",
                                                           found["failures_confused_mnist"])


CONDITION = re.compile(r"\{%[-+]?\s*(?:el)?if\b(.*?)%\}", re.S)


NUMERIC = re.compile(r"[<>+*/%]|(?<![!=])-|\babs\b|\blength\b|\bcount\b|\bsum\b|\bmax\b|\bmin\b")
VERDICT_TEST = re.compile(r"F\.(\w+)\.verdict\s*(?:==|!=)\s*\"(\w+)\"")


def condition_problems(folder: Path) -> list[str]:
    """A page may branch on a finding's verdict, or on whether a record has a key, never on a
    number: no <, >, arithmetic, abs or length in a condition, no == other than a verdict's, and
    no verdict word that the finding does not declare (a typo would take the else branch)."""
    declared = declared_findings()
    problems = []
    for page in sorted(folder.glob("*.md")):
        for condition in CONDITION.findall(page.read_text(encoding="utf-8")):
            bare = re.sub(r"\"[^\"]*\"", '""', condition)
            verdicts_named = VERDICT_TEST.findall(condition)
            if NUMERIC.search(bare) or bare.count("==") + bare.count("!=") > len(verdicts_named):
                problems.append(f"{page.name}: {{% if{condition}%}} compares numbers")
            problems += [f"{page.name}: {name} declares no verdict {word!r}" for name, word in verdicts_named
                         if word not in declared.get(name, ())]
    return problems


def test_no_page_compares_numbers_to_choose_its_words():
    assert condition_problems(DOCS) == []


def test_the_page_check_catches_a_comparison_and_a_typo(tmp_path):
    (tmp_path / "x.md").write_text('{% if F.beta_best.verdict == "clearr" %}a{% endif %}\n'
                                   '{% if d | abs <= 2 * sd %}b{% endif %} {% if "k" in bench.page %}c{% endif %}')
    problems = condition_problems(tmp_path)
    assert len(problems) == 2 and "declares no verdict 'clearr'" in problems[0]
    assert "compares numbers" in problems[1] and "abs" in problems[1]


def test_page_prose_reads_as_prose():
    """No source line of prose over 200 characters (tables, code and generated snippets apart)."""
    long_lines = []
    for page in sorted(DOCS.glob("*.md")):
        fenced = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            if not fenced and not line.lstrip().startswith("|") and len(line) > 200:
                long_lines.append(f"{page.name}:{number} ({len(line)} characters)")
    assert long_lines == []


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
    """The assets the results pages read, from synthetic runs: findings.json and quoted.json as
    the report writes them, and the few other records the pages quote."""
    import json

    from vae.report.findings import write_findings

    root = c.tables.parent
    write_findings(c, judge_all(c), declared_findings())
    (root / "manifest.json").write_text(json.dumps({"profile": "quick", "profile_settings": dataclasses.asdict(PROFILE),
                                                        "wall_time_s": 60.0, "device": "cpu (x86_64, 1 thread)"}))
    (root / "tables" / "anomaly.json").write_text(json.dumps({"rows": [{"roc_auc": 0.9, "mean_in_score": 150.0,
                                                                         "mean_out_score": 700.0}]}))
    for outcome in c.outcomes.values():
        folder = root / "runs" / outcome.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps({**outcome.metrics, "epochs": outcome.spec.config.epochs,
                                                         "train_examples": 1000}))
        (folder / "config.json").write_text(json.dumps({"config": dataclasses.asdict(outcome.spec.config)},
                                                       default=str))
    # The benchmark's own assets (`make benchmark`), which no report writes: the committed ones.
    shutil.copytree(DOCS / "assets" / "benchmark", root / "benchmark", dirs_exist_ok=True)
    return root


def rendered_both_ways(tmp_path: Path, page_name: str) -> tuple[str, str]:
    """The page rendered from synthetic runs, and from runs whose every finding is reversed."""
    page = DOCS / page_name
    texts = {}
    for reverse in (False, True):
        folder = tmp_path / ("reversed" if reverse else "forward") / "assets"
        folder.mkdir(parents=True)
        texts[reverse] = " ".join(render_page(page, write_assets(synthetic_outcomes(folder, reverse))).split())
    return texts[False], texts[True]


def test_the_conclusions_turn_around_when_the_results_do(tmp_path):
    forward, backward = rendered_both_ways(tmp_path, "conclusions.md")
    assert "β = 1 gives the lowest test −ELBO" in forward and "β = 1 gives the lowest test −ELBO" not in backward
    assert "β of the sweep whose training objective is the bound itself" in forward
    assert "although β = 1 is the only β of the sweep" in backward
    assert "measured under the same stopping rule, not at convergence" in forward and "none was cut short" in backward
    assert "It switches off" in forward and "keeps as many latent units active as β = 1" in backward
    assert "footwear (sandal, sneaker, ankle boot) stands apart from clothing" in forward
    assert "footwear is mixed with clothing" in backward
    assert "higher on Fashion-MNIST than on MNIST" in forward and "lower on Fashion-MNIST than on MNIST" in backward
    assert "nats better, beyond the" in forward and "(twice the standard error of the image-by-image difference" in forward
    assert "nats worse, beyond twice the standard error of the image-by-image difference" in backward
    assert "stay within the" in forward and "still gains more than the" in backward
    # the seed report beside this build: its test −ELBO, judged (the validation curves stay in Evaluation)
    assert "Its test −ELBO is" in forward and "higher than seed report 000's" not in forward
    assert "saves" in forward and "adds" in backward


def test_the_experiments_page_turns_around_when_the_results_do(tmp_path):
    forward, backward = rendered_both_ways(tmp_path, "experiments.md")
    assert "lowers the rate (KL) and raises the distortion" in forward
    assert "does not lower the rate and raise the distortion at every step" in backward
    assert "Its reconstruction term rises by" in forward and "Its reconstruction term falls by" in backward
    assert "keeps 32 units above the active-unit threshold against 2 without it" in forward
    # latent 8 is within the margin of two single runs of the best size
    assert "No size of the sweep above latent 8 improves" in forward and "no larger code improves on it" in backward
