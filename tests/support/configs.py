"""The one tiny training configuration of the tests: an MLP on 256 real examples, on the CPU."""

from __future__ import annotations

import functools
from pathlib import Path

from vae.config import TrainConfig
from vae.data import Splits, load_splits


def tiny_config(data_dir: str | Path, **changes) -> TrainConfig:
    """784-64-2 MLP, 2 epochs of 4 batches of 64 on the CPU; `changes` override any field."""
    values = dict(arch="mlp", hidden=(64,), epochs=2, batch_size=64, train_limit=256, device="cpu",
                  data_dir=str(data_dir))
    return TrainConfig(**{**values, **changes})


@functools.lru_cache(maxsize=None)
def small_splits(data_dir: str | Path, dataset: str = "mnist", train: int = 256, val: int = 256, test: int = 512,
                 ) -> Splits:
    """The real splits of `dataset` (val_split 0.1, seed 42) cut to their first `train`, `val` and `test`
    examples, for `train(..., splits=...)` where a check needs no whole validation or test set: scoring
    6,000 validation images every epoch and 10,000 test images at the end is most of a tiny run's time.
    Shared between tests: `train` never changes the splits it is given."""
    full = load_splits(dataset, data_dir, val_split=0.1, seed=42, train_limit=train)
    return Splits(train_x=full.train_x.clone(), train_y=full.train_y.clone(),
                  val_x=full.val_x[:val].clone(), val_y=full.val_y[:val].clone(),
                  test_x=full.test_x[:test].clone(), test_y=full.test_y[:test].clone(), classes=full.classes)


# The fields of metrics.json that are times: they differ between two runs of the same configuration.
TIMING_KEYS = frozenset({"wall_time_s", "epoch_time_s", "epoch_time_median_s", "first_epoch_time_s"})


def without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
