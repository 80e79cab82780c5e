"""The report: train every run a profile asks for and write all figures and tables into one folder.

    python -m vae report --profile {quick,standard,full} [--data-dir data] [--out docs/assets]

A profile is one `Profile` (how long to train, how many importance samples, which subsets);
`run_specs` turns it into the list of runs. Each run trains through `training.train`, whose
`on_epoch` callback draws the figures of epochs 0, 1, 5 (or the middle one) and the last; then
the trained model is measured (`evaluation`) and drawn (`figures`). Runs are built in a hidden
staging folder and renamed into `runs/<name>/` only once complete, so a run that fails leaves
the previous assets of every run as they were. The comparison tables and figures, and
`manifest.json`, come last. docs/assets/README.md describes the layout for the site's pages.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import artifacts, evaluation, explorer, figures
from .artifacts import ArtifactError
from .data import DataError, Splits, load_splits
from .models import VAE
from .training import HISTORY_FIELDS, ConfigError, TrainConfig, TrainingError, environment, train

# Published numbers set beside the binarized run: Burda, Grosse & Salakhutdinov (2015), "Importance
# Weighted Autoencoders", table 1, MNIST, one stochastic layer, test negative log-likelihood (nats).
BURDA_2015_VAE_K1_NLL = 86.76
BURDA_2015_IWAE_K50_NLL = 84.78
# Seed report 000 (../shared/seeds/000_*.txt) trained the same ConvVAE with the same settings on
# the CPU; its per-epoch validation -ELBO and final test -ELBO, as printed there.
SEED_000_VAL_ELBO = (166.6079, 157.6834, 154.2295, 152.5510, 151.5376,
                     149.6207, 149.2737, 149.1837, 148.2316, 148.2099)
SEED_000_TEST_ELBO = 147.870
ACTIVE_UNIT_THRESHOLD = 0.01   # Burda et al. 2015: a unit is active if Var_x E_q[z_d] > 1e-2


class ReportError(RuntimeError):
    """The report could not be completed (a run failed); the message names what to do."""


# --8<-- [start:profiles]
@dataclass(frozen=True)
class Profile:
    """Everything that differs between a quick check, the standard report and the full one."""
    name: str
    epochs: int = 10                           # every run except the long ones
    long_epochs: tuple[int, ...] = ()          # extra runs of the reference model (training length)
    train_limit: int | None = None             # None: the whole training split
    val_split: float = 0.1
    betas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    latent_dims: tuple[int, ...] = (2, 8, 16, 32)
    sweep_latent_dim: int = 16                 # latent dimension of the β sweep
    binarized_latent_dim: int = 50
    iwae_k: int = 1000                         # importance samples per image
    iwae_conv_images: int = 100                # conv decoders are slow on a CPU: a test subset
    iwae_mlp_images: int = 2000
    tsne_points: int = 2000
    anomaly_images: int | None = None          # per dataset; None: both whole test sets
    samples: int = 32                          # prior samples per grid
    seed: int = 42
    device: str = "auto"


PROFILES: dict[str, Profile] = {
    # Minutes on a 2-core CPU: every file of the asset contract, from tiny subsets.
    "quick": Profile(name="quick", epochs=2, train_limit=1000, val_split=0.02, iwae_k=50,
                     iwae_conv_images=20, iwae_mlp_images=200, tsne_points=300, anomaly_images=500),
    # What `make report` runs: the full datasets, 10 epochs, k = 1000.
    "standard": Profile(name="standard"),
    # GPU recommended: long runs, wider sweeps, more importance samples, whole test sets.
    "full": Profile(name="full", long_epochs=(50, 100), betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                    latent_dims=(2, 8, 16, 32, 64), iwae_k=5000, iwae_conv_images=10_000,
                    iwae_mlp_images=10_000, tsne_points=5000),
}
# --8<-- [end:profiles]

REFERENCE = "mnist-conv-z2"
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


@dataclass(frozen=True)
class RunSpec:
    """One training run of the report and what is measured on it besides the standard set."""
    name: str
    config: TrainConfig
    likelihood: bool = False       # importance-sampled log-likelihood (IWAE bound)
    save_model: bool = False       # model.pt + latents.npz for the site's latent-space notebook


def run_name(dataset: str, arch: str, hidden: tuple[int, ...], latent_dim: int, beta: float = 1.0,
             epochs: int | None = None, binarize: bool = False) -> str:
    """`<dataset>[-bin]-<arch>-z<latent>`, then `-b<β>` when β != 1 and `-e<epochs>` for long runs."""
    arch_name = "conv" if arch == "conv" else "mlp" + "x".join(str(h) for h in hidden)
    name = f"{dataset}{'-bin' if binarize else ''}-{arch_name}-z{latent_dim}"
    if beta != 1.0:
        name += f"-b{beta:g}"
    if epochs is not None:
        name += f"-e{epochs}"
    return name


# --8<-- [start:runs]
def run_specs(profile: Profile, data_dir: str | Path = "data") -> list[RunSpec]:
    """The runs of a profile, reference first; a run used by two comparisons appears once."""
    def config(**changes: Any) -> TrainConfig:
        base = TrainConfig(epochs=profile.epochs, train_limit=profile.train_limit, val_split=profile.val_split,
                           seed=profile.seed, device=profile.device, data_dir=str(data_dir))
        return dataclasses.replace(base, **changes)

    def spec(dataset: str = "mnist", arch: str = "mlp", hidden: tuple[int, ...] = (400,), latent_dim: int = 2,
             beta: float = 1.0, binarize: bool = False, epochs: int | None = None, **flags: bool) -> RunSpec:
        name = run_name(dataset, arch, hidden, latent_dim, beta, epochs, binarize)
        changes = dict(dataset=dataset, arch=arch, hidden=hidden, latent_dim=latent_dim, beta=beta,
                       binarize=binarize)
        if epochs is not None:
            changes["epochs"] = epochs
        return RunSpec(name, config(**changes), **flags)

    specs = [
        spec(arch="conv", likelihood=True, save_model=True),
        spec(dataset="fashion-mnist", arch="conv", save_model=True),
        spec(hidden=(400,), likelihood=True),
        spec(hidden=(512, 256)),
        *[spec(latent_dim=z, likelihood=(z == profile.sweep_latent_dim)) for z in profile.latent_dims if z != 2],
        *[spec(latent_dim=profile.sweep_latent_dim, beta=b) for b in profile.betas if b != 1.0],
        spec(latent_dim=profile.binarized_latent_dim, binarize=True, likelihood=True),
        *[spec(arch="conv", epochs=e) for e in profile.long_epochs],
    ]
    if profile.sweep_latent_dim not in profile.latent_dims and 1.0 in profile.betas:
        specs.append(spec(latent_dim=profile.sweep_latent_dim))   # the β = 1 point of the β sweep
    return specs
# --8<-- [end:runs]


# ---------------------------------------------------------------------------------------------
# One run: train with figure snapshots, then measure and draw the trained model.

def snapshot_epochs(epochs: int) -> dict[str, int]:
    """Epochs of the first, middle and final snapshots: 1, 5, last (the middle one if epochs <= 5)."""
    return {"first": 1, "mid": 5 if epochs > 5 else math.ceil(epochs / 2), "final": epochs}


def one_image_per_class(x: torch.Tensor, y: torch.Tensor, classes: int) -> torch.Tensor:
    """The first test image of each class, in class order: the same originals in every figure."""
    return torch.stack([x[(y == c).nonzero()[0, 0]] for c in range(classes) if (y == c).any()])


class EpochSnapshots:
    """The `on_epoch` callback of `train`: prior samples at epoch 0, reconstructions and samples
    at the first, middle and final epochs. The same z and the same originals are used each time,
    so the figures show the model changing, not the inputs."""

    def __init__(self, run_dir: Path, epochs: int, samples: int, seed: int):
        self.run_dir, self.samples, self.seed = run_dir, samples, seed
        self.epochs = snapshot_epochs(epochs)
        self.final_samples: torch.Tensor | None = None

    def __call__(self, epoch: int, model: VAE, splits: Splits) -> None:
        if epoch == 0:
            figures.plot_prior_samples(evaluation.prior_samples(model, self.samples, self.seed),
                                       self.run_dir / "samples_untrained.png", "prior samples, untrained (epoch 0)")
        originals = one_image_per_class(splits.test_x, splits.test_y, len(splits.classes))
        for moment, at_epoch in self.epochs.items():
            if epoch != at_epoch:
                continue
            figures.plot_reconstructions(originals.cpu(), evaluation.reconstructions(model, originals),
                                         self.run_dir / f"reconstructions_{moment}.png",
                                         f"test images (top) and reconstructions (bottom), epoch {epoch}")
            if moment != "first":
                samples = evaluation.prior_samples(model, self.samples, self.seed)
                figures.plot_prior_samples(samples, self.run_dir / f"samples_{moment}.png",
                                           f"prior samples, epoch {epoch}")
                if moment == "final":
                    self.final_samples = samples


@dataclass
class RunOutcome:
    """What the comparisons need from a finished run."""
    spec: RunSpec
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    files: list[str]
    final_samples: torch.Tensor
    model: VAE
    report_time_s: float


def _markdown_number(value: Any) -> str:
    """Nats with two decimals; values below 1 (per-pixel -ELBO, AUC, β 0.5) with four significant digits."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 100:
            return f"{value:g}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]],
                   notes: Sequence[str] = ()) -> str:
    """A Markdown table of `rows` (key, header per column), numbers right-aligned, then the notes."""
    lines = ["| " + " | ".join(header for _, header in columns) + " |",
             "|" + "|".join("---:" if rows and isinstance(rows[0].get(key), (int, float))
                            and not isinstance(rows[0].get(key), bool) else "---" for key, _ in columns) + "|"]
    lines += ["| " + " | ".join(_markdown_number(row.get(key)) for key, _ in columns) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n\n".join(notes) + "\n"
    return text


def write_table(folder: Path, name: str, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]],
                notes: Sequence[str] = ()) -> list[Path]:
    """<name>.md (ready to include in a page), <name>.csv and <name>.json of the same rows.

    The Markdown shows `columns`; the CSV and JSON keep every field of the rows."""
    keys = [key for key, _ in columns]
    keys += [key for row in rows for key in row if key not in keys]
    keys = list(dict.fromkeys(keys))
    return [artifacts.write_text(folder / f"{name}.md", markdown_table(rows, columns, notes)),
            artifacts.write_csv(folder / f"{name}.csv", rows, keys),
            artifacts.write_json(folder / f"{name}.json", {"columns": dict(columns), "rows": rows,
                                                           "notes": list(notes)})]


