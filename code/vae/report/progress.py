"""What a report shows while it runs, so that a long report is never silent.

On a terminal: one live bar for the whole report (epochs done of all the plan's epochs, runs
done of all, the current run and its epoch, and the time left); log lines are printed above it.
Elsewhere (a log file, CI): one line per epoch, naming the run and the time left.

The time left comes from the plan's measured costs: before the first run, a few training steps
of each model are timed on this machine, at the run's batch size, objective, precision and
threads (`measure_epoch_seconds`). A run under the stopping rule is expected to train what the
last report's run trained (`expected_epochs`). Each run's remaining epochs and its measurements
after training are then laid out on the report's workers in the runner's order, as the runner
will hand them out (`time_left_s`). As epochs end, their measured pace against the prediction,
for each model kind apart and from each run's second epoch, corrects the rest, and the epochs the
rule let the ended runs train correct those expected of the runs to come. A count of FLOPs
instead weighed a ConvVAE epoch against an MLP one wrongly, and an estimate from the work done so
far could not see the MLP runs still queued behind the ConvVAEs: six minutes into a 22-minute
report it said 10 minutes were left.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import torch
from tqdm import tqdm   # the terminal bar: the report runs in a terminal, never in a notebook

from ..data import Splits
from ..models import VAE, build_model
from ..plumbing.device import SpeedPolicy
from ..training import EpochCallback, train_step
from .plan import Profile, RunSpec

TRAIN_IMAGES = 54_000     # MNIST's and Fashion-MNIST's training split at the default val_split
VALIDATION_SHARE = 0.04   # an epoch's validation: 6,000 forward passes beside 54,000 training steps (3 passes each)


def _step_seconds(spec: RunSpec, device: torch.device, steps: int) -> float:
    """Seconds per training step of the run's model, timed after one untimed step."""
    c = spec.config
    policy = SpeedPolicy.for_model(c.arch, device, cuda_graph=False, precision=c.precision)
    model = policy.prepare(build_model(c.arch, c.latent_dim, c.hidden, c.activation).to(device))
    # The step's cost does not depend on the learning rate: a fixed one, so that a run whose own
    # setting is refused fails in its own process, as the report reports failures, and not here.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=policy.fused_adam)
    x = torch.rand(c.batch_size, 1, 28, 28, device=device)

    def step() -> None:
        train_step(model, optimizer, x, c.beta, c.recon_loss, c.objective, c.k, c.binarize, policy.bf16,
                   policy.bernoulli_nll, c.free_bits)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def measure_epoch_seconds(specs: Sequence[RunSpec], device: torch.device, threads: int | None,
                          steps: int = 3) -> dict[str, float]:
    """Seconds per epoch of each run on this machine, on `threads` threads (a worker's): a few
    timed steps of each distinct model, times its steps per epoch, plus its validation."""
    def model(spec: RunSpec) -> tuple:     # what a step's cost depends on
        c = spec.config
        return c.arch, tuple(c.hidden), c.latent_dim, c.activation, c.objective, c.k, c.batch_size, c.precision

    per_model: dict[tuple, float] = {}
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for spec in specs:
            if model(spec) not in per_model:
                per_model[model(spec)] = _step_seconds(spec, device, steps)
    finally:
        torch.set_num_threads(threads_before)
    return {spec.name: per_model[model(spec)] * math.ceil(_train_images(spec) / spec.config.batch_size)
            * (1 + VALIDATION_SHARE) for spec in specs}


def expected_epochs(specs: Sequence[RunSpec], previous: Mapping[str, Any] | None) -> dict[str, int]:
    """The epochs each run is expected to train. A run without the stopping rule trains its
    epochs. A run with it trains, at most its cap, what the previous report's run of the same name
    trained under the same cap (`previous`: its manifest's runs); else what the rule needed for the
    previous report's long run (its `stopping_rule` finding); else its cap."""
    recorded: dict[str, tuple[int, int]] = {}     # name: (its cap, the epochs it trained)
    for run in (previous or {}).get("runs", []):
        metrics = run.get("metrics", {})
        if run.get("epochs") is not None and "epochs_trained" in metrics:
            recorded[run["name"]] = (run["epochs"], metrics["epochs_trained"])
    rule = (previous or {}).get("rule_stop_epoch")
    found = {}
    for spec in specs:
        c = spec.config
        if c.stop_window == 0:
            found[spec.name] = c.epochs
        elif spec.name in recorded and recorded[spec.name][0] == c.epochs:
            found[spec.name] = min(c.epochs, recorded[spec.name][1])
        else:
            found[spec.name] = min(c.epochs, rule) if isinstance(rule, int) and rule > 0 else c.epochs
    return found


