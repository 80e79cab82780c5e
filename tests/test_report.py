"""The report: figure functions, the plan, the number formatter, tables, the classifier, failure
isolation, the report as one transaction, parallel runs, and the quick profile end to end."""

import csv
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from vae import figures, language
from vae.models import MLPVAE
from vae.report import (PROFILES, Profile, ReportError, Role, build_report, describe, format_number,
                        markdown_table, run_specs, snapshot_epochs)
from vae.plumbing.artifacts import ArtifactError
from vae.report import classifier, data_page, plan, run, transaction
from vae.report.experiments import anomaly, training_length
from vae.report.experiments import beta as beta_experiment
from vae.report.tables import Column
from vae.report.transaction import REPORT_ENTRIES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RUN_FILES = ["metrics.json", "metrics.md", "history.csv", "history.md", "config.json", "curves.png",
             "reconstructions_first.png", "reconstructions_mid.png", "reconstructions_final.png",
             "samples_untrained.png", "samples_mid.png", "samples_final.png", "latent.png",
             "interpolation.png", "kl_per_dim.png"]
TABLES = ["runs", "datasets", "reference_epochs_mnist", "reference_epochs_fashion-mnist", "seed_reference",
          "architectures", "beta", "latent_dim", "training_length", "likelihood", "binarized", "anomaly", "class_counts"]
FIGURES = ["beta_sweep.png", "beta_samples.png", "latent_sweep.png", "latent_samples.png", "architectures.png",
           "datasets.png", "datasets_curves.png", "anomaly_hist.png", "likelihood_epochs.png",
           "examples_mnist.png", "examples_fashion-mnist.png", "rate_distortion.png", "length_curve.png",
           "length_reconstructions.png", "length_latent.png"]
LIKELIHOOD_RUNS = {"mnist-bin-mlp200x200-z50-tanh-obias-e5", "mnist-bin-mlp200x200-z50-tanh-iwae5-obias-e5"}
STANDARD_RUNS = {"mnist-conv-z2", "fashion-mnist-conv-z2", "mnist-mlp400-z2", "mnist-mlp512x256-z2",
                 "mnist-mlp400-z8", "mnist-mlp400-z16", "mnist-mlp400-z32", "mnist-mlp400-z16-b0.5",
                 "mnist-mlp400-z16-b2", "mnist-mlp400-z16-b4", "mnist-mlp400-z16-s43", "mnist-mlp400-z16-s44",
                 "mnist-mlp400-z16-e100", "mnist-bin-mlp400-z50",
                 "mnist-mlp400-z32-fb0.1", "mnist-mlp400-z32-fb0.25", "mnist-mlp400-z32-fb0.5", *LIKELIHOOD_RUNS}
TINY = Profile(name="tiny", epochs=1, train_limit=256, val_split=0.02, iwae_k=2, iwae_mlp_images=10, tsne_points=50,
               anomaly_images=100, samples=8, classifier_epochs=1, device="cpu", workers=1)


def select(specs, experiment: str, value=None) -> list:
    """The planned runs that play the role (a run is found by its role, never by a typed name)."""
    return [spec for spec in specs if spec.plays(experiment, value)]


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes (the empty lock file that the site build
    and a landing share is no content)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != transaction.ASSETS_LOCK}


def tiny_specs(data_dir, *latent_dims):
    base = select(run_specs(TINY, data_dir), "latent_dim", 2)[0]                          # mnist-mlp400-z2
    return [dataclasses.replace(base, name=f"mnist-mlp400-z{z}", roles=(Role("latent_dim", z),),
                                config=dataclasses.replace(base.config, latent_dim=z, epochs=1)) for z in latent_dims]


def previous_assets(out: Path) -> dict[str, str]:
    """An output folder holding an older report (its manifest lists its files) and files the report does not own."""
    older = '{"profile": "standard", "files": ["runs/mnist-mlp400-z8/metrics.json", "tables/runs.md"]}'
    for name, text in [("runs/mnist-mlp400-z8/metrics.json", "{}"), ("tables/runs.md", "old table"),
                       ("manifest.json", older), ("bench/bench.md", "bench"), ("README.md", "readme")]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    return snapshot(out)


# ---------------------------------------------------------------------------------------------
# Figures

HISTORY = [{"epoch": e, **{f"{split}_{k}": 100.0 / e + i for i, k in enumerate(("elbo", "recon", "kl"))
                           for split in ("train", "val")}} for e in (1, 2, 3)]


@pytest.mark.parametrize("draw", [
    lambda p: figures.plot_training_curves(HISTORY, p, "run"),
    lambda p: figures.plot_reconstructions(torch.rand(10, 1, 28, 28), torch.rand(10, 1, 28, 28), p, "r"),
    lambda p: figures.plot_prior_samples(torch.rand(32, 1, 28, 28), p, "samples"),
    lambda p: figures.plot_latent_space(torch.randn(200, 2), torch.arange(200) % 10, [str(d) for d in range(10)], p),
    lambda p: figures.plot_latent_manifold(torch.rand(400, 1, 28, 28), torch.linspace(-1.6, 1.6, 20), p),
    lambda p: figures.plot_interpolations(torch.rand(3, 6, 1, 28, 28), torch.rand(3, 1, 28, 28),
                                          torch.rand(3, 1, 28, 28), [("0", "1"), ("2", "3"), ("4", "5")], p),
    lambda p: figures.plot_kl_per_dimension(torch.rand(64), list(range(10)), p, "run", 0.05),
    lambda p: figures.plot_sweep_spread([0.5, 1, 2], [{"elbo": 3, "recon": 2, "kl": 1}] * 3,
                                        [{"elbo": None, "recon": None, "kl": None}, {"elbo": 0.1, "recon": 0.1, "kl": 0.1},
                                         {}], "β", p, log_x=True),
    lambda p: beta_experiment.plot_rate_distortion({"β": [{"label": "β=1", "kl": 5.0, "recon": 100.0, "kl_sd": 0.2,
                                                   "recon_sd": 0.3}, {"label": "β=2", "kl": 3.0, "recon": 104.0}]}, p),
    lambda p: figures.plot_failures(torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28), ["a\n1", "b\n2", "c\n3"], p),
    lambda p: figures.plot_latent_panels({"epoch 1": (torch.randn(50, 2), torch.randint(0, 3, (50,)))},
                                         ["0", "1", "2"], p),
    lambda p: training_length.plot_length_curve([{"epoch": e, "val_elbo": 100 + 10 / e} for e in range(1, 8)], (100.0, 0.2),
                                        4, [2, 5], p),
    lambda p: figures.plot_image_panels({f"β = {b}": torch.rand(32, 1, 28, 28) for b in (0.5, 1, 2, 4)}, p),
    lambda p: figures.plot_image_panels({}, p),
    lambda p: figures.plot_class_examples({str(c): torch.rand(10, 1, 28, 28) for c in range(10)}, p),
    lambda p: figures.plot_curve_comparison({"a": HISTORY, "b": HISTORY}, p),
    lambda p: anomaly.plot_anomaly_histogram(torch.randn(100), torch.randn(100) + 2, "MNIST test (in distribution)",
                                             "Fashion-MNIST test (outliers)", 0.9, p),
], ids=["curves", "reconstructions", "samples", "latent", "manifold", "interpolations", "kl", "sweep",
        "rate-distortion", "failures", "latent-panels", "length-curve", "panels", "panels-empty", "class-examples",
        "curve-comparison", "anomaly"])
