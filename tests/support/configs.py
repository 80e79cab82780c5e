"""The one tiny training configuration of the tests: an MLP on 256 real examples, on the CPU."""

from __future__ import annotations

from pathlib import Path

from vae.config import TrainConfig


def tiny_config(data_dir: str | Path, **changes) -> TrainConfig:
    """784-64-2 MLP, 2 epochs of 4 batches of 64 on the CPU; `changes` override any field."""
    values = dict(arch="mlp", hidden=(64,), epochs=2, batch_size=64, train_limit=256, device="cpu",
                  data_dir=str(data_dir))
    return TrainConfig(**{**values, **changes})


# The fields of metrics.json that are times: they differ between two runs of the same configuration.
TIMING_KEYS = frozenset({"wall_time_s", "epoch_time_s", "epoch_time_median_s", "first_epoch_time_s"})


def without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