def _train_images(spec: RunSpec) -> int:
    return spec.config.train_limit if spec.config.train_limit is not None else TRAIN_IMAGES


# A run's figures, tables and analyses after training, by model: on the 2-core CPU of the
# committed standard report (two runs side by side), an MLP run's took 4-13 s (median 11) and a
# reference ConvVAE's 24-33 s (its latent reading, manifold and failures come on top).
FILES_S = {"mlp": 11.0, "conv": 28.0}


# An importance sample's forward pass, decoded k at a time in one batch, costs less than a third of
# a training step on one image: in the committed standard report the three likelihood runs' samples
# (k = 1,000 on 2,000 images each) took 0.46-0.74 of it, after their test images and files.
IMPORTANCE_SAMPLE_SHARE = 0.6


def extra_seconds(spec: RunSpec, profile: Profile, epoch_s: float) -> float:
    """What a run costs after its last epoch: its files, and a forward pass of each test image
    (a third of a training step's work on one image; an IWAE step's on k of them) and of each
    importance sample of its likelihood (IMPORTANCE_SAMPLE_SHARE of that)."""
    forward_s = epoch_s / (1 + VALIDATION_SHARE) / (3 * max(1, spec.config.k) * _train_images(spec))
    passes = profile.test_limit or 10_000
    if spec.likelihood:
        samples = (profile.iwae_conv_images if spec.config.arch == "conv" else profile.iwae_mlp_images) * profile.iwae_k
        passes += IMPORTANCE_SAMPLE_SHARE * samples
    return FILES_S.get(spec.config.arch, max(FILES_S.values())) + passes * forward_s