def test_each_figure_function_writes_one_png_readable_at_natural_size(tmp_path, draw):
    path = tmp_path / "sub" / "figure.png"
    assert draw(path) == path
    assert is_png(path)
    # the figure and its Portuguese copy (vae.language), no temporary file left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["figure.png", "figure.pt.png"]
    from PIL import Image
    with Image.open(path) as image:
        assert image.width <= 880                                    # fits an ~850 px column, a little margin
    assert figures.text_px(path) >= 13.0                              # 10 pt at 100 dpi is 13.9 px


def test_the_failure_labels_stay_inside_their_columns_in_every_language(tmp_path, monkeypatch):
    # "Bota de cano curto" and "Camiseta/top" ran into their neighbours in the Portuguese copy
    drawn = {}
    monkeypatch.setattr(figures, "save_png", lambda fig, path: drawn.setdefault("fig", fig) and Path(path))
    labels = [f"T-shirt/top\n→ Ankle boot\n{600 + i}" for i in range(10)]
    figures.plot_failures(torch.rand(10, 1, 28, 28), torch.rand(10, 1, 28, 28), labels, tmp_path / "f.png")
    fig = drawn["fig"]
    for edition in ("en", *figures.TRANSLATED):
        if edition != "en":
            figures.translate_figure(fig, edition)
        fig.canvas.draw()
        boxes = [ax.title.get_window_extent() for ax in fig.axes[:10]]   # the top row, left to right
        assert all(left.x1 <= right.x0 for left, right in zip(boxes, boxes[1:])), edition
    assert language.narrow("→ Bota de cano curto") == "→ Bota de\ncano curto"
    assert language.narrow("Camiseta/top") == "Camiseta/\ntop"


