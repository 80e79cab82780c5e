"""The report: figure functions, run list, tables, failure isolation, and the quick profile end to end."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from vae import figures, report
from vae.report import PROFILES, Profile, ReportError, build_report, markdown_table, run_specs, snapshot_epochs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RUN_FILES = ["metrics.json", "metrics.md", "history.csv", "history.md", "config.json", "curves.png",
             "reconstructions_first.png", "reconstructions_mid.png", "reconstructions_final.png",
             "samples_untrained.png", "samples_mid.png", "samples_final.png", "latent.png",
             "interpolation.png", "kl_per_dim.png"]
TABLES = ["runs", "datasets", "seed_reference", "architectures", "beta", "latent_dim", "training_length", "likelihood",
          "binarized", "anomaly"]
FIGURES = ["beta_sweep.png", "beta_samples.png", "latent_sweep.png", "latent_samples.png", "architectures.png",
           "datasets.png", "anomaly_hist.png"]
STANDARD_RUNS = {"mnist-conv-z2", "fashion-mnist-conv-z2", "mnist-mlp400-z2", "mnist-mlp512x256-z2",
                 "mnist-mlp400-z8", "mnist-mlp400-z16", "mnist-mlp400-z32", "mnist-mlp400-z16-b0.5",
                 "mnist-mlp400-z16-b2", "mnist-mlp400-z16-b4", "mnist-bin-mlp400-z50"}


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


HISTORY = [{"epoch": e, **{f"{split}_{k}": 100.0 / e + i for i, k in enumerate(("elbo", "recon", "kl"))
                           for split in ("train", "val")}} for e in (1, 2, 3)]


@pytest.mark.parametrize("draw", [
    lambda p: figures.plot_training_curves(HISTORY, p, "run"),
    lambda p: figures.plot_reconstructions(torch.rand(10, 1, 28, 28), torch.rand(10, 1, 28, 28), p),
    lambda p: figures.plot_prior_samples(torch.rand(32, 1, 28, 28), p, "samples"),
    lambda p: figures.plot_latent_space(torch.randn(200, 2), torch.arange(200) % 10, [str(d) for d in range(10)], p),
    lambda p: figures.plot_latent_manifold(torch.rand(25, 1, 28, 28), torch.linspace(-1.6, 1.6, 5), p),
    lambda p: figures.plot_interpolations(torch.rand(3, 6, 1, 28, 28), ["0 → 1", "2 → 3", "4 → 5"], p),
    lambda p: figures.plot_kl_per_dimension(torch.tensor([0.1, 2.0, 0.0]), [True, True, False], p),
    lambda p: figures.plot_sweep([0.5, 1, 2], [{"elbo": 3, "recon": 2, "kl": 1}] * 3, "β", p, log_x=True),
    lambda p: figures.plot_image_panels({"a": torch.rand(16, 1, 28, 28), "b": torch.rand(16, 1, 28, 28)}, p),
    lambda p: figures.plot_image_panels({}, p),
    lambda p: figures.plot_curve_comparison({"a": HISTORY, "b": HISTORY}, p),
    lambda p: figures.plot_anomaly_histogram(torch.randn(100), torch.randn(100) + 2, "in", "out", 0.9, p),
], ids=["curves", "reconstructions", "samples", "latent", "manifold", "interpolations", "kl", "sweep",
        "panels", "panels-empty", "curve-comparison", "anomaly"])
def test_each_figure_function_writes_one_png(tmp_path, draw):
    path = tmp_path / "sub" / "figure.png"
    assert draw(path) == path
    assert is_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["figure.png"]   # no temporary file left behind


def test_image_grid_tiles_images_row_by_row():
    images = torch.zeros(3, 1, 2, 2)
    images[1] = 1.0
    grid = figures.image_grid(images, columns=2, padding=1)
    assert grid.shape == (5, 5)
    assert grid[0:2, 3:5].min() == 1.0 and grid[0:2, 0:2].max() == 0.0


def test_standard_runs_follow_the_name_scheme_of_the_asset_readme():
    names = [spec.name for spec in run_specs(PROFILES["standard"])]
    assert len(names) == len(set(names))
    assert set(names) == STANDARD_RUNS
    assert names[0] == "mnist-conv-z2"
    readme = (Path(__file__).resolve().parents[1] / "docs" / "assets" / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names)


def test_full_profile_adds_the_long_runs_and_wider_sweeps():
    specs = {spec.name: spec for spec in run_specs(PROFILES["full"])}
    assert STANDARD_RUNS <= set(specs)
    assert specs["mnist-conv-z2-e100"].config.epochs == 100
    assert {"mnist-conv-z2-e50", "mnist-mlp400-z16-b8", "mnist-mlp400-z64"} <= set(specs)


def test_every_run_of_a_profile_trains_with_its_settings():
    quick = PROFILES["quick"]
    for spec in run_specs(quick, "somewhere"):
        assert spec.config.epochs == quick.epochs and spec.config.train_limit == quick.train_limit
        assert spec.config.data_dir == "somewhere"
        spec.config.validate()
    binarized = [s for s in run_specs(quick) if s.config.binarize]
    assert len(binarized) == 1 and binarized[0].config.latent_dim >= 50


@pytest.mark.parametrize("epochs,expected", [(10, (1, 5, 10)), (50, (1, 5, 50)), (5, (1, 3, 5)),
                                             (2, (1, 1, 2)), (1, (1, 1, 1))])
def test_snapshots_at_epoch_1_5_and_last_or_the_middle_of_short_runs(epochs, expected):
    assert tuple(snapshot_epochs(epochs).values()) == expected


def test_markdown_table_formats_numbers_and_appends_notes():
    text = markdown_table([{"run": "a", "elbo": 148.2099, "params": 315365}],
                          [("run", "run"), ("elbo", "-ELBO"), ("params", "params")], ["A note."])
    assert text.splitlines()[:3] == ["| run | -ELBO | params |", "|---|---:|---:|", "| a | 148.21 | 315,365 |"]
    assert text.rstrip().endswith("A note.")


def test_replace_folder_swaps_a_complete_folder_in(tmp_path):
    target, staged = tmp_path / "run", tmp_path / ".run.partial"
    target.mkdir()
    (target / "old.png").write_text("old")
    staged.mkdir()
    (staged / "new.png").write_text("new")
    report.replace_folder(staged, target)
    assert [p.name for p in target.iterdir()] == ["new.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failing_run_keeps_the_assets_of_the_others(tmp_path, data_dir, monkeypatch):
    tiny = Profile(name="tiny", epochs=1, train_limit=256, val_split=0.02, iwae_k=2, iwae_mlp_images=10,
                   tsne_points=50, anomaly_images=100, samples=8)
    good = dataclasses.replace(run_specs(tiny, data_dir)[2], likelihood=False)          # mnist-mlp400-z2
    bad = dataclasses.replace(good, name="mnist-mlp400-z8", config=dataclasses.replace(good.config, lr=-1.0))
    previous = tmp_path / "runs" / "mnist-mlp400-z8"
    previous.mkdir(parents=True)
    (previous / "metrics.json").write_text("{}")
    monkeypatch.setattr(report, "run_specs", lambda profile, data_dir: [good, bad])
    with pytest.raises(ReportError, match="1 of 2 runs failed"):
        build_report(tiny, data_dir, tmp_path, log=lambda message: None)
    assert (previous / "metrics.json").read_text() == "{}"            # the failed run's old assets are kept
    assert is_png(tmp_path / "runs" / "mnist-mlp400-z2" / "manifold.png")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [run["name"] for run in manifest["runs"]] == ["mnist-mlp400-z2"]
    assert "mnist-mlp400-z8" in manifest["failed_runs"]
    assert not list((tmp_path / "runs").glob(".*"))                   # no staging folder left


def test_report_rejects_an_unknown_profile_in_one_line(run_vae, tmp_path):
    result = run_vae("report", "--profile", "huge", "--out", tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--profile" in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_quick_profile_writes_every_file_of_the_asset_contract(tmp_path, data_dir):
    out = tmp_path / "assets"
    manifest = build_report(PROFILES["quick"], data_dir, out, log=lambda message: None)

    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    assert manifest["profile"] == "quick" and manifest["wall_time_s"] > 0 and not manifest["failed_runs"]
    expected = {spec.name: spec for spec in run_specs(PROFILES["quick"])}
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
        for key in ("dataset", "arch", "latent_dim", "beta", "epochs", "metrics", "code_commit", "device",
                    "wall_time_s"):
            assert key in run
        assert run["metrics"]["test"]["elbo"] > 0 and run["metrics"]["best_epoch"] >= 1
    for name in ("mnist-conv-z2", "fashion-mnist-conv-z2"):
        state = torch.load(out / "runs" / name / "model.pt", weights_only=True)
        assert state["config"]["arch"] == "conv" and "fc_mu.weight" in state["model"]
        import numpy as np
        latents = np.load(out / "runs" / name / "latents.npz")
        assert latents["mu"].shape == (10_000, 2) and latents["labels"].shape == (10_000,)
        assert len(latents["classes"]) == 10
    for dataset in ("mnist", "fashion-mnist"):   # the latent explorer of the two reference runs
        explorer_spec = json.loads((out / "explorer" / dataset / "explorer.json").read_text())
        assert explorer_spec["frames"]["epochs"] == list(range(PROFILES["quick"].epochs + 1))
        assert all(is_png(out / "explorer" / dataset / name) for name in ("grid.png", "frames.png"))
    for table in TABLES:
        for suffix in ("md", "csv", "json"):
            assert (out / "tables" / f"{table}.{suffix}").is_file(), f"tables/{table}.{suffix} is missing"
    for figure in FIGURES:
        assert is_png(out / "figures" / figure), f"figures/{figure} is missing"
    assert "full profile" in (out / "tables" / "training_length.md").read_text()
    likelihood = json.loads((out / "tables" / "likelihood.json").read_text())["rows"]
    assert {row["run"] for row in likelihood} >= {"mnist-conv-z2", "mnist-bin-mlp400-z50"}
    assert all(row["nll"] <= row["negative_elbo"] + 1.0 for row in likelihood)
    assert 0.0 <= json.loads((out / "tables" / "anomaly.json").read_text())["rows"][0]["roc_auc"] <= 1.0
    assert not [p for p in out.rglob("*.pt") if p.name != "model.pt"]    # checkpoints stay out of the assets
    assert not [p for p in out.rglob(".*")]                              # no staging or temporary files