def run_metrics_table(name: str, metrics: dict[str, Any]) -> str:
    rows = [{"split": split, **{k: metrics[split][k] for k in ("elbo", "recon", "kl", "elbo_per_pixel")}}
            for split in ("val", "test")]
    notes = [f"Best epoch {metrics['best_epoch']} of {metrics['epochs']}; {metrics['params']:,} parameters; "
             f"{metrics['active_units']} of {metrics['latent_dim']} latent units active; "
             f"training took {metrics['wall_time_s']:.1f} s on {metrics['device_name']}.",
             "-ELBO, reconstruction and KL are nats per image (lower is better), with β = 1 whatever the "
             "training β."]
    return f"**{name}**\n\n" + markdown_table(
        rows, [("split", "split"), ("elbo", "-ELBO"), ("recon", "reconstruction"), ("kl", "KL"),
               ("elbo_per_pixel", "-ELBO per pixel")], notes)


HISTORY_COLUMNS = [(f, f.replace("_elbo_per_pixel", " -ELBO/pixel").replace("_elbo", " -ELBO")
                    .replace("_recon", " recon").replace("_kl", " KL").replace("_loss", " loss")
                    .replace("epoch_time_s", "time (s)")) for f in HISTORY_FIELDS]


def produce_run(spec: RunSpec, profile: Profile, run_dir: Path, train_dir: Path,
                explorer_dir: Path | None = None) -> RunOutcome:
    """Train one run into `train_dir` (checkpoints) and write its assets into `run_dir`, and the
    latent explorer's into `explorer_dir` if given."""
    started = time.perf_counter()
    config = spec.config
    snapshots = EpochSnapshots(run_dir, config.epochs, profile.samples, profile.seed)
    frames = explorer.EpochFrames(samples=profile.samples, seed=profile.seed) if explorer_dir else None
    result = train(config, train_dir, on_epoch=explorer.chain(snapshots, frames), log=lambda message: None,
                   progress=False)
    model, splits, metrics = result.model, result.splits, dict(result.metrics)
    names = splits.classes

    artifacts.write_json(run_dir / "config.json", artifacts.read_json(train_dir / "config.json"))
    artifacts.write_csv(run_dir / "history.csv", result.history, HISTORY_FIELDS)
    artifacts.write_text(run_dir / "history.md", markdown_table(result.history, HISTORY_COLUMNS))
    figures.plot_training_curves(result.history, run_dir / "curves.png", spec.name)

    # Latent space of the test set at the posterior means.
    mu, logvar = evaluation.latent_encodings(model, splits.test_x)
    labels = splits.test_y.cpu()
    if model.latent_dim == 2:
        figures.plot_latent_space(mu, labels, names, run_dir / "latent.png", title=f"{spec.name}: test set at μ")
        grid_values = evaluation.latent_grid(20)
        figures.plot_latent_manifold(evaluation.decode_images(model, grid_values.to(result.device)),
                                     grid_values[:20, 0], run_dir / "manifold.png", f"{spec.name}: decoded grid")
    else:
        points, explained = evaluation.pca_projection(mu)
        metrics["pca_explained_variance"] = explained
        figures.plot_latent_space(points, labels, names, run_dir / "latent.png",
                                  f"PC 1 ({explained[0]:.0%} of variance)", f"PC 2 ({explained[1]:.0%} of variance)",
                                  f"{spec.name}: test set at μ, PCA")
        n = min(profile.tsne_points, len(mu))
        figures.plot_latent_space(evaluation.tsne_projection(mu[:n], profile.seed), labels[:n], names,
                                  run_dir / "latent_tsne.png", "t-SNE 1", "t-SNE 2",
                                  f"{spec.name}: first {n:,} test images at μ, t-SNE")

    # Interpolations between the first test images of classes 0-1, 2-3, ...: always different classes.
    ends = one_image_per_class(splits.test_x, splits.test_y, len(names))
    starts_at, ends_at = list(range(0, len(ends) - 1, 2)), list(range(1, len(ends), 2))
    figures.plot_interpolations(evaluation.interpolations(model, ends[starts_at], ends[ends_at]),
                                [f"{names[a]} → {names[b]}" for a, b in zip(starts_at, ends_at)],
                                run_dir / "interpolation.png", f"{spec.name}: straight lines between codes")

    kl = evaluation.mean_kl_per_dimension(mu, logvar)
    variances = mu.double().var(dim=0)
    active = [bool(v > ACTIVE_UNIT_THRESHOLD) for v in variances]
    metrics.update(latent_dim=model.latent_dim, active_units=evaluation.active_units(mu, ACTIVE_UNIT_THRESHOLD),
                   active_unit_threshold=ACTIVE_UNIT_THRESHOLD, kl_per_dimension=kl.tolist())
    figures.plot_kl_per_dimension(kl, active, run_dir / "kl_per_dim.png",
                                  f"{spec.name}: {sum(active)} of {len(active)} units active (Var μ > 0.01)")

    if spec.likelihood:
        n = min(profile.iwae_conv_images if config.arch == "conv" else profile.iwae_mlp_images, len(splits.test_x))
        subset = splits.test_x[:n]
        bound = evaluation.iwae_bound(model, subset, profile.iwae_k, seed=profile.seed)
        metrics["likelihood"] = {
            "k": profile.iwae_k, "test_images": n,
            "negative_elbo": evaluation.evaluate(model, subset, 1.0, config.recon_loss)["elbo"],
            "nll": bound["mean_nll"], "nll_standard_error": bound["nll"].std().item() / math.sqrt(n)}

    if spec.save_model:
        artifacts.save_checkpoint(run_dir / "model.pt", {"model": {k: v.cpu() for k, v in model.state_dict().items()},
                                                         "config": config.to_dict()})
        artifacts.write_atomic(run_dir / "latents.npz", lambda f: np.savez_compressed(
            f, mu=mu.numpy(), logvar=logvar.numpy(), labels=labels.numpy().astype(np.int64),
            classes=np.array(names)))
    if explorer_dir is not None:
        explorer.write_explorer(model, splits, explorer_dir, frames)

    artifacts.write_json(run_dir / "metrics.json", {"run": spec.name, **metrics})
    artifacts.write_text(run_dir / "metrics.md", run_metrics_table(spec.name, metrics))
    files = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    return RunOutcome(spec=spec, metrics=metrics, history=result.history, files=files,
                      final_samples=snapshots.final_samples, model=model,
                      report_time_s=time.perf_counter() - started)