def test_the_recorded_text_size_is_the_smallest_font_of_the_figure(tmp_path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.set_title("big", fontsize=20)
    ax.text(0.5, 0.5, "small", fontsize=7.2)
    assert figures.smallest_text_px(fig) == pytest.approx(10.0)
    plt.close(fig)


def test_the_rate_distortion_figure_labels_a_shared_point_once_and_overlaps_no_labels(tmp_path, monkeypatch):
    drawn = {}

    def keep(fig, path):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        drawn["labels"] = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.axes[0].texts
                           if t.get_text().strip()[:1] in ("β", "z")]
        return Path(path)
    monkeypatch.setattr(figures, "save_png", keep)
    centre = {"kl": 23.3, "recon": 83.3, "kl_sd": 0.15, "recon_sd": 0.22}
    beta_experiment.plot_rate_distortion({
        "β": [{"label": "β = 0.5", "kl": 30.3, "recon": 78.2}, {"label": "β = 1", **centre},
              {"label": "β = 4", "kl": 9.4, "recon": 113.1}],
        "z": [{"label": "z = 2", "kl": 5.8, "recon": 150.0}, {"label": "z = 16", **centre},
              {"label": "z = 32", "kl": 26.5, "recon": 79.9}]}, tmp_path / "rd.png")
    texts = [text for text, _ in drawn["labels"]]
    assert sorted(texts) == sorted(["β = 0.5", "β = 1, z = 16", "β = 4", "z = 2", "z = 32"])
    boxes = [box for _, box in drawn["labels"]]
    assert not [(texts[i], texts[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                if boxes[i].overlaps(boxes[j])]


def test_image_grid_tiles_images_row_by_row():
    images = torch.zeros(3, 1, 2, 2)
    images[1] = 1.0
    grid = figures.image_grid(images, columns=2, padding=1)
    assert grid.shape == (5, 5)
    assert grid[0:2, 3:5].min() == 1.0 and grid[0:2, 0:2].max() == 0.0


# ---------------------------------------------------------------------------------------------
# The plan

def test_standard_runs_follow_the_name_scheme_of_the_asset_readme():
    names = [spec.name for spec in run_specs(PROFILES["standard"])]
    assert len(names) == len(set(names))
    assert set(names) == STANDARD_RUNS
    assert names[0] == "mnist-conv-z2"
    readme = (Path(__file__).resolve().parents[1] / "docs" / "assets" / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names)


def test_full_profile_adds_the_long_runs_and_wider_sweeps():
    specs = {spec.name: spec for spec in run_specs(PROFILES["full"])}
    assert STANDARD_RUNS - LIKELIHOOD_RUNS - {"mnist-mlp400-z16-e100"} <= set(specs)
    assert specs["mnist-conv-z2-e100"].config.epochs == 100
    assert {"mnist-conv-z2-e50", "mnist-mlp400-z16-b8", "mnist-mlp400-z64"} <= set(specs)


def test_every_run_of_a_profile_trains_with_its_settings():
    quick = PROFILES["quick"]
    for spec in run_specs(quick, "somewhere"):
        sweep = any(spec.plays(e) for e in ("latent_dim", "beta", "seeds", "free_bits")) \
            or spec.plays("architecture", "mlp512x256")
        if sweep:      # until the stopping rule, at most the cap
            assert (spec.config.epochs, spec.config.stop_window) == (quick.sweep_epoch_cap, quick.stop_window)
        elif spec.plays("training_length"):
            assert spec.config.epochs == max(quick.length_epochs) and spec.config.stop_window == 0
        elif not spec.plays("likelihood"):
            assert spec.config.epochs == quick.epochs and spec.config.stop_window == 0
        assert spec.config.train_limit == quick.train_limit and spec.config.data_dir == "somewhere"
        spec.config.validate()
    binarized = select(run_specs(quick), "binarized", "mlp400")
    assert len(binarized) == 1 and binarized[0].config.latent_dim >= 50


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_every_profile_measures_the_spread_at_the_sweeps_centre(profile):
    p = PROFILES[profile]
    specs = run_specs(p)
    centre = select(specs, "seeds")
    assert [s.seed for s in centre] == [p.seed + i for i in range(p.seeds)] and p.seeds >= 3
    assert centre[0].plays("beta", 1.0) and centre[0].plays("latent_dim", p.sweep_latent_dim)
    assert len(select(specs, "reference")) == 2 and len(select(specs, "training_length")) == 1
    assert {s.config.seed for s in specs if not s.plays("seeds")} == {p.seed}


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_the_likelihood_experiment_trains_burdas_mlp_as_a_vae_and_an_iwae(profile):
    vae, = select(run_specs(PROFILES[profile]), "likelihood", "elbo")
    iwae, = select(run_specs(PROFILES[profile]), "likelihood", "iwae")
    for spec in (vae, iwae):
        c = spec.config.validate()
        assert (c.arch, c.hidden, c.latent_dim, c.activation, c.binarize) == ("mlp", (200, 200), 50, "tanh", True)
        assert spec.likelihood and spec.bound_by_epoch and c.init_output_bias
        assert c.kl_warmup_epochs < c.epochs
    assert (vae.config.objective, vae.config.k) == ("elbo", 1)
    assert (iwae.config.objective, iwae.config.k) == ("iwae", PROFILES[profile].likelihood_train_k)
    assert PROFILES[profile].likelihood_train_k in (5, 50)          # the two k of Burda et al.'s table
    assert (vae.config.epochs, iwae.config.epochs) == PROFILES[profile].likelihood_epochs


def test_only_the_full_profile_trains_the_likelihood_runs_long_with_a_schedule_and_warm_up():
    full, standard = PROFILES["full"], PROFILES["standard"]
    assert min(full.likelihood_epochs) >= 500 and full.likelihood_lr_schedule == "cosine"
    assert full.likelihood_kl_warmup_epochs > 0 and full.iwae_k == 5000 and full.iwae_mlp_images == 10_000
    assert max(standard.likelihood_epochs) <= 10 and PROFILES["quick"].likelihood_epochs < standard.likelihood_epochs


@pytest.mark.parametrize("epochs,expected", [(10, (1, 5, 10)), (50, (1, 5, 50)), (5, (1, 3, 5)),
                                             (2, (1, 1, 2)), (1, (1, 1, 1))])
def test_snapshots_at_epoch_1_5_and_last_or_the_middle_of_short_runs(epochs, expected):
    assert tuple(snapshot_epochs(epochs).values()) == expected


@pytest.mark.parametrize("changes,words", [
    (dict(arch="conv"), "ConvVAE, latent 2"),
    (dict(arch="mlp", hidden=(400,), latent_dim=16, beta=2.0), "MLP 784-400, latent 16, β = 2"),
    (dict(arch="mlp", hidden=(200, 200), latent_dim=50, activation="tanh", objective="iwae", k=50, binarize=True),
     "MLP 784-200-200 tanh, latent 50, IWAE k = 50, binarized"),
    (dict(arch="conv", dataset="fashion-mnist"), "Fashion-MNIST, ConvVAE, latent 2"),
])
def test_describe_names_a_run_in_words(changes, words):
    assert describe(dataclasses.replace(plan.TrainConfig(), **changes)) == words


@pytest.mark.parametrize("epochs", [1, 2, 5, 40, 670, 1200])
def test_the_test_bound_is_measured_at_most_41_times_from_the_first_epoch_to_the_last(epochs):
    measured = sorted(run.bound_epochs(epochs))
    assert measured[0] == 1 and measured[-1] == epochs and len(measured) <= 41
    if epochs <= 5:
        assert measured == list(range(1, epochs + 1))                   # a short run: every epoch


# ---------------------------------------------------------------------------------------------
# Numbers and tables

@pytest.mark.parametrize("value,quantity,text", [
    (148.2099, "nats", "148.21"), (-0.5, "nats", "\u22120.50"), (1234.5, "nats", "1,234.50"),
    (0.79075, "auc", "0.791"), (0.31112515, "per_pixel", "0.3111"), (44.8, "seconds", "44.8"),
    (1.04, "seconds", "1.0"), (0.0069384, "milliseconds", "6.94"), (2233.0, "minutes", "37.2"),
    (315365, "count", "315,365"), (0.5, "setting", "0.5"), (2.0, "setting", "2"),
    (None, "nats", "–"), ("-ELBO", "text", "\u2212ELBO"), ("MLP 784-400", "text", "MLP 784-400"),
])
def test_one_formatter_fixes_the_decimals_of_each_quantity_and_writes_a_true_minus(value, quantity, text):
    assert format_number(value, quantity) == text


def test_a_column_must_name_a_known_quantity():
    with pytest.raises(ValueError, match="quantity"):
        Column("elbo", "-ELBO", "nat")


def test_markdown_table_formats_each_column_by_its_quantity_with_minus_signs_in_headers():
    text = markdown_table([{"run": "a", "elbo": 148.2099, "params": 315365, "auc": 0.5}],
                          [Column("run", "run"), Column("elbo", "-ELBO", "nats"), Column("params", "params", "count"),
                           Column("auc", "ROC AUC", "auc")])
    assert text.splitlines() == ["| run | \u2212ELBO | params | ROC AUC |", "|---|---:|---:|---:|",
                                 "| a | 148.21 | 315,365 | 0.500 |"]


# ---------------------------------------------------------------------------------------------
# The classifier

def test_the_classifier_learns_a_separable_toy_problem_and_reports_its_test_accuracy():
    from vae.data import Splits
    generator = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 2
    x = torch.rand(400, 1, 28, 28, generator=generator) * 0.2
    x[y == 1, :, :14] += 0.8                        # class 1: bright top half
    splits = Splits(x[:300], y[:300], x[:0], y[:0], x[300:], y[300:], classes=("dark", "bright"))
    model, accuracy = classifier.train_classifier(splits, epochs=3, seed=0)
    assert accuracy == 1.0
    assert classifier.predict(model, x[300:]).tolist() == y[300:].tolist()


def fake_splits(classes=("a", "b", "c")):
    from vae.data import Splits
    y = torch.tensor([0, 0, 1, 2, 2, 2])
    x = torch.rand(6, 1, 28, 28)
    return Splits(x, y, x[:2], y[:2], x[2:], y[2:], classes=classes)


def test_class_counts_give_each_split_of_each_dataset_per_class(tmp_path):
    data_page.class_counts_table({"mnist": fake_splits(("0", "1", "2")), "fashion-mnist": fake_splits()}, tmp_path)
    rows = json.loads((tmp_path / "class_counts.json").read_text())["rows"]
    assert [(r["mnist_train"], r["mnist_val"], r["mnist_test"]) for r in rows] == [(2, 2, 0), (1, 0, 1), (3, 0, 3)]
    assert [r["fashion-mnist_name"] for r in rows] == ["a", "b", "c"]
    header = (tmp_path / "class_counts.md").read_text().splitlines()[0]
    assert "MNIST train" in header and "Fashion-MNIST test" in header and "mnist_name" not in header


def test_reconstruction_classes_count_the_images_the_classifier_puts_in_their_originals_class():
    splits = fake_splits()
    judge = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3))
    with torch.no_grad():
        judge[1].weight.zero_()
        judge[1].bias.copy_(torch.tensor([0.0, 0.0, 1.0]))        # always says class 2
    model = MLPVAE(2, (16,))
    kept = run.reconstruction_classes(splits, torch.rand(2, 1, 28, 28), judge, model)
    rate = kept.pop("reconstruction_class_rate")
    assert kept == {"reconstructions_shown": 2, "reconstruction_classes_kept": 1,
                    "reconstruction_classes_predicted": [2, 2]}                   # test classes 1 and 2
    # On the test images (classes 1, 2, 2, 2) a judge that always says 2 is right three times in four.
    assert rate["images"] == 4 and rate["kept"] == 0.75 and rate["standard_error"] == pytest.approx(0.25)
    assert run.reconstruction_classes(splits, torch.rand(2, 1, 28, 28), None, model) == {}


