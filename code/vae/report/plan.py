"""The plan's vocabulary: profiles, a run and its roles, a sweep, and what a run is called.

A profile is one `Profile` (how long to train, how many seeds and importance samples, which
subsets). Each experiment (`report/experiments/`) declares its own runs from it; a `RunSpec`
carries its `roles`: the experiment it belongs to and the value it stands for there (β = 2 of
the β sweep, Fashion-MNIST of the reference runs). A run's name is derived from its configuration
(`run_name`): the fields that differ from the profile's base configuration, so two experiments
that ask for the same configuration share one run, and two different configurations never share a
name (`merge` refuses it). Nothing here trains or writes anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..config import TrainConfig

DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


# --8<-- [start:profiles]
@dataclass(frozen=True)
class Profile:
    """Everything that differs between a quick check, the standard report and the full one."""
    name: str
    epochs: int = 10                           # the reference ConvVAEs and the binarized MLP
    long_epochs: tuple[int, ...] = ()          # extra runs of the reference ConvVAE (training length)
    sweep_hidden: tuple[int, ...] = (400,)     # the MLP of the latent-size and β sweeps
    sweep_epoch_cap: int = 10                  # the sweeps train until the stopping rule, at most this
    stop_window: int = 5                       # the rule: the best validation -ELBO gained less than
    stop_min_gain: float = 0.3                 # stop_min_gain nats over the last stop_window epochs
    seeds: int = 5                             # seeds of the sweeps' shared centre (latent 16, β = 1)
    length_epochs: tuple[int, ...] = (10, 50, 100)   # the training-length run: snapshots at these epochs
    train_limit: int | None = None             # None: the whole training split
    test_limit: int | None = None              # None: the whole test set; else its first N images
    val_split: float = 0.1
    betas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    latent_dims: tuple[int, ...] = (2, 8, 16, 32)
    free_bits: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)   # nats per latent unit (Kingma et al. 2016)
    free_bits_latent_dim: int = 32             # the free-bits sweep's latent size (one of latent_dims: λ = 0 is its run)
    sweep_latent_dim: int = 16                 # latent dimension of the β sweep
    binarized_latent_dim: int = 50
    likelihood_epochs: tuple[int, int] = (5, 5)   # Burda's MLP trained as (VAE, IWAE)
    likelihood_train_k: int = 5                # the IWAE run's importance samples (Burda et al.: 5 and 50)
    likelihood_kl_warmup_epochs: int = 0
    likelihood_lr_schedule: str = "constant"
    iwae_k: int = 1000                         # importance samples per image
    iwae_conv_images: int = 100                # conv decoders are slow on a CPU: a test subset
    iwae_mlp_images: int = 2000
    tsne_points: int = 2000
    anomaly_images: int | None = None          # per dataset; None: both whole test sets
    classifier_epochs: int = 3                 # the report's own classifier (reconstruction classes)
    samples: int = 32                          # prior samples per grid
    seed: int = 42
    device: str = "auto"
    # Runs trained at once; 0: auto, one per core on a CPU (each on one thread), one on CUDA until a
    # GPU run measures the gain (`report --workers N`: at most N, as many as free GPU memory holds).
    # The captured training step, also opt-in on CUDA: `report --cuda-graph`.
    workers: int = 0
    cuda_graph: bool = False


PROFILES: dict[str, Profile] = {
    # Minutes on a 2-core CPU: every file of the asset contract, from tiny subsets.
    "quick": Profile(name="quick", epochs=2, train_limit=1000, val_split=0.02, sweep_epoch_cap=6, stop_window=2,
                     seeds=3, length_epochs=(2, 4, 8), likelihood_epochs=(2, 1), iwae_k=50, iwae_conv_images=20,
                     iwae_mlp_images=200, tsne_points=300, anomaly_images=500, classifier_epochs=1,
                     workers=1),   # runs of seconds, one at a time
    # What `make report` runs: the full datasets; the sweeps until the stopping rule (the cap, the
    # long run's 100 epochs, only bounds them); three seeds at their centre (seeds 45 and 46, trained
    # once apart, moved the s.d. of the test -ELBO only from 0.203 to 0.197 nats); the reference
    # ConvVAEs 10 epochs, as the seed report trained them; the likelihood runs short. About half an
    # hour on a 2-core CPU (the manifest says how long).
    "standard": Profile(name="standard", sweep_epoch_cap=100, seeds=3),
    # GPU recommended: long runs, wider sweeps, more importance samples, whole test sets.
    "full": Profile(name="full", long_epochs=(50, 100), sweep_epoch_cap=200, betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                    latent_dims=(2, 8, 16, 32, 64), length_epochs=(10, 50, 100, 300), likelihood_epochs=(1200, 670),
                    likelihood_train_k=50, likelihood_kl_warmup_epochs=10, likelihood_lr_schedule="cosine",
                    iwae_k=5000, iwae_conv_images=10_000, iwae_mlp_images=10_000, tsne_points=5000),
}
# --8<-- [end:profiles]


@dataclass(frozen=True)
class Role:
    """A run's place in the plan: the experiment it serves and the value it stands for there."""
    experiment: str
    value: Any = None

    def __str__(self) -> str:
        return self.experiment if self.value is None else f"{self.experiment} = {self.value}"


