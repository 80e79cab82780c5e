"""The report's own judge of classes: a small seeded MLP classifier per dataset.

It says whether a reconstruction keeps the class of its original, so the pages can state
"the reconstruction keeps the class of N of the 10 images shown" from a number, not an opinion.
Its test accuracy is reported beside it (classifier.json), so a reader knows how far to trust it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import Splits

BATCH_SIZE = 128
HIDDEN = 256


def build_classifier(classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, classes))


def train_classifier(splits: Splits, epochs: int, seed: int) -> tuple[nn.Module, float]:
    """Train on the training split (Adam, cross-entropy, seeded order); return it, on the CPU, in
    eval mode, with its accuracy on the test split."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_classifier(len(splits.classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = splits.train_x.cpu(), splits.train_y.cpu()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    accuracy = (predict(model, splits.test_x) == splits.test_y.cpu()).double().mean().item()
    return model, accuracy


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The predicted class of each image (N, 1, 28, 28) in [0, 1], on the CPU."""
    images = images.detach().cpu().float()
    return torch.cat([model(images[start:start + batch_size]).argmax(1)
                      for start in range(0, len(images), batch_size)])