def test_landing_puts_back_every_entry_if_one_cannot_be_swapped_in(tmp_path, monkeypatch):
    out = tmp_path / "assets"
    before = previous_assets(out)
    staging = transaction.open_staging(out)
    for name in ("runs", "tables", "figures"):
        (staging / name).mkdir()
        (staging / name / "new.txt").write_text("new")
    real_rename = Path.rename

    def rename_or_fail(self, target):
        if self.parent == staging / "figures":
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename_or_fail)
    with pytest.raises(ArtifactError, match="left as it was"):
        transaction.land(staging, out)
    monkeypatch.undo()
    assert snapshot(out) == before
    transaction.discard(staging)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]


# ---------------------------------------------------------------------------------------------
# Failures and the transaction

@pytest.mark.slow
def test_a_failing_run_leaves_the_folder_unchanged_and_keeps_the_others_outside_it(tmp_path, data_dir,
                                                                                   english_figures_only):
    out = tmp_path / "assets"
    before = previous_assets(out)
    good, bad = tiny_specs(data_dir, 2, 8)
    bad = dataclasses.replace(bad, config=dataclasses.replace(bad.config, lr=-1.0))
    with pytest.raises(ReportError, match="1 of 2 runs failed") as failure:
        build_report(TINY, data_dir, out, log=lambda message: None, specs=[good, bad])
    assert snapshot(out) == before
    kept = Path(str(failure.value).rsplit("kept in ", 1)[1])
    assert kept.parent == tmp_path and "unchanged" in str(failure.value)      # beside --out, not inside it
    assert is_png(kept / "runs" / "mnist-mlp400-z2" / "manifold.png")
    assert not (kept / "runs" / "mnist-mlp400-z8").exists()
    assert "mnist-mlp400-z8" in json.loads((kept / "manifest.json").read_text())["failed_runs"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["one-at-a-time", "two-worker-processes"])
def test_an_interrupted_report_leaves_the_folder_exactly_as_it_was(tmp_path, data_dir, workers, english_figures_only):
    """Also with worker processes, where the interruption reaches a callback in the thread that reads their
    progress: the main thread raises it, the runs in progress are stopped."""
    out = tmp_path / "assets"
    before = previous_assets(out)

    def interrupt_after_two_runs(message: str) -> None:
        if message.startswith("[2/3]"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_report(TINY, data_dir, out, log=interrupt_after_two_runs, specs=tiny_specs(data_dir, 2, 3, 4),
                     workers=workers)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]           # no staging folder left anywhere


@pytest.mark.slow
def test_a_complete_report_replaces_every_report_entry_and_nothing_else(tmp_path, data_dir, english_figures_only):
    out = tmp_path / "assets"
    previous_assets(out)
    manifest = build_report(TINY, data_dir, out, log=lambda message: None, specs=tiny_specs(data_dir, 2))
    assert [run["name"] for run in manifest["runs"]] == ["mnist-mlp400-z2"]
    assert not (out / "runs" / "mnist-mlp400-z8").exists()                   # a run of the older report is gone
    assert (out / "bench" / "bench.md").read_text() == "bench" and (out / "README.md").read_text() == "readme"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]
    assert set(p.name for p in out.iterdir()) == ({"bench", "README.md", transaction.ASSETS_LOCK}
                                                  | (set(REPORT_ENTRIES) - {"explorer"}))


