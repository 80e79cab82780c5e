"""The experiment plan: profiles, the runs each profile makes, and what each run is called.

A profile is one `Profile` (how long to train, how many importance samples, which subsets);
`run_specs` turns it into the list of runs. Nothing here trains or writes anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig

REFERENCE = "mnist-conv-z2"
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
# Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders", table 1: the
# 784-200-200-50 tanh MLP (one stochastic layer) of the likelihood experiment.
BURDA_HIDDEN = (200, 200)
BURDA_LATENT_DIM = 50
BURDA_IWAE_K = 50


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
    likelihood_epochs: tuple[int, int] = (5, 5)   # Burda's MLP trained as (VAE, IWAE k = 50)
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
    # On CUDA: runs trained at once (at most; as many as free GPU memory holds) and the captured
    # training step. Off until a GPU run measures them: `report --workers N --cuda-graph`.
    workers: int = 1
    cuda_graph: bool = False


PROFILES: dict[str, Profile] = {
    # Minutes on a 2-core CPU: every file of the asset contract, from tiny subsets.
    "quick": Profile(name="quick", epochs=2, train_limit=1000, val_split=0.02, likelihood_epochs=(2, 1),
                     iwae_k=50, iwae_conv_images=20, iwae_mlp_images=200, tsne_points=300,
                     anomaly_images=500, classifier_epochs=1),
    # What `make report` runs: the full datasets, 10 epochs, k = 1000; the likelihood runs short.
    "standard": Profile(name="standard"),
    # GPU recommended: long runs, wider sweeps, more importance samples, whole test sets.
    "full": Profile(name="full", long_epochs=(50, 100), betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                    latent_dims=(2, 8, 16, 32, 64), likelihood_epochs=(1200, 670),
                    likelihood_kl_warmup_epochs=10, likelihood_lr_schedule="cosine", iwae_k=5000,
                    iwae_conv_images=10_000, iwae_mlp_images=10_000, tsne_points=5000),
}
# --8<-- [end:profiles]


@dataclass(frozen=True)
class RunSpec:
    """One training run of the report and what is measured on it besides the standard set."""
    name: str
    config: TrainConfig
    likelihood: bool = False       # importance-sampled log-likelihood (IWAE bound)
    save_model: bool = False       # model.pt + latents.npz for the site's latent-space notebook
    anomaly_against: str | None = None   # score this dataset's test set as outliers
    bound_by_epoch: bool = False   # test -ELBO after each epoch (the likelihood experiment's plot)


def run_name(dataset: str, arch: str, hidden: tuple[int, ...], latent_dim: int, beta: float = 1.0,
             epochs: int | None = None, binarize: bool = False, activation: str = "relu",
             objective: str = "elbo", k: int = 1) -> str:
    """`<dataset>[-bin]-<arch>-z<latent>`, then `-tanh`, `-iwae<k>`, `-b<β>` (β != 1), `-e<epochs>`."""
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


def likelihood_names() -> tuple[str, str]:
    """The likelihood experiment's two runs: Burda's MLP trained on the ELBO and on IWAE k = 50."""
    common = dict(dataset="mnist", arch="mlp", hidden=BURDA_HIDDEN, latent_dim=BURDA_LATENT_DIM,
                  binarize=True, activation="tanh")
    return run_name(**common), run_name(**common, objective="iwae", k=BURDA_IWAE_K)


# --8<-- [start:runs]
def run_specs(profile: Profile, data_dir: str | Path = "data") -> list[RunSpec]:
    """The runs of a profile, reference first; a run used by two comparisons appears once."""
    def config(**changes: Any) -> TrainConfig:
        base = TrainConfig(epochs=profile.epochs, train_limit=profile.train_limit, val_split=profile.val_split,
                           seed=profile.seed, device=profile.device, data_dir=str(data_dir),
                           cuda_graph=profile.cuda_graph)
        return dataclasses.replace(base, **changes)

    def spec(dataset: str = "mnist", arch: str = "mlp", hidden: tuple[int, ...] = (400,), latent_dim: int = 2,
             beta: float = 1.0, binarize: bool = False, epochs: int | None = None, **flags: Any) -> RunSpec:
        name = run_name(dataset, arch, hidden, latent_dim, beta, epochs, binarize)
        changes = dict(dataset=dataset, arch=arch, hidden=hidden, latent_dim=latent_dim, beta=beta,
                       binarize=binarize)
        if epochs is not None:
            changes["epochs"] = epochs
        return RunSpec(name, config(**changes), **flags)

    specs = [
        spec(arch="conv", likelihood=True, save_model=True, anomaly_against="fashion-mnist"),
        spec(dataset="fashion-mnist", arch="conv", save_model=True),
        spec(hidden=(400,), likelihood=True),
        spec(hidden=(512, 256)),
        *[spec(latent_dim=z, likelihood=(z == profile.sweep_latent_dim)) for z in profile.latent_dims if z != 2],
        *[spec(latent_dim=profile.sweep_latent_dim, beta=b) for b in profile.betas if b != 1.0],
        spec(latent_dim=profile.binarized_latent_dim, binarize=True, likelihood=True),
        *[spec(arch="conv", epochs=e) for e in profile.long_epochs],
        *likelihood_specs(profile, config),
    ]
    if profile.sweep_latent_dim not in profile.latent_dims and 1.0 in profile.betas:
        specs.append(spec(latent_dim=profile.sweep_latent_dim))   # the β = 1 point of the β sweep
    return specs
# --8<-- [end:runs]


# --8<-- [start:likelihood-runs]
def likelihood_specs(profile: Profile, config) -> list[RunSpec]:
    """Burda et al.'s 784-200-200-50 tanh MLP on dynamically binarized MNIST, once trained on the
    ELBO (a VAE) and once on the IWAE bound with k = 50; long in `full`, short elsewhere."""
    vae_epochs, iwae_epochs = profile.likelihood_epochs
    common = dict(dataset="mnist", arch="mlp", hidden=BURDA_HIDDEN, latent_dim=BURDA_LATENT_DIM, binarize=True,
                  activation="tanh", init_output_bias=True, lr_schedule=profile.likelihood_lr_schedule,
                  kl_warmup_epochs=min(profile.likelihood_kl_warmup_epochs, min(profile.likelihood_epochs) - 1))
    vae_name, iwae_name = likelihood_names()
    return [RunSpec(vae_name, config(**common, epochs=vae_epochs), likelihood=True, bound_by_epoch=True),
            RunSpec(iwae_name, config(**common, epochs=iwae_epochs, objective="iwae", k=BURDA_IWAE_K),
                    likelihood=True, bound_by_epoch=True)]
# --8<-- [end:likelihood-runs]