@dataclass(frozen=True)
class RunSpec:
    """One training run of the report, its roles in the plan, and what is measured on it besides
    the standard set."""
    name: str
    config: TrainConfig
    roles: tuple[Role, ...] = ()
    likelihood: bool = False       # importance-sampled log-likelihood (IWAE bound)
    save_model: bool = False       # model.pt + latents.npz for the site's latent-space notebook
    anomaly_against: str | None = None   # score this dataset's test set as outliers
    bound_by_epoch: bool = False   # test -ELBO after each epoch (the likelihood experiment's plot)
    snapshot_epochs: tuple[int, ...] = ()   # reconstructions, latent means and test terms at these epochs
    failures: bool = False         # the test images it reconstructs worst (failures.png)
    # The run whose training this one goes on with: the same model, data and seed, only trained
    # longer. It starts from that run's last epoch, in the same worker, instead of training those
    # epochs again; its snapshots of the earlier epochs are taken during that run's training.
    continues: str | None = None

    @property
    def seed(self) -> int:
        return self.config.seed

    def plays(self, experiment: str, value: Any = None) -> bool:
        return any(r.experiment == experiment and (value is None or r.value == value) for r in self.roles)


class PlanError(ValueError):
    """A comparison asked the plan for a role that no planned run plays, or for a run without a
    result, or two different runs would share a name."""


def role_value(spec: RunSpec, experiment: str) -> Any:
    """The value `spec` stands for in `experiment`."""
    return next(r.value for r in spec.roles if r.experiment == experiment)


def base_config(profile: Profile, data_dir: str | Path = "data", **changes: Any) -> TrainConfig:
    """The profile's base configuration (the seed report's ConvVAE on MNIST, the profile's epochs,
    subsets and seed), with `changes`."""
    base = TrainConfig(epochs=profile.epochs, train_limit=profile.train_limit, val_split=profile.val_split,
                       seed=profile.seed, device=profile.device, data_dir=str(data_dir),
                       cuda_graph=profile.cuda_graph)
    return dataclasses.replace(base, **changes)


def until_rule(profile: Profile, config: TrainConfig) -> TrainConfig:
    """`config` trained until the stopping rule, at most the profile's cap (the sweeps)."""
    return dataclasses.replace(config, epochs=profile.sweep_epoch_cap, stop_window=profile.stop_window,
                               stop_min_gain=profile.stop_min_gain)


# How long, where and at what precision a run trains, not what it is: left out of names (`merge`
# refuses two runs that differ only there). Epochs are named only for a run without the stopping
# rule that trains longer or shorter than the profile's runs.
PROCEDURE_FIELDS = frozenset({"epochs", "stop_window", "stop_min_gain", "device", "data_dir", "train_limit",
                              "precision", "val_split", "eval_batch_size", "cuda_graph"})
NAME_PREFIX_FIELDS = frozenset({"dataset", "binarize", "arch", "hidden", "latent_dim", "k"})
# A field's mark in a name; a field not listed is named by itself without underscores.
SHORT_NAMES = {"beta": "b", "epochs": "e", "seed": "s", "free_bits": "fb", "kl_warmup_epochs": "warmup",
               "init_output_bias": "obias", "weight_decay": "wd", "batch_size": "bs", "min_lr": "minlr",
               "lr_schedule": "", "activation": "", "recon_loss": ""}


def _mark(field: str, value: Any, config: TrainConfig) -> str:
    """One field's part of a run's name: `tanh`, `iwae5`, `b2`, `fb0.25`, `obias`, `e100`."""
    if field == "objective":
        return f"{value}{config.k}"
    short = SHORT_NAMES.get(field, field.replace("_", ""))
    if isinstance(value, bool):
        return short if value else f"no{short}"
    return f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}"