@pytest.mark.slow
def test_two_worker_processes_write_the_same_manifest_as_one(tmp_path, data_dir):
    """Also: each worker's epochs are shown under its own run, although the workers start the costlier run
    (latent 3) first, out of plan order."""
    specs = tiny_specs(data_dir, 2, 3)
    one = build_report(TINY, data_dir, tmp_path / "one", log=lambda message: None, specs=specs, workers=1)
    lines: list[str] = []
    two = build_report(TINY, data_dir, tmp_path / "two", log=lines.append, specs=specs, workers=2)
    epoch_lines = [re.match(r"\[(\d+)/\d+\] (\S+) epoch", line) for line in lines]
    shown = [(int(match[1]), match[2]) for match in epoch_lines if match]
    assert sorted(shown) == [(1, specs[0].name), (2, specs[1].name)]

    def without_timings(manifest):
        text = json.dumps(manifest["runs"])
        runs = json.loads(text)
        for run in runs:   # timings, and the machine record, which names each run's threads (all, or one per worker)
            for key in ("wall_time_s", "report_time_s", "device"):
                run.pop(key)
            for key in ("wall_time_s", "epoch_time_s", "epoch_time_median_s", "first_epoch_time_s", "device_name"):
                run["metrics"].pop(key)
        return runs, manifest["tables"], manifest["figures"], manifest["figure_text_px"]

    assert without_timings(one) == without_timings(two)
    assert snapshot(tmp_path / "one" / "tables").keys() == snapshot(tmp_path / "two" / "tables").keys()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_that_continues_another_writes_what_it_would_alone_without_training_its_epochs_again(
        tmp_path, data_dir, workers):
    """The long run goes on from where the run under the stopping rule stopped (here after epoch 2),
    in the same worker: the same history, metrics, figures and tables as when it trains alone."""
    tiny = tiny_specs(data_dir, 2)[0]
    ruled = dataclasses.replace(tiny, config=dataclasses.replace(tiny.config, epochs=4, stop_window=1,
                                                                  stop_min_gain=1e6))   # stops after epoch 2
    longer = dataclasses.replace(tiny, name=f"{tiny.name}-e4", roles=(), snapshot_epochs=(1, 4), bound_by_epoch=True,
                                 config=dataclasses.replace(tiny.config, epochs=4), continues=ruled.name)
    alone = build_report(TINY, data_dir, tmp_path / "alone", log=lambda message: None, workers=workers,
                         specs=[ruled, dataclasses.replace(longer, continues=None)])
    lines: list[str] = []
    chained = build_report(TINY, data_dir, tmp_path / "chained", log=lines.append, workers=workers,
                           specs=[ruled, longer])
    trained = [re.match(r"\[\d+/\d+\] (\S+) epoch +(\d+)", line) for line in lines]
    assert [(m[1], int(m[2])) for m in trained if m] == [(ruled.name, 1), (ruled.name, 2),
                                                       (longer.name, 3), (longer.name, 4)]
    assert chained["progress"]["continued_by"] == {ruled.name: longer.name}

    def without_timings(manifest):
        runs = json.loads(json.dumps(manifest["runs"]))
        for run in runs:
            for key in ("wall_time_s", "report_time_s", "device"):
                run.pop(key)
            for key in ("wall_time_s", "epoch_time_s", "epoch_time_median_s", "first_epoch_time_s", "device_name"):
                run["metrics"].pop(key)
        return runs, manifest["figures"]

    assert without_timings(chained) == without_timings(alone)
    assert alone["runs"][1]["metrics"]["epochs_trained"] == 4 and alone["runs"][0]["metrics"]["stopped_early"]
    for name in ("history.csv", "test_bound.csv"):
        def rows(folder):
            return [{k: v for k, v in row.items() if k != "epoch_time_s"}
                    for row in csv.DictReader((folder / "runs" / longer.name / name).open())]
        assert rows(tmp_path / "chained") == rows(tmp_path / "alone")


