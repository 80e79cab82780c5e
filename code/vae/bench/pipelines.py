"""The two pipelines the benchmark compares: the seed report's (DataLoader + ToTensor) and the
project's, which runs `training.train_step` under a `SpeedPolicy` and `evaluation.evaluate`.

A "step" trains on one batch (or, for a captured step, one replay of several batches); an
"eval" evaluates `n_images` test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..plumbing.cuda_graph import Accumulator, GraphedSteps
from ..plumbing.device import SpeedPolicy
from ..evaluation import evaluate
from ..losses import negative_elbo
from ..models import build_model
from ..training import CHECK_EVERY_STEPS, TrainConfig, build_optimizer, objective_terms, train_step

EPOCH_IMAGES = 54_000          # the reference training split: 60,000 images less 10% validation
BATCH = 128
MODELS = {"conv": dict(arch="conv", latent_dim=2), "mlp": dict(arch="mlp", latent_dim=20)}


def _new_model(arch: str, latent_dim: int, device: torch.device, memory_format=torch.contiguous_format,
               seed: int = 0):
    torch.manual_seed(seed)
    return build_model(arch, latent_dim).to(device).to(memory_format=memory_format)


def seed_loader(data_dir: str | Path, train: bool, shuffle: bool):
    """The seed report's input pipeline: a per-item ToTensor behind a single-process DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(data_dir), train=train, download=False, transform=transforms.ToTensor())
    return DataLoader(dataset, batch_size=BATCH, shuffle=shuffle, num_workers=0)


def _endless(loader):
    while True:
        yield from loader


def seed_train_step(arch: str, latent_dim: int, data_dir: str | Path, device: torch.device,
                    seed: int = 0) -> Callable[[], None]:
    model = _new_model(arch, latent_dim, device, seed=seed).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = _endless(seed_loader(data_dir, train=True, shuffle=True))

    def step() -> None:
        x, _ = next(batches)
        x = x.to(device)
        logits, mu, logvar = model(x)
        loss = negative_elbo(logits, x, mu, logvar, nll=SpeedPolicy.bernoulli_nll).loss   # the same loss kernel
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def project_train_step(arch: str, latent_dim: int, train_x: torch.Tensor, device: torch.device,
                       policy: SpeedPolicy | None = None, compiled: bool = False,
                       seed: int = 0) -> Callable[[], None]:
    """`training.train_step` on batches of `train_x` (resident on `device`), as `policy` says.

    Under a policy with cuda_graph, one call replays `policy.steps_per_replay` captured steps;
    the call's `images` attribute says how many images it trains on.
    """
    policy = policy or SpeedPolicy.for_model(arch, device)
    model = policy.prepare(_new_model(arch, latent_dim, device, seed=seed)).train()   # as training builds it
    optimizer = build_optimizer(model, TrainConfig(arch=arch, latent_dim=latent_dim), policy, device)
    forward = torch.compile(model) if compiled else model
    shuffle = torch.Generator().manual_seed(seed)
    if policy.cuda_graph:
        return _captured_steps(model, optimizer, train_x, policy, shuffle)
    window: list[torch.Tensor] = []
    state = {"order": torch.randperm(len(train_x), generator=shuffle).to(device), "at": 0}

    def step() -> None:
        # As training.eager_epoch: rows by index_select, the terms kept and summed every 20 steps.
        if state["at"] + BATCH > len(train_x):
            state["order"], state["at"] = torch.randperm(len(train_x), generator=shuffle).to(device), 0
        x = train_x.index_select(0, state["order"][state["at"]:state["at"] + BATCH])
        state["at"] += BATCH
        window.append(train_step(forward, optimizer, x, 1.0, bf16=policy.bf16, nll=policy.bernoulli_nll).stacked())
        if len(window) == CHECK_EVERY_STEPS:
            torch.stack(window).sum(0).isfinite().all().item()
            window.clear()
    step.model = model          # type: ignore[attr-defined]
    step.images = BATCH         # type: ignore[attr-defined]
    return step