def run_name(config: TrainConfig, base: TrainConfig) -> str:
    """`<dataset>[-bin]-<conv|mlp400x...>-z<latent>`, then every other field that differs from
    `base`: `-tanh`, `-iwae5`, `-b2` (β), `-fb0.25` (free bits), `-e100`, `-s43` (seed)..."""
    arch = "conv" if config.arch == "conv" else "mlp" + "x".join(str(h) for h in config.hidden)
    name = f"{config.dataset}{'-bin' if config.binarize else ''}-{arch}-z{config.latent_dim}"
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    # the activation first (it names the model), epochs and then the seed last
    for field in sorted(fields, key=lambda f: (f != "activation", f == "epochs", f == "seed")):
        value = getattr(config, field)
        if field in NAME_PREFIX_FIELDS or value == getattr(base, field):
            continue
        if field in PROCEDURE_FIELDS and not (field == "epochs" and config.stop_window == 0):
            continue
        name += f"-{_mark(field, value, config)}"
    return name


def merge(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """The runs in the order first asked for; a run asked for by several experiments appears once,
    with all their roles and measurements. Two different configurations under one name are refused."""
    merged: dict[str, RunSpec] = {}
    for spec in specs:
        seen = merged.get(spec.name)
        if seen is None:
            merged[spec.name] = spec
            continue
        if seen.config != spec.config:
            differ = [f.name for f in dataclasses.fields(TrainConfig)
                      if getattr(seen.config, f.name) != getattr(spec.config, f.name)]
            raise PlanError(f"two planned runs are both called {spec.name} but differ in {', '.join(differ)}; "
                            f"name the field in run_name")
        merged[spec.name] = dataclasses.replace(
            seen, roles=tuple(dict.fromkeys((*seen.roles, *spec.roles))),
            likelihood=seen.likelihood or spec.likelihood, save_model=seen.save_model or spec.save_model,
            anomaly_against=seen.anomaly_against or spec.anomaly_against,
            bound_by_epoch=seen.bound_by_epoch or spec.bound_by_epoch,
            snapshot_epochs=tuple(sorted({*seen.snapshot_epochs, *spec.snapshot_epochs})),
            failures=seen.failures or spec.failures, continues=seen.continues or spec.continues)
    return list(merged.values())


def spec(config: TrainConfig, base: TrainConfig, *roles: Role, **measure: Any) -> RunSpec:
    """A run of `config`, named from what differs from `base`, playing `roles`."""
    return RunSpec(run_name(config, base), config, roles, **measure)


@dataclass(frozen=True)
class Sweep:
    """A sweep as data: one field of a base configuration, the values it takes, and the experiment
    whose role each run plays (with its value). The value the centre already has is trained with
    each of `centre_seeds` (the yardstick's seeds), so that the sweep's table shows its mean and spread."""
    experiment: str
    field: str
    values: tuple[Any, ...]
    centre: TrainConfig
    centre_seeds: tuple[int, ...] = ()

    def specs(self, base: TrainConfig, **measure: Any) -> list[RunSpec]:
        found = []
        for value in self.values:
            config = dataclasses.replace(self.centre, **{self.field: value})
            seeds = self.centre_seeds if config == self.centre and self.centre_seeds else (config.seed,)
            found += [spec(dataclasses.replace(config, seed=seed), base, Role(self.experiment, value), **measure)
                      for seed in seeds]
        return found


def describe(config: TrainConfig) -> str:
    """A run in words for titles and tables: e.g. "MLP 784-400, latent 16, β = 2"."""
    model = "ConvVAE" if config.arch == "conv" else "MLP 784-" + "-".join(map(str, config.hidden))
    words = [model + (f" {config.activation}" if config.arch == "mlp" and config.activation != "relu" else ""),
             f"latent {config.latent_dim}"]
    if config.beta != 1.0:
        words.append(f"β = {config.beta:g}")
    if config.free_bits:
        words.append(f"free bits {config.free_bits:g}")
    if config.objective == "iwae":
        words.append(f"IWAE k = {config.k}")
    if config.binarize:
        words.append("binarized")
    if config.dataset != "mnist":
        words.insert(0, DATASET_TITLES[config.dataset])
    return ", ".join(words)