def test_report_rejects_an_unknown_profile_in_one_line(run_vae, tmp_path):
    result = run_vae("report", "--profile", "huge", "--out", tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--profile" in result.stderr
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# The quick profile end to end

@pytest.mark.slow
def test_quick_profile_writes_every_file_of_the_asset_contract(shared_report):
    out, manifest, profile = shared_report.out, shared_report.manifest, shared_report.profile

    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    assert manifest["profile"] == "quick" and manifest["wall_time_s"] > 0 and not manifest["failed_runs"]
    expected = {spec.name: spec for spec in run_specs(profile)}
    assert [run["name"] for run in manifest["runs"]] == list(expected)
    for run in manifest["runs"]:
        folder = out / "runs" / run["name"]
        latent = expected[run["name"]].config.latent_dim
        wanted = RUN_FILES + (["manifold.png"] if latent == 2 else ["latent_tsne.png"])
        for name in wanted:
            assert (folder / name).is_file(), f"{run['name']}/{name} is missing"
        assert (folder / "manifold.png").exists() == (latent == 2)
        assert (folder / "latent_tsne.png").exists() == (latent > 2)
        assert all(is_png(out / f) for f in run["figures"])
        metrics = run["metrics"]
        assert metrics["test"]["elbo"] > 0 and metrics["best_epoch"] >= 1
        assert metrics["first_epoch_time_s"] > 0 and metrics["epoch_time_median_s"] > 0
        assert 0 <= metrics["reconstruction_classes_kept"] <= metrics["reconstructions_shown"] == 10
        assert len(metrics["active_dimensions"]) == metrics["active_units"]
        assert metrics["hit_cap"] == (metrics["epochs_trained"] == run["epochs"] and not metrics["stopped_early"]
                                      and expected[run["name"]].config.stop_window > 0)
    # Every figure's text size is recorded; the explorer's sprites are image data, not figures.
    every_png = {str(p.relative_to(out)) for p in out.rglob("*.png")}
    assert set(manifest["figure_text_px"]) == {p for p in every_png if "/explorer/" not in p}
    assert min(manifest["figure_text_px"].values()) >= 13.0
    for name in ("mnist-conv-z2", "fashion-mnist-conv-z2"):
        state = torch.load(out / "runs" / name / "model.pt", weights_only=True)
        assert state["config"]["arch"] == "conv" and "fc_mu.weight" in state["model"]
        import numpy as np
        latents = np.load(out / "runs" / name / "latents.npz")
        images = shared_report.profile.test_limit
        assert latents["mu"].shape == (images, 2) and latents["labels"].shape == (images,)
        assert len(latents["classes"]) == 10
    for name in ("mnist-conv-z2", "fashion-mnist-conv-z2"):   # the latent explorer, in each reference run's folder
        folder = out / "runs" / name / "explorer"
        explorer_spec = json.loads((folder / "explorer.json").read_text())
        assert explorer_spec["frames"]["epochs"] == list(range(profile.epochs + 1))
        assert all(is_png(folder / f) for f in ("originals.png", "frames.png"))
        assert (folder / "model.bin").stat().st_size > 0
    assert not (out / "explorer").exists()            # nothing outside the runs' own folders
    for table in TABLES:
        for suffix in ("md", "csv", "json"):
            assert (out / "tables" / f"{table}.{suffix}").is_file(), f"tables/{table}.{suffix} is missing"
        assert "-ELBO" not in (out / "tables" / f"{table}.md").read_text()       # a true minus, never a hyphen
    for figure in FIGURES:
        assert is_png(out / "figures" / figure), f"figures/{figure} is missing"
    accuracy = json.loads((out / "classifier.json").read_text())
    assert set(accuracy) == {"mnist", "fashion-mnist"} and all(0 < a["test_accuracy"] <= 1 for a in accuracy.values())
    counts = json.loads((out / "tables" / "class_counts.json").read_text())["rows"]
    assert sum(row["mnist_test"] for row in counts) == profile.test_limit
    assert sum(row["mnist_train"] for row in counts) == profile.train_limit
    likelihood = json.loads((out / "tables" / "likelihood.json").read_text())["rows"]
    binarized = {name for name, spec in expected.items() if spec.config.binarize}
    assert {row["run"] for row in likelihood} == binarized and len(binarized) == 3     # binary pixels only
    assert all(row["nll"] <= row["negative_elbo"] + 1.0 for row in likelihood)
    binarized = json.loads((out / "tables" / "binarized.json").read_text())["rows"]
    planned = run_specs(profile)
    likelihood_runs = {s.name for s in planned if s.plays("likelihood")}
    assert {row["run"] for row in binarized if "run" in row} == {s.name for s in planned if s.plays("binarized")}
    assert all((out / "runs" / name / "test_bound.csv").is_file() for name in likelihood_runs)
    assert 0.0 <= json.loads((out / "tables" / "anomaly.json").read_text())["rows"][0]["roc_auc"] <= 1.0
    record = json.loads((out / "findings.json").read_text())
    found = record["findings"]
    assert record["runs"]["reference"]["fashion-mnist"] == ["fashion-mnist-conv-z2"]
    assert len(record["runs"]["beta"]["1"]) == PROFILES["quick"].seeds
    assert found["yardstick"]["numbers"]["seeds"] == PROFILES["quick"].seeds
    from vae.report.experiments import declared_findings
    assert set(found) == set(declared_findings())
    assert json.loads((out / "tables" / "quoted.json").read_text())["quoted"] is True
    for name in ("mnist-conv-z2", "fashion-mnist-conv-z2"):
        assert is_png(out / "runs" / name / "failures.png")
    assert not [p for p in out.rglob("*.pt") if p.name != "model.pt"]    # checkpoints stay out of the assets
    assert [p.name for p in out.rglob(".*")] == [transaction.ASSETS_LOCK]   # no staging or temporary files
    # beside the assets, the shared fixture's own two files (support/shared.py) and no staging folder
    assert sorted(p.name for p in out.parent.iterdir()) == [".made", "assets", "report.json"]


@pytest.mark.slow
def test_the_names_declared_before_training_are_exactly_the_tables_and_figures_the_report_writes(shared_report):
    # transaction.check_out refuses a user's file at any of these names before training (build.py):
    # a name missing here would be refused only at landing, after all the training.
    from vae.report.experiments import output_names

    manifest = shared_report.manifest
    datasets = {run["dataset"] for run in manifest["runs"]}
    declared = {*output_names(), *data_page.output_names(datasets)}
    assert {n for n in declared if n.startswith(("tables/", "figures/"))} == {*manifest["tables"], *manifest["figures"]}
    assert {n for n in declared if not n.startswith(("tables/", "figures/"))} == {"findings.json"}
    assert "findings.json" in manifest["files"]


def test_a_run_writes_only_its_folder_and_the_listed_explorer_and_one_record_of_each_kind(shared_report):
    from vae.plumbing.consistency import problems

    out, manifest = shared_report.out, shared_report.manifest
    assert problems(out) == []
    assert manifest["explorer"] == sorted(str(p.relative_to(out)) for p in out.glob("runs/*/explorer/*") if p.is_file())
    assert {path.split("/")[1] for path in manifest["explorer"]} == {"mnist-conv-z2", "fashion-mnist-conv-z2"}
    assert all(f not in run["files"] for run in manifest["runs"] for f in ("explorer", "explorer.json"))
    listed = set(manifest["tables"]) | set(manifest["figures"]) | set(manifest["explorer"]) \
        | {f for run in manifest["runs"] for f in run["files"]} | {"manifest.json", "classifier.json", "findings.json"}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {transaction.ASSETS_LOCK} == listed
    assert set(manifest["files"]) == listed - {"manifest.json"}     # what the next report may replace
    for run in manifest["runs"]:       # the trainer's three records, once each, in the trainer's format
        folder = out / "runs" / run["name"]
        assert set(json.loads((folder / "config.json").read_text())) == {
            "config", "device", "device_name", "environment", "wall_time_s"}
        assert json.loads((folder / "metrics.json").read_text()) == run["metrics"]
        assert (folder / "history.csv").read_text().splitlines()[0].split(",")[:2] == ["epoch", "train_loss"]


@pytest.mark.slow
def test_a_report_checks_each_data_file_once_and_logs_every_phase_and_epoch(shared_report):
    assert len(shared_report.md5_checks) == 8 and set(shared_report.md5_checks.values()) == {1}
    log = shared_report.log
    for dataset in ("mnist", "fashion-mnist"):
        assert any(line.startswith(f"classifier ({dataset}): training") for line in log)
    assert any(line.startswith("data page:") for line in log)
    runs = shared_report.manifest["runs"]
    epoch_lines = [line for line in log if " epoch " in line and not re.search("best epoch|resuming", line)]
    trained = {run["name"]: run["metrics"]["epochs_trained"] for run in runs}
    continued_by = shared_report.manifest["progress"]["continued_by"]    # a continued run's first epochs are not its own
    assert continued_by and len(epoch_lines) == sum(trained.values()) - sum(trained[first] for first in continued_by)
    assert epoch_lines[0].startswith(f"[1/{len(runs)}] {runs[0]['name']} epoch   1/")
    assert all("left)" in line for line in epoch_lines)


class Clock:
    """time.perf_counter for the progress, set by the test."""
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_progress_counts_the_plans_epochs_and_estimates_the_time_left(monkeypatch):
    from vae.report import progress

    specs = tiny_specs("data", 2, 3)
    specs = [dataclasses.replace(specs[0], config=dataclasses.replace(specs[0].config, epochs=3)), specs[1]]
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    lines: list[str] = []
    shown = progress.ReportProgress(specs, lines.append, live=False)
    shown.plan({s.name: 10.0 for s in specs}, {s.name: 0.0 for s in specs}, 1, [s.name for s in specs])
    on_epoch, log = shown.for_run(0, specs[0])
    on_epoch(0, None, None)                       # the untrained model: not an epoch
    for epoch in (1, 2):
        clock.now += 10.0                         # each epoch as long as measured
        log(f"epoch {epoch}/3  train -ELBO 1.0")
        on_epoch(epoch, None, None)
    assert lines == ["[1/2] mnist-mlp400-z2 epoch 1/3  train -ELBO 1.0  (report: about 30 s left)",
                     "[1/2] mnist-mlp400-z2 epoch 2/3  train -ELBO 1.0  (report: about 20 s left)"]
    shown.run_done(specs[0])                      # a run that stopped early: its last epoch is counted too
    assert (shown.epochs_done, shown.runs_done, shown.total_epochs) == (3, 1, 4)
    assert shown.time_left_s() == pytest.approx(10.0)     # only the second run's epoch is left


def test_the_time_left_lays_the_queued_runs_on_the_workers_at_the_measured_pace(monkeypatch):
    from vae.report import progress

    conv, *mlps = tiny_specs("data", 2, 3, 4, 5)
    conv = dataclasses.replace(conv, config=dataclasses.replace(conv.config, arch="conv", epochs=3))
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    shown = progress.ReportProgress([conv, *mlps], lambda line: None, live=False)
    epochs = {s.name: s.config.epochs for s in (conv, *mlps)}
    costs = {conv.name: 100.0, **{s.name: 10.0 for s in mlps}}
    shown.plan(costs, {s.name: 0.0 for s in (conv, *mlps)}, 2, [conv.name, *(s.name for s in mlps)])
    # Two workers: the long run on one, the three short ones one after another on the other.
    assert shown.time_left_s() == pytest.approx(max(100.0 * epochs[conv.name],
                                                    sum(10.0 * epochs[s.name] for s in mlps)))
    shown.run_started(conv)
    shown.run_started(mlps[0])
    on_epoch, _ = shown.for_run(1, mlps[0])
    clock.now = 30.0            # a run's first epoch also holds its start: it sets no pace
    on_epoch(1, None, None)
    assert shown.pace() == pytest.approx(1.0)
    clock.now = 45.0            # the second short epoch took 15 s against 10 predicted: 1.5x slower,
    on_epoch(2, None, None)     # drawn towards 1 by the prior's epochs at the predicted time
    prior = progress.ReportProgress.PRIOR_EPOCHS
    mlp_pace = (15.0 + prior * 10.0) / (10.0 + prior * 10.0)
    assert shown.pace() == pytest.approx(mlp_pace) and 1.0 < mlp_pace < 1.5
    conv_left = mlp_pace * 100.0 * epochs[conv.name] - 45.0   # no ConvVAE epoch yet: every kind's pace
    mlp_left = mlp_pace * 10.0 * (epochs[mlps[0].name] - 2) + sum(mlp_pace * 10.0 * epochs[s.name] for s in mlps[1:])
    assert shown.time_left_s() == pytest.approx(max(conv_left, mlp_left))
    # The ConvVAE's second epoch takes what was predicted: its kind keeps its own pace, the MLPs theirs.
    on_conv_epoch, _ = shown.for_run(0, conv)
    clock.now = 120.0
    on_conv_epoch(1, None, None)
    clock.now = 220.0
    on_conv_epoch(2, None, None)
    assert (shown.pace(conv.config.arch), shown.pace(mlps[0].config.arch)) == pytest.approx((1.0, mlp_pace))
    conv_left = 100.0 * (epochs[conv.name] - 2)                  # at the ConvVAE's pace, not the mean one
    mlp_left = max(mlp_pace * 10.0 * (epochs[mlps[0].name] - 2) - 175.0, 0.0) + sum(
        mlp_pace * 10.0 * epochs[s.name] for s in mlps[1:])
    assert shown.time_left_s() == pytest.approx(max(conv_left, mlp_left))


def ruled(spec, cap: int):
    """`spec` trained until the stopping rule, at most `cap` epochs."""
    return dataclasses.replace(spec, config=dataclasses.replace(spec.config, epochs=cap, stop_window=3))


def test_a_run_under_the_stopping_rule_is_expected_to_train_what_the_last_report_recorded():
    from vae.report.progress import expected_epochs

    fixed, recorded, other_cap, unknown = tiny_specs("data", 2, 8, 16, 32)
    fixed = dataclasses.replace(fixed, config=dataclasses.replace(fixed.config, epochs=7))
    recorded, other_cap, unknown = ruled(recorded, 100), ruled(other_cap, 100), ruled(unknown, 20)
    previous = {"runs": [{"name": recorded.name, "epochs": 100, "metrics": {"epochs_trained": 31}},
                         {"name": other_cap.name, "epochs": 10, "metrics": {"epochs_trained": 10}}],
                "rule_stop_epoch": 36}
    specs = [fixed, recorded, other_cap, unknown]
    assert expected_epochs(specs, previous) == {fixed.name: 7, recorded.name: 31, other_cap.name: 36,
                                                unknown.name: 20}   # the rule's epoch, at most the cap
    assert expected_epochs(specs, {}) == {fixed.name: 7, recorded.name: 100, other_cap.name: 100, unknown.name: 20}


def test_the_time_left_expects_the_queued_rule_runs_to_stop_as_the_ended_ones_did(monkeypatch):
    from vae.report import progress

    first, second = (ruled(spec, 100) for spec in tiny_specs("data", 2, 8))
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    shown = progress.ReportProgress([first, second], lambda line: None, live=False)
    shown.plan({first.name: 1.0, second.name: 1.0}, {first.name: 0.0, second.name: 0.0}, 1,
               [first.name, second.name], {first.name: 10, second.name: 10})
    assert shown.time_left_s() == pytest.approx(20.0)      # 10 expected epochs each, not the cap's 100
    on_epoch, _ = shown.for_run(0, first)
    for epoch in range(1, 6):      # the rule ends the first run after 5 epochs of the 10 expected
        clock.now = float(epoch)
        on_epoch(epoch, None, None)
    shown.run_done(first)
    assert shown.time_left_s() == pytest.approx(5.0)       # the second is expected to stop as early
    on_epoch, _ = shown.for_run(1, second)
    for epoch in range(1, 8):      # it goes on past that: at least one more epoch while it trains
        clock.now = 5.0 + epoch
        on_epoch(epoch, None, None)
    assert shown.time_left_s() == pytest.approx(1.0)


def test_the_time_left_holds_within_a_quarter_against_the_recorded_report(monkeypatch, repo_root):
    """Replay the committed standard report: its runs on its two workers in the runner's order,
    each for its recorded epochs (history.csv) and measurements after training. With the measured
    costs off by 15 % either way, the time left it would have shown from the first minute is
    within a quarter of the time the runs really had left (while more than two minutes were)."""
    import statistics

    from vae.report import PROFILES, progress, run_specs
    assets = repo_root / "docs" / "assets"
    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["profile"] == "standard"
    profile = PROFILES["standard"]
    continued_by = manifest["progress"].get("continued_by", {})     # a run that went on in the same worker
    specs = {spec.name: dataclasses.replace(spec, continues=spec.continues if spec.continues in continued_by else None)
             for spec in run_specs(profile)}
    recorded = {run["name"]: run for run in manifest["runs"]}
    assert set(recorded) == set(specs)
    epoch_times = {name: [float(row["epoch_time_s"]) for row in csv.DictReader(
        (assets / "runs" / name / "history.csv").open())] for name in recorded}
    workers = 2
    for bias in (0.85, 1.15):
        epoch_s = {name: bias * statistics.median(times) for name, times in epoch_times.items()}
        extra_s = {name: progress.extra_seconds(specs[name], profile, epoch_s[name]) for name in specs}
        expected = manifest["progress"]["expected_epochs"]    # what the report expected of each run
        order = sorted((n for n in specs if specs[n].continues is None), reverse=True,
                       key=lambda n: expected[n] * epoch_s[n] + extra_s[n] + (
                           (expected[continued_by[n]] - expected[n]) * epoch_s[continued_by[n]]
                           + extra_s[continued_by[n]] if n in continued_by else 0.0))
        events, free = [], [0.0] * workers            # the runner: each run to the first worker free
        for first in order:
            lane = free.index(min(free))
            start = free[lane]
            inherited = 0
            for name in (first, continued_by.get(first)):
                if name is None:
                    continue
                events.append((start, 0, "start", name))
                ends = start
                for epoch, seconds in enumerate(epoch_times[name][inherited:], inherited + 1):
                    ends += seconds
                    events.append((ends, 1, epoch, name))
                start += recorded[name]["report_time_s"]
                events.append((start, 2, "done", name))
                inherited = len(epoch_times[name])
            free[lane] = start
        finished = max(free)
        clock = Clock()
        monkeypatch.setattr(progress.time, "perf_counter", clock)
        shown = progress.ReportProgress([specs[n] for n in specs], lambda line: None, live=False)
        shown.plan(epoch_s, extra_s, workers, order, expected)      # a continued run is laid out with its first
        callbacks, probe, worst = {}, 60.0, 0.0
        for when, _, what, name in sorted(events):
            while probe < when and finished - probe >= 120:
                clock.now = probe
                truth = finished - probe
                worst = max(worst, abs(shown.time_left_s() - truth) / truth)
                probe += 30.0
            clock.now = when
            if what == "start":
                callbacks[name] = shown.for_run(0, specs[name])[0]
            elif what == "done":
                shown.run_done(specs[name])
            else:
                callbacks[name](what, None, None)
        assert worst <= 0.25, f"with the costs off by {bias:.2f}x, an estimate was {worst:.0%} off"


def test_the_committed_reports_time_left_held_within_a_quarter_of_the_truth(repo_root):
    """The estimates the committed report showed (kept in its manifest once a minute, from its
    first epoch) against the time its runs really had left, while more than two minutes were."""
    manifest = json.loads((repo_root / "docs" / "assets" / "manifest.json").read_text())
    record = manifest["progress"]
    assert record["estimates"] and record["estimates"][0]["since_s"] < 120     # from the first minutes
    checked = [(e["left_s"], record["runs_s"] - e["since_s"]) for e in record["estimates"]
               if record["runs_s"] - e["since_s"] >= 120]
    assert len(checked) >= 10
    assert all(abs(left - truth) <= 0.25 * truth for left, truth in checked), checked


def test_on_a_terminal_the_progress_is_one_bar_with_the_log_above_it(capsys):
    from vae.report import progress

    specs = tiny_specs("data", 2, 3)
    lines: list[str] = []
    shown = progress.ReportProgress(specs, lines.append, live=True)
    on_epoch, log = shown.for_run(1, specs[1])
    log("epoch 1/1  train -ELBO 1.0")             # the bar shows the epoch: no line of its own
    on_epoch(1, None, None)
    shown.log("[2/2] mnist-mlp400-z3: test -ELBO 1.00")
    bar = shown.bar.format_dict
    shown.close()
    assert lines == ["[2/2] mnist-mlp400-z3: test -ELBO 1.00"]
    assert (bar["n"], bar["total"]) == (1, 2) and "mnist-mlp400-z3 epoch 1/1" in bar["prefix"]
    assert "runs done 0/2" in bar["prefix"]


def test_the_failure_gallery_shows_the_test_images_with_the_highest_negative_elbo(tmp_path):
    from vae.training import TrainResult

    from vae.models import init_output_bias

    splits = fake_splits()
    splits.test_x[:] = 0.0
    splits.test_x[1] = 1.0                               # an all-ink image: the costliest to reconstruct
    model = MLPVAE(2, (16,))
    init_output_bias(model, torch.full((1, 28, 28), 0.01))   # a decoder that expects dark pixels
    result = TrainResult(model=model, metrics={}, history=[], splits=splits, config=plan.TrainConfig(arch="mlp"),
                         out_dir=tmp_path)
    spec = plan.RunSpec("r", plan.TrainConfig(arch="mlp", hidden=(16,)))
    gallery = run.draw_failures(spec, result, tmp_path, None, seed=0)
    scores = [image["negative_elbo"] for image in gallery["images"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    assert gallery["images"][0]["test_index"] == 1 and gallery["images"][0]["class"] == "c"
    assert gallery["median_negative_elbo"] <= scores[0] and is_png(tmp_path / "failures.png")
    assert len(run.draw_failures(spec, result, tmp_path, None, seed=0, images=2)["images"]) == 2
