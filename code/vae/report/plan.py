"""The experiment plan: profiles, the runs each profile makes, what each run is called, and the
place each run holds in the plan (its roles).

A profile is one `Profile` (how long to train, how many seeds and importance samples, which
subsets); `run_specs` turns it into the list of runs. Each `RunSpec` carries its `roles`: the
experiment it belongs to and the value it stands for there (β = 2 of the β sweep, Fashion-MNIST
of the reference runs); its seed is its configuration's. Comparisons, pages and the notebook find
runs by role (`select`), never by a name typed again. Nothing here trains or writes anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..config import TrainConfig

DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
# Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders", table 1: the
# 784-200-200-50 tanh MLP (one stochastic layer) of the likelihood experiment.
BURDA_HIDDEN = (200, 200)
BURDA_LATENT_DIM = 50


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
    val_split: float = 0.1
    betas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    latent_dims: tuple[int, ...] = (2, 8, 16, 32)
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
                     workers=1),   # runs of seconds: a worker process's start (importing torch) would cost more
    # What `make report` runs: the full datasets; the sweeps until the stopping rule or 10 epochs,
    # five seeds at their centre; the reference ConvVAEs 10 epochs; the likelihood runs short.
    "standard": Profile(name="standard", sweep_epoch_cap=10),
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


# The experiments of the plan and what a role's value means in each.
EXPERIMENTS = {
    "reference": "the seed report's ConvVAE, latent 2, 10 epochs; value: the dataset",
    "architecture": "latent 2 on MNIST; value: conv, or the MLP's hidden sizes such as 400",
    "latent_dim": "the latent-size sweep of the sweep MLP, β = 1; value: the latent dimension",
    "beta": "the β sweep of the sweep MLP at latent 16; value: β",
    "training_length": "the sweep MLP's centre trained without the stopping rule; value: epochs",
    "conv_length": "the reference ConvVAE on MNIST trained longer (full profile); value: epochs",
    "binarized": "dynamically binarized MNIST; value: the model (mlp400, burda)",
    "likelihood": "Burda et al.'s MLP trained on a bound; value: elbo or iwae",
    "anomaly": "the model that scores outliers; value: the outlier dataset",
}


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

    @property
    def seed(self) -> int:
        return self.config.seed

    def plays(self, experiment: str, value: Any = None) -> bool:
        return any(r.experiment == experiment and (value is None or r.value == value) for r in self.roles)


class PlanError(ValueError):
    """A comparison asked the plan for a role that no planned run plays, or for a run without a result."""


def select(specs: Iterable[RunSpec], experiment: str, value: Any = None) -> list[RunSpec]:
    """The planned runs that play `experiment` (with `value`, if given), in plan order; an error
    naming the role if none does."""
    if experiment not in EXPERIMENTS:
        raise PlanError(f"unknown experiment {experiment!r}; the plan has {', '.join(EXPERIMENTS)}")
    chosen = [spec for spec in specs if spec.plays(experiment, value)]
    if not chosen:
        raise PlanError(f"no planned run plays {Role(experiment, value)}; add it to run_specs")
    return chosen


def role_value(spec: RunSpec, experiment: str) -> Any:
    """The value `spec` stands for in `experiment`."""
    return next(r.value for r in spec.roles if r.experiment == experiment)


def run_name(dataset: str, arch: str, hidden: tuple[int, ...], latent_dim: int, beta: float = 1.0,
             epochs: int | None = None, binarize: bool = False, activation: str = "relu",
             objective: str = "elbo", k: int = 1, seed: int | None = None) -> str:
    """`<dataset>[-bin]-<arch>-z<latent>`, then `-tanh`, `-iwae<k>`, `-b<β>` (β != 1), `-e<epochs>`,
    `-s<seed>` (a seed other than the profile's)."""
    arch_name = "conv" if arch == "conv" else "mlp" + "x".join(str(h) for h in hidden)
    name = f"{dataset}{'-bin' if binarize else ''}-{arch_name}-z{latent_dim}"
    if activation != "relu":
        name += f"-{activation}"
    if objective != "elbo":
        name += f"-{objective}{k}"
    if beta != 1.0:
        name += f"-b{beta:g}"
    if epochs is not None:
        name += f"-e{epochs}"
    if seed is not None:
        name += f"-s{seed}"
    return name


def describe(config: TrainConfig) -> str:
    """A run in words for titles and tables: e.g. "MLP 784-400, latent 16, β = 2"."""
    model = "ConvVAE" if config.arch == "conv" else "MLP 784-" + "-".join(map(str, config.hidden))
    words = [model + (f" {config.activation}" if config.arch == "mlp" and config.activation != "relu" else ""),
             f"latent {config.latent_dim}"]
    if config.beta != 1.0:
        words.append(f"β = {config.beta:g}")
    if config.objective == "iwae":
        words.append(f"IWAE k = {config.k}")
    if config.binarize:
        words.append("binarized")
    if config.dataset != "mnist":
        words.insert(0, DATASET_TITLES[config.dataset])
    return ", ".join(words)


# --8<-- [start:runs]
def run_specs(profile: Profile, data_dir: str | Path = "data") -> list[RunSpec]:
    """The runs of a profile, reference first; a run that serves two experiments appears once,
    with both roles."""
    def config(**changes: Any) -> TrainConfig:
        base = TrainConfig(epochs=profile.epochs, train_limit=profile.train_limit, val_split=profile.val_split,
                           seed=profile.seed, device=profile.device, data_dir=str(data_dir),
                           cuda_graph=profile.cuda_graph)
        return dataclasses.replace(base, **changes)

    def spec(*roles: Role, dataset: str = "mnist", arch: str = "mlp", hidden: tuple[int, ...] = (400,),
             latent_dim: int = 2, beta: float = 1.0, binarize: bool = False, epochs: int | None = None,
             seed: int | None = None, stop: bool = False, **flags: Any) -> RunSpec:
        name = run_name(dataset, arch, hidden, latent_dim, beta, epochs, binarize,
                        seed=None if seed in (None, profile.seed) else seed)
        changes: dict[str, Any] = dict(dataset=dataset, arch=arch, hidden=hidden, latent_dim=latent_dim, beta=beta,
                                       binarize=binarize, seed=profile.seed if seed is None else seed)
        if epochs is not None:
            changes["epochs"] = epochs
        if stop:   # the sweeps: until the stopping rule, at most the cap
            changes.update(epochs=profile.sweep_epoch_cap, stop_window=profile.stop_window,
                           stop_min_gain=profile.stop_min_gain)
        return RunSpec(name, config(**changes), roles=roles, **flags)

    sweep = dict(hidden=profile.sweep_hidden, stop=True)
    centre_z, centre_roles = profile.sweep_latent_dim, (Role("latent_dim", profile.sweep_latent_dim),
                                                        Role("beta", 1.0))
    mlp_label = "mlp" + "x".join(map(str, profile.sweep_hidden))
    specs = [
        spec(Role("reference", "mnist"), Role("architecture", "conv"), Role("anomaly", "fashion-mnist"),
             arch="conv", likelihood=False, save_model=True, anomaly_against="fashion-mnist", failures=True),
        spec(Role("reference", "fashion-mnist"), dataset="fashion-mnist", arch="conv", save_model=True,
             failures=True),
        *[spec(Role("latent_dim", z), *([Role("architecture", mlp_label)] if z == 2 else []),
               *(centre_roles[1:] if z == centre_z else ()), latent_dim=z, **sweep)
          for z in profile.latent_dims],
        spec(Role("architecture", "mlp512x256"), hidden=(512, 256), stop=True),
        *[spec(Role("beta", b), latent_dim=centre_z, beta=b, **sweep) for b in profile.betas if b != 1.0],
        # The yardstick: the sweeps' shared centre again with other seeds (the first seed is above).
        *[spec(*centre_roles, latent_dim=centre_z, seed=profile.seed + i, **sweep) for i in range(1, profile.seeds)],
        spec(Role("training_length", max(profile.length_epochs)), hidden=profile.sweep_hidden, latent_dim=centre_z,
             epochs=max(profile.length_epochs), snapshot_epochs=profile.length_epochs),
        spec(Role("binarized", "mlp400"), latent_dim=profile.binarized_latent_dim, binarize=True, likelihood=True),
        *[spec(Role("conv_length", e), arch="conv", epochs=e) for e in profile.long_epochs],
        *likelihood_specs(profile, config),
    ]
    if centre_z not in profile.latent_dims:   # the β = 1 point of the β sweep
        specs.append(spec(*centre_roles[1:], latent_dim=centre_z, **sweep))
    return specs
# --8<-- [end:runs]


# --8<-- [start:likelihood-runs]
def likelihood_specs(profile: Profile, config) -> list[RunSpec]:
    """Burda et al.'s 784-200-200-50 tanh MLP on dynamically binarized MNIST, once trained on the
    ELBO (a VAE) and once on the IWAE bound with the profile's k (50 in `full`, 5 elsewhere: the
    IWAE step costs about k decoder passes, and Burda et al. report both k); long in `full`, short elsewhere."""
    vae_epochs, iwae_epochs = profile.likelihood_epochs
    common = dict(dataset="mnist", arch="mlp", hidden=BURDA_HIDDEN, latent_dim=BURDA_LATENT_DIM, binarize=True,
                  activation="tanh", init_output_bias=True, lr_schedule=profile.likelihood_lr_schedule,
                  kl_warmup_epochs=min(profile.likelihood_kl_warmup_epochs, min(profile.likelihood_epochs) - 1))
    names = dict(dataset="mnist", arch="mlp", hidden=BURDA_HIDDEN, latent_dim=BURDA_LATENT_DIM, binarize=True,
                 activation="tanh")
    return [RunSpec(run_name(**names), config(**common, epochs=vae_epochs),
                    roles=(Role("likelihood", "elbo"), Role("binarized", "burda-elbo")),
                    likelihood=True, bound_by_epoch=True),
            RunSpec(run_name(**names, objective="iwae", k=profile.likelihood_train_k),
                    config(**common, epochs=iwae_epochs, objective="iwae", k=profile.likelihood_train_k),
                    roles=(Role("likelihood", "iwae"), Role("binarized", "burda-iwae")),
                    likelihood=True, bound_by_epoch=True)]
# --8<-- [end:likelihood-runs]