def replace_folder(staged: Path, target: Path) -> None:
    """Put the complete `staged` folder at `target`: two renames, the old copy deleted only after."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Comparisons across runs.

SUMMARY_COLUMNS = [("run", "run"), ("test_elbo", "test -ELBO"), ("test_recon", "reconstruction"),
                   ("test_kl", "KL"), ("test_elbo_per_pixel", "-ELBO per pixel"), ("active_units", "active units")]


def summary_row(outcome: RunOutcome) -> dict[str, Any]:
    config, metrics = outcome.spec.config, outcome.metrics
    return {"run": outcome.spec.name, "dataset": config.dataset, "arch": config.arch,
            "hidden": "-".join(map(str, config.hidden)) if config.arch == "mlp" else "",
            "latent_dim": config.latent_dim, "beta": config.beta, "binarize": config.binarize,
            "epochs": config.epochs, "best_epoch": metrics["best_epoch"], "params": metrics["params"],
            "val_elbo": metrics["val"]["elbo"], "test_elbo": metrics["test"]["elbo"],
            "test_recon": metrics["test"]["recon"], "test_kl": metrics["test"]["kl"],
            "test_elbo_per_pixel": metrics["test"]["elbo_per_pixel"], "active_units": metrics["active_units"],
            "epoch_time_s": metrics["epoch_time_s"], "wall_time_s": metrics["wall_time_s"],
            "device": metrics["device_name"]}


def _missing_note(wanted: Sequence[str], done: dict[str, RunOutcome]) -> list[str]:
    missing = [name for name in wanted if name not in done]
    return [f"Missing because the run failed: {', '.join(missing)}."] if missing else []


def write_comparisons(profile: Profile, outcomes: dict[str, RunOutcome], out_dir: Path, data_dir: Path,
                      log: Callable[[str], None]) -> list[str]:
    """Every table in tables/ and figure in figures/; returns their paths relative to out_dir."""
    tables, figs = out_dir / "tables", out_dir / "figures"
    written: list[Path] = []
    budget = (f"Profile `{profile.name}`: {profile.epochs} epochs"
              + (f" on the first {profile.train_limit:,} training images" if profile.train_limit else "")
              + ". -ELBO, reconstruction and KL are nats per test image, lower is better.")

    def rows(names: Sequence[str]) -> list[dict[str, Any]]:
        return [summary_row(outcomes[n]) for n in names if n in outcomes]

    written += write_table(tables, "runs", rows(list(outcomes)), [
        ("run", "run"), ("dataset", "dataset"), ("arch", "arch"), ("hidden", "hidden"), ("latent_dim", "latent"),
        ("beta", "β"), ("epochs", "epochs"), ("best_epoch", "best epoch"), ("params", "params"),
        ("val_elbo", "val -ELBO"), *SUMMARY_COLUMNS[1:], ("wall_time_s", "train time (s)")], [budget])

    # MNIST vs Fashion-MNIST, the reference model on both.
    names = [REFERENCE, "fashion-mnist-conv-z2"]
    written += write_table(tables, "datasets", rows(names), [("dataset", "dataset"), *SUMMARY_COLUMNS,
                           ("best_epoch", "best epoch"), ("wall_time_s", "train time (s)")],
                           [budget, "The two datasets have different pixel statistics: compare shapes of curves "
                                    "and samples, not nats across datasets."] + _missing_note(names, outcomes))
    panels = {DATASET_TITLES[outcomes[n].spec.config.dataset]: outcomes[n].final_samples
              for n in names if n in outcomes}
    written.append(figures.plot_image_panels(panels, figs / "datasets.png", title="prior samples, reference ConvVAE"))

    # The reference run beside seed report 000, epoch by epoch.
    seed_rows = []
    if REFERENCE in outcomes:
        reference = outcomes[REFERENCE]
        seed_rows = [{"epoch": row["epoch"], "seed_000": seed, "this_report": row["val_elbo"],
                      "difference": row["val_elbo"] - seed}
                     for row, seed in zip(reference.history, SEED_000_VAL_ELBO)]
        seed_rows.append({"epoch": "test, best epoch", "seed_000": SEED_000_TEST_ELBO,
                          "this_report": reference.metrics["test"]["elbo"],
                          "difference": reference.metrics["test"]["elbo"] - SEED_000_TEST_ELBO})
    written += write_table(tables, "seed_reference", seed_rows, [
        ("epoch", "epoch"), ("seed_000", "seed report 000"), ("this_report", "this report"),
        ("difference", "difference")], [
        budget, "Validation -ELBO per epoch (nats per image) of the reference ConvVAE, MNIST, latent 2, β = 1, "
                "batch 128, Adam 1e-3, seed 42, next to the numbers printed in seed report 000 for the same "
                "configuration; the last row is the test set. Seeds, split and noise differ in detail between the "
                "two codes, so expect agreement within a nat or two, not digit for digit."]
        + _missing_note([REFERENCE], outcomes))

    # Architectures at latent 2.
    names = [REFERENCE, "mnist-mlp400-z2", "mnist-mlp512x256-z2"]
    written += write_table(tables, "architectures", rows(names), [
        ("run", "run"), ("arch", "arch"), ("hidden", "hidden"), ("params", "params"), *SUMMARY_COLUMNS[1:],
        ("epoch_time_s", "s per epoch")], [budget] + _missing_note(names, outcomes))
    written.append(figures.plot_curve_comparison({n: outcomes[n].history for n in names if n in outcomes},
                                                 figs / "architectures.png", title="MNIST, latent 2"))

    # β and latent-dimension sweeps, MLP 784-400.
    z = profile.sweep_latent_dim
    for table, parameter, values, name_of, label in [
        ("beta", "β", profile.betas, lambda b: run_name("mnist", "mlp", (400,), z, b), "beta"),
        ("latent_dim", "latent dimension", profile.latent_dims, lambda d: run_name("mnist", "mlp", (400,), d),
         "latent"),
    ]:
        names = [name_of(v) for v in values]
        present = [(v, n) for v, n in zip(values, names) if n in outcomes]
        sweep_rows = [{"value": v, **summary_row(outcomes[n])} for v, n in present]
        notes = [budget, "MLP 784-400 for every point, so only the swept setting changes. -ELBO is the bound "
                         "with β = 1 whatever the training β; training minimised reconstruction + β·KL."
                 if table == "beta" else f"MLP 784-400, β = 1; the β sweep uses latent {z}."]
        written += write_table(tables, table, sweep_rows, [("value", parameter), *SUMMARY_COLUMNS],
                               notes + _missing_note(names, outcomes))
        metrics = [{"elbo": r["test_elbo"], "recon": r["test_recon"], "kl": r["test_kl"]} for r in sweep_rows]
        written.append(figures.plot_sweep([r["value"] for r in sweep_rows], metrics, parameter,
                                          figs / f"{label}_sweep.png", f"MNIST, MLP 784-400: test set as {parameter} grows",
                                          log_x=True))
        written.append(figures.plot_image_panels({f"{parameter} = {v:g}": outcomes[n].final_samples for v, n in present},
                                                 figs / f"{label}_samples.png", title="prior samples"))

    # Training length: the reference model at 10 epochs and, in the full profile, 50 and 100.
    lengths = {profile.epochs: REFERENCE, **{e: run_name("mnist", "conv", (), 2, epochs=e) for e in (50, 100)}}
    length_rows = [{"epochs": e, **summary_row(outcomes[n])} for e, n in lengths.items() if n in outcomes]
    notes = [budget]
    if not profile.long_epochs:
        notes.append("The full profile (`python -m vae report --profile full`) adds the 50- and 100-epoch runs.")
    written += write_table(tables, "training_length", length_rows,
                           [("epochs", "epochs"), *SUMMARY_COLUMNS, ("best_epoch", "best epoch"),
                            ("wall_time_s", "train time (s)")], notes)

    # Importance-sampled likelihood next to the ELBO.
    likelihood_rows = []
    for name, outcome in outcomes.items():
        if "likelihood" not in outcome.metrics:
            continue
        lk, config = outcome.metrics["likelihood"], outcome.spec.config
        likelihood_rows.append({
            "run": name, "pixels": "binarized" if config.binarize else "grey-level",
            "test_images": lk["test_images"], "k": lk["k"], "negative_elbo": lk["negative_elbo"], "nll": lk["nll"],
            "gap": lk["negative_elbo"] - lk["nll"], "nll_standard_error": lk["nll_standard_error"],
            "is_log_likelihood": "yes" if config.binarize else "no (BCE on grey levels)"})
    written += write_table(tables, "likelihood", likelihood_rows, [
        ("run", "run"), ("pixels", "pixels"), ("test_images", "test images"), ("k", "k"),
        ("negative_elbo", "-ELBO"), ("nll", "-log p(x), IWAE"), ("gap", "ELBO gap"),
        ("nll_standard_error", "± (s.e.)"), ("is_log_likelihood", "a log-likelihood?")], [
        budget, "-log p(x) is the importance-weighted bound -L_k (Burda et al. 2015), in nats per image, on the "
                "first images of the test set (column *test images*); -ELBO is on the same images. L_k ≥ ELBO, so the IWAE column "
                "is lower. Conv models use a smaller subset because a conv decoder pass is slow on a CPU.",
        "Only binarized pixels make the Bernoulli decoder's BCE a log-likelihood; on grey-level pixels these "
        "numbers are a training loss in nats, not comparable with published MNIST log-likelihoods."])

    # Binarized MNIST beside Burda et al. (2015), table 1.
    binarized = run_name("mnist", "mlp", (400,), profile.binarized_latent_dim, binarize=True)
    binarized_rows = []
    if binarized in outcomes:
        metrics = outcomes[binarized].metrics
        lk = metrics.get("likelihood", {})
        binarized_rows += [
            {"model": f"this report: VAE, MLP 784-400-{profile.binarized_latent_dim}, {profile.epochs} epochs",
             "bound": "-ELBO, whole test set", "nll": metrics["test"]["elbo"], "comparable": "yes, but not tuned"},
            {"model": f"this report: same model", "bound": f"IWAE k = {lk.get('k')}, first {lk.get('test_images')} test images",
             "nll": lk.get("nll"), "comparable": "yes, but not tuned"}]
    binarized_rows += [
        {"model": "Burda et al. 2015, VAE (trained with k = 1), 1 stochastic layer of 50 units",
         "bound": "k = 5000 importance samples",
         "nll": BURDA_2015_VAE_K1_NLL, "comparable": "published"},
        {"model": "Burda et al. 2015, IWAE trained with k = 50", "bound": "k = 5000 importance samples",
         "nll": BURDA_2015_IWAE_K50_NLL, "comparable": "published"}]
    written += write_table(tables, "binarized", binarized_rows, [
        ("model", "model"), ("bound", "estimate"), ("nll", "test -log p(x) (nats)"), ("comparable", "comparable")], [
        "Dynamically binarized MNIST: each training image is a fresh Bernoulli draw of its grey levels, validation "
        "and test one fixed draw. Pixels are then binary and the BCE is a true negative log-likelihood, so these "
        "numbers are of the same kind as the published ones. They are not the same experiment: Burda et al. train "
        "two 200-unit tanh layers for 3,280 passes; this report trains a 400-unit ReLU MLP for "
        f"{profile.epochs} epochs" + (" on a subset" if profile.train_limit else "") + "."]
        + _missing_note([binarized], outcomes))

    # Anomaly detection: Fashion-MNIST scored by the MNIST reference model.
    anomaly_rows = []
    if REFERENCE in outcomes:
        model = outcomes[REFERENCE].model
        device = next(model.parameters()).device
        n = profile.anomaly_images
        mnist = load_splits("mnist", data_dir).test_x[:n].to(device)
        fashion = load_splits("fashion-mnist", data_dir).test_x[:n].to(device)
        in_scores = evaluation.negative_elbo_per_example(model, mnist, seed=profile.seed)
        out_scores = evaluation.negative_elbo_per_example(model, fashion, seed=profile.seed)
        auc = evaluation.anomaly_auc(in_scores, out_scores)
        anomaly_rows.append({"model": REFERENCE, "in_distribution": "MNIST test", "outliers": "Fashion-MNIST test",
                             "in_images": len(in_scores), "out_images": len(out_scores),
                             "mean_in_score": in_scores.mean().item(), "mean_out_score": out_scores.mean().item(),
                             "roc_auc": auc})
        written.append(figures.plot_anomaly_histogram(in_scores, out_scores, "MNIST test (in distribution)",
                                                      "Fashion-MNIST test (outliers)", auc,
                                                      figs / "anomaly_hist.png"))
    written += write_table(tables, "anomaly", anomaly_rows, [
        ("model", "model"), ("in_distribution", "in distribution"), ("outliers", "outliers"),
        ("in_images", "in images"), ("out_images", "outlier images"), ("mean_in_score", "mean -ELBO, in"),
        ("mean_out_score", "mean -ELBO, outliers"), ("roc_auc", "ROC AUC")], [
        budget, "Score: the -ELBO of each image under the MNIST model (one posterior sample); a higher score "
                "means more anomalous. ROC AUC 0.5 is chance, 1.0 a perfect separation."]
        + _missing_note([REFERENCE], outcomes))
    return [str(p.relative_to(out_dir)) for p in written]


# ---------------------------------------------------------------------------------------------
# The whole report.

def build_report(profile: Profile, data_dir: str | Path = "data", out_dir: str | Path = "docs/assets",
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every run of `profile`, write all assets into `out_dir`, return the manifest."""
    started = time.perf_counter()
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    specs = run_specs(profile, data_dir)
    runs_dir = out_dir / "runs"
    env = environment()
    outcomes: dict[str, RunOutcome] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vae-report-") as scratch:   # checkpoints: never in out_dir
        for index, spec in enumerate(specs, 1):
            staged = runs_dir / f".{spec.name}.partial"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            try:
                explorer_dir = out_dir / "explorer" / spec.config.dataset if spec.save_model else None
                outcome = produce_run(spec, profile, staged, Path(scratch) / spec.name, explorer_dir)
            except (TrainingError, ConfigError, DataError, ArtifactError, RuntimeError, ValueError) as err:
                shutil.rmtree(staged, ignore_errors=True)
                failures[spec.name] = f"{type(err).__name__}: {err}"
                log(f"[{index}/{len(specs)}] {spec.name}: FAILED ({err}); its previous assets are kept")
                continue
            replace_folder(staged, runs_dir / spec.name)
            outcomes[spec.name] = outcome
            m = outcome.metrics
            log(f"[{index}/{len(specs)}] {spec.name}: test -ELBO {m['test']['elbo']:.2f} "
                f"(recon {m['test']['recon']:.2f} + KL {m['test']['kl']:.2f}), {m['active_units']} active units, "
                f"train {m['wall_time_s']:.0f} s, total {outcome.report_time_s:.0f} s")
            shutil.rmtree(Path(scratch) / spec.name, ignore_errors=True)

    comparison_started = time.perf_counter()
    shared = write_comparisons(profile, outcomes, out_dir, data_dir, log)
    log(f"comparisons: {len(shared)} files, {time.perf_counter() - comparison_started:.0f} s")

    device = next(iter(outcomes.values())).metrics["device_name"] if outcomes else None
    manifest = {
        "profile": profile.name, "profile_settings": dataclasses.asdict(profile),
        "wall_time_s": time.perf_counter() - started, "code_commit": env["git_commit"], "device": device,
        "environment": env,
        "runs": [{"name": o.spec.name, "dataset": o.spec.config.dataset, "arch": o.spec.config.arch,
                  "hidden": list(o.spec.config.hidden), "latent_dim": o.spec.config.latent_dim,
                  "beta": o.spec.config.beta, "binarize": o.spec.config.binarize, "epochs": o.spec.config.epochs,
                  "train_limit": o.spec.config.train_limit, "metrics": o.metrics,
                  "figures": [f"runs/{o.spec.name}/{f}" for f in o.files if f.endswith(".png")],
                  "files": [f"runs/{o.spec.name}/{f}" for f in o.files],
                  "code_commit": env["git_commit"], "device": o.metrics["device_name"],
                  "wall_time_s": o.metrics["wall_time_s"], "report_time_s": o.report_time_s}
                 for o in outcomes.values()],
        "failed_runs": failures,
        "tables": sorted(p for p in shared if p.startswith("tables/")),
        "figures": sorted(p for p in shared if p.startswith("figures/")),
    }
    artifacts.write_json(out_dir / "manifest.json", manifest)
    log(f"report ({profile.name}): {len(outcomes)} runs in {manifest['wall_time_s']:.0f} s, written to {out_dir}")
    if failures:
        raise ReportError(f"{len(failures)} of {len(specs)} runs failed ({', '.join(failures)}); "
                          "the other runs' assets are complete; see the messages above")
    return manifest
