"""What a report shows while it runs, so that a long report is never silent.

On a terminal: one live bar for the whole report (epochs done of all the plan's epochs, runs
done of all, the current run and its epoch, and the time left, estimated from the work done so
far); log lines are printed above it. Elsewhere (a log file, CI): one line per epoch, naming
the run and the time left. Runs made in worker processes report when they end, not per epoch.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Callable, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm   # the terminal bar: the report runs in a terminal, never in a notebook

from ..data import Splits
from ..models import VAE, build_model
from ..training import EpochCallback
from .plan import RunSpec

TRAIN_IMAGES = 54_000     # MNIST's and Fashion-MNIST's training split at the default val_split


@functools.lru_cache(maxsize=None)
def _forward_flops(arch: str, latent_dim: int, hidden: tuple[int, ...], activation: str) -> int:
    model = build_model(arch, latent_dim, hidden, activation)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 28, 28))
    return counter.get_total_flops()


def epoch_cost(spec: RunSpec) -> float:
    """The relative cost of one epoch of a run: a forward pass's FLOPs per image, times the
    importance samples of an IWAE objective, times the training images. A ConvVAE epoch costs
    many MLP epochs, so an estimate that counted epochs alone would be off by hours."""
    c = spec.config
    images = c.train_limit if c.train_limit is not None else TRAIN_IMAGES
    return _forward_flops(c.arch, c.latent_dim, tuple(c.hidden), c.activation) * max(1, c.k) * images


def duration(seconds: float) -> str:
    """`42 s`, `7 min`, `1 h 05 min`: a time left as a student reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class ReportProgress:
    """Counts the plan's epochs as they end and shows them (see the module's docstring)."""

    def __init__(self, specs: Sequence[RunSpec], log: Callable[[str], None], live: bool | None = None):
        self._log = log
        self.runs, self.runs_done = len(specs), 0
        self.epochs = {spec.name: spec.config.epochs for spec in specs}
        self.total_epochs, self.epochs_done = sum(self.epochs.values()), 0
        self.cost = {spec.name: epoch_cost(spec) for spec in specs}
        self.total_cost, self.cost_done = sum(self.cost[n] * e for n, e in self.epochs.items()), 0.0
        self.counted: dict[str, int] = {}
        self.started = time.perf_counter()
        self.live = sys.stderr.isatty() if live is None else live
        self.bar = tqdm(total=self.total_epochs, unit="epoch", disable=not self.live, dynamic_ncols=True,
                        desc=self._state(), leave=False, file=sys.stderr) if self.live else None

    def _state(self, run: str = "", epoch: int = 0) -> str:
        current = f", {run} epoch {epoch}/{self.epochs[run]}" if run else ""
        return f"runs done {self.runs_done}/{self.runs}{current}"

    def time_left_s(self) -> float | None:
        """The work left (epochs weighted by `epoch_cost`) at the pace of the work done so far
        (None before the first epoch). A run that the stopping rule ends early counts its
        remaining epochs as done when it ends."""
        if self.cost_done == 0:
            return None
        elapsed = time.perf_counter() - self.started
        return elapsed / self.cost_done * (self.total_cost - self.cost_done)

    def log(self, message: str) -> None:
        """A line of the report's log, above the live bar if there is one."""
        if self.bar is None:
            self._log(message)
            return
        with self.bar.external_write_mode():
            self._log(message)

    def _advance(self, epochs: int, run: str = "", epoch: int = 0, counted: str | None = None) -> None:
        self.epochs_done += epochs
        self.cost_done += epochs * self.cost[counted or run] if (counted or run) else 0.0
        if self.bar is not None:
            self.bar.set_description_str(self._state(run, epoch), refresh=False)
            self.bar.update(epochs)

    def for_run(self, index: int, spec: RunSpec) -> tuple[EpochCallback, Callable[[str], None]]:
        """The run's `on_epoch` callback and the trainer's log. The trainer logs an epoch's line
        just before it calls `on_epoch`, so the line is held until the epoch is counted and then
        printed (not on a terminal, where the bar says it all) with the report's time left."""
        prefix, pending = f"[{index + 1}/{self.runs}] {spec.name}", []
        self.counted[spec.name] = 0

        def log(message: str) -> None:
            if message.startswith("epoch"):
                pending[:] = [message]
            elif self.bar is None:
                self._log(f"{prefix} {message}")

        def on_epoch(epoch: int, model: VAE, splits: Splits) -> None:
            if epoch == 0:                # the untrained model
                return
            self.counted[spec.name] += 1
            self._advance(1, spec.name, epoch)
            if self.bar is None and pending:
                left = self.time_left_s()
                self._log(f"{prefix} {pending.pop()}" + (f"  (report: about {duration(left)} left)"
                                                         if left is not None else ""))
        return on_epoch, log

    def run_done(self, spec: RunSpec) -> None:
        """A run ended: count the epochs not heard of (a run in a worker process, or a failed one)."""
        self.runs_done += 1
        self._advance(self.epochs[spec.name] - self.counted.get(spec.name, 0), counted=spec.name)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
