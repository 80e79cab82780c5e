"""Schedules of a training run: the KL weight (warm-up) and the learning rate of each step.

Both are functions of the number of steps already taken, so a resumed run continues them
exactly, and the captured GPU step gets the same values as the eager loop.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import TrainConfig


# --8<-- [start:schedules]
BURDA_STAGES = 8        # Burda et al. 2015: stage i = 0..7 lasts 3^i epochs at lr 1e-3 * 10^(-i/7)


def kl_weight(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """β of the step after `step` steps: rising linearly from 0 over kl_warmup_epochs, then config.beta."""
    warmup_steps = config.kl_warmup_epochs * steps_per_epoch
    if step >= warmup_steps:
        return config.beta
    return config.beta * step / warmup_steps


def burda_stage(epoch: int) -> int:
    """The stage i of Burda's schedule that the 0-based `epoch` falls in (the last one after 3,280 epochs)."""
    stage, end = 0, 1
    while epoch >= end and stage < BURDA_STAGES - 1:
        stage += 1
        end += 3 ** stage
    return stage


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of the step after `step` steps."""
    if config.lr_schedule == "cosine":   # from lr at the first step to min_lr at the last
        progress = min(1.0, step / max(1, config.epochs * steps_per_epoch - 1))
        return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))
    if config.lr_schedule == "burda":    # scaled by --lr / 1e-3
        return config.lr * 10 ** (-burda_stage(step // steps_per_epoch) / 7)
    return config.lr
# --8<-- [end:schedules]