def duration(seconds: float) -> str:
    """`42 s`, `7 min`, `1 h 05 min`: a time left as a student reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class ReportProgress:
    """Counts the plan's epochs as they end and shows them (see the module's docstring)."""

    RECORD_EVERY_S = 60.0      # how often the estimate is kept for the manifest (`record`)

    def __init__(self, specs: Sequence[RunSpec], log: Callable[[str], None], live: bool | None = None):
        self._log = log
        self.runs, self.runs_done = len(specs), 0
        self.epochs = {spec.name: spec.config.epochs for spec in specs}   # at most: a rule may stop a run sooner
        self.expected = dict(self.epochs)                                   # what the estimate counts on (`plan`)
        self.rule = {spec.name for spec in specs if spec.config.stop_window > 0}
        # A run that continues another (`RunSpec.continues`) trains only the epochs after that one's.
        names = set(self.epochs)
        self.continued_by = {spec.continues: spec.name for spec in specs if spec.continues in names}
        self.continues = {then: first for first, then in self.continued_by.items()}
        self.trained: dict[str, int] = {}                                   # epochs of the runs that ended
        self.total_epochs, self.epochs_done = sum(self.epochs.values()), 0
        self.counted: dict[str, int] = {}
        # The cost model (`plan`): measured seconds per epoch and after training, the workers, the order.
        self.epoch_s: dict[str, float] | None = None
        self.extra_s: dict[str, float] = {}
        self.lanes, self.order = 1, [spec.name for spec in specs]
        self.runs_started_at: float | None = None
        self.runs_ended_at: float | None = None
        self.started_at: dict[str, float] = {}      # when each run began
        self.last_event: dict[str, float] = {}      # when each run's last epoch ended
        self.finished: set[str] = set()
        # The epochs measured so far and what was predicted for them, by model kind: a ConvVAE and
        # an MLP beside it on the other core slow each other unequally, so each kind keeps its pace.
        self.arch = {spec.name: spec.config.arch for spec in specs}
        self.observed_s: dict[str, float] = {}
        self.predicted_s: dict[str, float] = {}
        self.paced_epochs: dict[str, int] = {}
        self.estimates: list[dict[str, float]] = []   # (seconds since the runs began, estimated time left)
        self.live = sys.stderr.isatty() if live is None else live
        self.bar = tqdm(total=self.total_epochs, unit="epoch", disable=not self.live, dynamic_ncols=True,
                        desc=self._state(), leave=False, file=sys.stderr,
                        bar_format="{desc} {bar} {n_fmt}/{total_fmt} epochs [{elapsed}{postfix}]"
                        ) if self.live else None

    def _state(self, run: str = "", epoch: int = 0) -> str:
        current = f", {run} epoch {epoch}/{self.epochs[run]}" if run else ""
        return f"runs done {self.runs_done}/{self.runs}{current}"

    def plan(self, epoch_s: dict[str, float], extra_s: dict[str, float], lanes: int, order: Sequence[str],
             expected: Mapping[str, int] | None = None) -> None:
        """The cost model, before the first run: each run's seconds per epoch and after training
        (measure_epoch_seconds, extra_seconds), the workers, the order the runner hands runs out,
        and the epochs each run is expected to train (`expected_epochs`; default: all of them)."""
        self.epoch_s, self.extra_s, self.lanes, self.order = dict(epoch_s), dict(extra_s), lanes, list(order)
        self.expected.update(expected or {})
        self.runs_started_at = time.perf_counter()
        if self.bar is not None:        # from the first second, not only after the first epoch
            self.bar.set_postfix_str(f"about {duration(self.time_left_s())} left")

    # How many epochs' worth the timed steps weigh against the epochs measured: an epoch's time
    # also depends on what else runs on the machine then, so the first few epochs alone would set
    # the pace of the whole report (in one standard report here, ConvVAE epochs of 80 s at its
    # start and of 56 s later made the time left 25 % too long at minute five).
    PRIOR_EPOCHS = 2

    def pace(self, arch: str | None = None) -> float:
        """Measured epoch time over predicted, over the epochs of this model kind measured so far
        (of every kind where this one has none yet), drawn towards 1 by PRIOR_EPOCHS epochs at the
        predicted time: 1 before the first epoch."""
        kinds = [arch] if arch in self.predicted_s else list(self.predicted_s)
        predicted = sum(self.predicted_s[k] for k in kinds)
        epochs = sum(self.paced_epochs[k] for k in kinds)
        if not epochs:
            return 1.0
        prior_s = self.PRIOR_EPOCHS * predicted / epochs
        return (sum(self.observed_s[k] for k in kinds) + prior_s) / (predicted + prior_s)

    def rule_ratio(self) -> float:
        """Epochs the stopping rule let the ended runs train, over the epochs expected of them
        (1 before the first of them ends): the runs still to come are expected to do the same."""
        ended = [name for name in self.trained if name in self.rule]
        expected = sum(self.expected[name] for name in ended)
        return sum(self.trained[name] for name in ended) / expected if expected else 1.0

    def epochs_left(self, name: str) -> float:
        """The epochs a run still has to train: all of its own (less those of the run it continues),
        or for a run under the stopping rule what is expected of it (at least one more while it
        trains, at most its cap)."""
        done = self.counted.get(name, 0)
        if name not in self.rule:
            first = self.continues.get(name)
            if first is None:
                inherited = 0.0
            elif first in self.finished:
                inherited = self.trained[first]
            else:
                inherited = self.counted.get(first, 0) + self.epochs_left(first)
            return max(self.epochs[name] - inherited - done, 0.0)
        expected = min(self.epochs[name], self.expected[name] * self.rule_ratio())
        return max(expected - done, 1.0 if done < self.epochs[name] else 0.0)

    def time_left_s(self) -> float | None:
        """The runs' remaining work laid out on the workers: the runs under way first, each for
        its remaining epochs and measurements less the part of its current epoch already spent,
        then the queued runs, each to the first worker free; all at the measured pace. None
        before the cost model is known (`plan`)."""
        if self.epoch_s is None:
            return None
        now = time.perf_counter()
        running, queued = [], []
        handed_out = set(self.order)
        for name in self.order:      # a run and the one that continues it, in one worker
            if self.continues.get(name) in handed_out:
                continue             # laid out with the run it continues
            chain = [n for n in (name, self.continued_by.get(name)) if n is not None]
            left = [n for n in chain if n not in self.finished]
            if not left:
                continue
            work = sum((self.epochs_left(n) * self.epoch_s[n] + self.extra_s[n]) * self.pace(self.arch[n])
                       for n in left)
            current = next((n for n in reversed(chain) if n in self.started_at), None)
            if current is not None:
                running.append(max(work - (now - self.last_event.get(current, self.started_at[current])), 0.0))
            else:
                queued.append(work)
        lanes = sorted(running + [0.0] * max(0, self.lanes - len(running)))
        for work in queued:
            lanes[0] += work
            lanes.sort()
        left = max(lanes, default=0.0)
        since = now - (self.runs_started_at or now)
        if not self.estimates or since - self.estimates[-1]["since_s"] >= self.RECORD_EVERY_S:
            self.estimates.append({"since_s": since, "left_s": left})
        return left

    def record(self) -> dict[str, Any]:
        """The cost model and the estimates it gave, for the manifest: a later test holds each
        estimate against the time the runs really took."""
        return {"workers": self.lanes, "order": self.order, "epoch_s": self.epoch_s, "extra_s": self.extra_s,
                "expected_epochs": self.expected, "continued_by": self.continued_by,
                "estimates": self.estimates,
                "runs_s": None if self.runs_started_at is None or self.runs_ended_at is None
                else self.runs_ended_at - self.runs_started_at}

    def log(self, message: str) -> None:
        """A line of the report's log, above the live bar if there is one."""
        if self.bar is None:
            self._log(message)
            return
        with self.bar.external_write_mode():
            self._log(message)

    def _advance(self, epochs: int, run: str = "", epoch: int = 0) -> None:
        self.epochs_done += epochs
        if self.bar is not None:
            self.bar.set_description_str(self._state(run, epoch), refresh=False)
            left = self.time_left_s()
            if left is not None:
                self.bar.set_postfix_str(f"about {duration(left)} left", refresh=False)
            self.bar.update(epochs)

    def run_started(self, spec: RunSpec) -> None:
        """A run began (in this process, or a worker said so)."""
        self.started_at.setdefault(spec.name, time.perf_counter())

    def for_run(self, index: int, spec: RunSpec) -> tuple[EpochCallback, Callable[[str], None]]:
        """The run's `on_epoch` callback and the trainer's log. The trainer logs an epoch's line
        just before it calls `on_epoch`, so the line is held until the epoch is counted and then
        printed (not on a terminal, where the bar says it all) with the report's time left."""
        prefix, pending = f"[{index + 1}/{self.runs}] {spec.name}", []
        self.counted[spec.name] = 0
        self.run_started(spec)

        def log(message: str) -> None:
            if message.startswith("epoch"):
                pending[:] = [message]
            elif self.bar is None:
                self._log(f"{prefix} {message}")

        def on_epoch(epoch: int, model: VAE, splits: Splits) -> None:
            if epoch == 0:                # the untrained model
                return
            now = time.perf_counter()
            # From a run's second epoch: its first interval also holds the run's start (its process,
            # data and model), which would make one MLP epoch read as twice its pace.
            if self.epoch_s is not None and spec.name in self.last_event:
                arch = self.arch[spec.name]
                self.observed_s[arch] = self.observed_s.get(arch, 0.0) + now - self.last_event.get(
                    spec.name, self.started_at[spec.name])
                self.predicted_s[arch] = self.predicted_s.get(arch, 0.0) + self.epoch_s[spec.name]
                self.paced_epochs[arch] = self.paced_epochs.get(arch, 0) + 1
            self.last_event[spec.name] = now
            self.counted[spec.name] += 1
            self._advance(1, spec.name, epoch)
            if self.bar is None and pending:
                left = self.time_left_s()
                self._log(f"{prefix} {pending.pop()}" + (f"  (report: about {duration(left)} left)"
                                                         if left is not None else ""))
        return on_epoch, log

    def run_done(self, spec: RunSpec) -> None:
        """A run ended: count the epochs not heard of (a run in a worker process, or a failed one,
        or one the stopping rule ended early). Once only: a run another continues is also said to
        end when the one that continues it does."""
        if spec.name in self.finished:
            return
        self.runs_done += 1
        self.finished.add(spec.name)
        self.trained[spec.name] = self.counted.get(spec.name, 0)
        if self.runs_done == self.runs:
            self.runs_ended_at = time.perf_counter()
        self._advance(self.epochs[spec.name] - self.counted.get(spec.name, 0))
        self.counted[spec.name] = self.epochs[spec.name]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