def project_step_parts(arch: str, latent_dim: int, train_x: torch.Tensor, device: torch.device,
                       policy: SpeedPolicy, seed: int = 0) -> dict[str, Callable[[], None]]:
    """The eager training step (`training.train_step`, as `policy` says) and its parts, each a call
    on the next batch of one model: forward and loss; forward, loss and backward; the optimizer's
    step alone (on the gradients the last backward left). Timed side by side, their differences say
    where the step's time goes."""
    model = policy.prepare(_new_model(arch, latent_dim, device, seed=seed)).train()
    optimizer = build_optimizer(model, TrainConfig(arch=arch, latent_dim=latent_dim), policy, device)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed)).to(device)
    state = {"at": 0}

    def batch() -> torch.Tensor:
        if state["at"] + BATCH > len(train_x):
            state["at"] = 0
        state["at"] += BATCH
        return train_x.index_select(0, order[state["at"] - BATCH:state["at"]])

    def loss(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=policy.bf16, cache_enabled=False):
            return objective_terms(model, x, 1.0, nll=policy.bernoulli_nll).loss

    def forward_backward() -> None:
        terms = loss(batch())
        optimizer.zero_grad(set_to_none=True)
        terms.backward()

    forward_backward()      # gradients for the optimizer's step alone
    return {"step": lambda: train_step(model, optimizer, batch(), 1.0, bf16=policy.bf16, nll=policy.bernoulli_nll),
            "forward and loss": lambda: loss(batch()),
            "forward, loss and backward": forward_backward,
            "optimizer step": optimizer.step}


def _captured_steps(model, optimizer, train_x: torch.Tensor, policy: SpeedPolicy,
                    shuffle: torch.Generator) -> Callable[[], None]:
    device, n = train_x.device, policy.steps_per_replay
    acc = Accumulator(device)
    graph = GraphedSteps(lambda x, beta: train_step(model, optimizer, x, beta, bf16=policy.bf16,
                                                    nll=policy.bernoulli_nll),
                         model, optimizer, train_x, BATCH, n, acc)
    betas, lrs = torch.ones(n, device=device), torch.full((n,), 1e-3, device=device)
    numbers = torch.arange(1, n + 1, device=device)
    state = {"order": torch.randperm(len(train_x), generator=shuffle).to(device), "at": 0}

    def step() -> None:
        if state["at"] + n * BATCH > len(train_x):
            state["order"], state["at"] = torch.randperm(len(train_x), generator=shuffle).to(device), 0
        graph.replay(state["order"][state["at"]:state["at"] + n * BATCH].view(n, BATCH), betas, lrs, numbers)
        state["at"] += n * BATCH
    step.model = model          # type: ignore[attr-defined]
    step.images = n * BATCH     # type: ignore[attr-defined]
    return step


def seed_eval(arch: str, latent_dim: int, data_dir: str | Path, device: torch.device,
              n_images: int, seed: int = 0) -> Callable[[], None]:
    model = _new_model(arch, latent_dim, device, seed=seed).eval()
    loader = seed_loader(data_dir, train=False, shuffle=False)

    def run() -> None:
        total, seen = 0.0, 0
        with torch.no_grad():
            for x, _ in loader:
                x = x.to(device)
                logits, mu, logvar = model(x)
                total += negative_elbo(logits, x, mu, logvar, nll=SpeedPolicy.bernoulli_nll).elbo.item() * len(x)
                seen += len(x)
                if seen >= n_images:
                    break
    return run


def project_eval(arch: str, latent_dim: int, test_x: torch.Tensor, device: torch.device, n_images: int,
                 memory_format=None, batch_size: int | None = None, seed: int = 0) -> Callable[[], None]:
    """`evaluate` on the first n_images; batch_size None is the speed policy's batch, else exactly it."""
    if memory_format is None:
        memory_format = SpeedPolicy.for_model(arch, device).memory_format
    model = _new_model(arch, latent_dim, device, memory_format, seed)
    x = test_x[:n_images]
    return lambda: evaluate(model, x, batch_size=batch_size)
