"""Making the runs of a report: one after another, or several at once on one GPU.

Each run writes its own folder (and its dataset's explorer/ folder, which no other run writes),
and its checkpoints into a scratch folder outside the assets, so runs are independent. On CUDA, `workers` processes
train at once (small models leave most of a GPU idle); on a CPU the runs go one after another,
since the cores are already shared by one run's threads. Results are collected in the plan's
order whatever order they finish in, so the manifest is the same as a sequential report's.
"""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..artifacts import ArtifactError
from ..data import DataError
from ..device import select_device
from ..errors import ConfigError, TrainingError
from .plan import Profile, RunSpec
from .progress import ReportProgress
from .run import RunInputs, RunOutcome, produce_run

RUN_FAILURES = (TrainingError, ConfigError, DataError, ArtifactError, RuntimeError, ValueError)


@dataclass
class RunJob:
    """Everything one run needs, picklable for a worker process."""
    index: int                 # place in the plan, from 0
    spec: RunSpec
    profile: Profile
    run_dir: Path
    inputs: RunInputs


def run_one(job: RunJob, progress: ReportProgress | None = None) -> RunOutcome | str:
    """The run's outcome, or one line saying why it failed (its folder removed); its checkpoints
    are removed either way. `progress` hears of each epoch (in this process only)."""
    job.run_dir.mkdir(parents=True)
    on_epoch, log = progress.for_run(job.index, job.spec) if progress is not None else (None, lambda message: None)
    try:
        return produce_run(job.spec, job.profile, job.run_dir, job.inputs, on_epoch, log)
    except RUN_FAILURES as err:
        shutil.rmtree(job.run_dir, ignore_errors=True)
        return f"{type(err).__name__}: {err}"
    finally:
        shutil.rmtree(job.inputs.checkpoint_dir, ignore_errors=True)


def worker_count(profile: Profile) -> int:
    """`profile.workers` on CUDA, 1 elsewhere."""
    return profile.workers if select_device(profile.device).type == "cuda" else 1


def make_runs(jobs: Sequence[RunJob], workers: int, on_done: Callable[[RunJob, RunOutcome | str], None],
              progress: ReportProgress | None = None) -> list[RunOutcome | str]:
    """Each job's outcome or failure line, in the order of `jobs`; `on_done` hears of each as it
    ends, and `progress` of each epoch when the runs are made in this process."""
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(run_one(job, progress))
            on_done(job, results[-1])
        return results
    # spawn: a CUDA context cannot be forked into a child process.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, job): index for index, job in enumerate(jobs)}
        results: dict[int, RunOutcome | str] = {}
        try:
            for future in as_completed(futures):
                index = futures[future]
                results[index] = _result(future)
                on_done(jobs[index], results[index])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[index] for index in range(len(jobs))]


def _result(future) -> RunOutcome | str:
    try:
        return future.result()
    except BrokenProcessPool as err:
        return f"worker process died: {err}"
