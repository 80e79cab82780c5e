"""Making the runs of a report: one after another, or several at once on one GPU.

Each run writes only its own folder (and its checkpoints into a scratch folder outside the
assets), so runs are independent. On CUDA, `report --workers N`
lets up to N processes train at once (small models leave most of a GPU idle), as many as the
GPU's free memory holds, each with its share of the CPU threads and each making one run only
(a fresh process per run: a finished run's GPU memory goes back with its process). The default
is one run at a time until a GPU run measures the gain; on a CPU the runs always go one after
another, since the cores are already shared by one run's threads. Results are collected in the
plan's order whatever order they finish in, so the manifest is the same as a sequential report's.
"""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..plumbing.artifacts import ArtifactError
from ..data import DataError
from ..plumbing.errors import ConfigError, TrainingError
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
    threads: int | None = None       # CPU threads of a worker process; None: the process's own


def run_one(job: RunJob, progress: ReportProgress | None = None) -> RunOutcome | str:
    """The run's outcome, or one line saying why it failed (its folder removed); its checkpoints
    are removed either way. `progress` hears of each epoch (in this process only)."""
    if job.threads is not None:          # a worker process: its share of the CPU threads
        torch.set_num_threads(job.threads)
    job.run_dir.mkdir(parents=True)
    on_epoch, log = progress.for_run(job.index, job.spec) if progress is not None else (None, lambda message: None)
    try:
        return produce_run(job.spec, job.profile, job.run_dir, job.inputs, on_epoch, log)
    except RUN_FAILURES as err:
        shutil.rmtree(job.run_dir, ignore_errors=True)
        return f"{type(err).__name__}: {err}"
    finally:
        shutil.rmtree(job.inputs.checkpoint_dir, ignore_errors=True)


# GPU memory one report run may need at most: the largest run's splits resident on the device
# (Fashion-MNIST or MNIST, 70,000 images in fp32: 0.2 GiB), model, optimizer, evaluation batches
# and the process's CUDA context (about 0.5 GiB). An upper estimate until a GPU run measures it.
GPU_BYTES_PER_RUN = 2 * 2**30


def worker_count(device: torch.device, requested: int, runs: int) -> int:
    """Runs at once: 1 off CUDA; on CUDA at most `requested`, as many as the free GPU memory holds."""
    if device.type != "cuda" or requested <= 1:
        return 1
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return max(1, min(requested, runs, free_bytes // GPU_BYTES_PER_RUN))


def threads_per_worker(workers: int, device: torch.device) -> int | None:
    """On CUDA, each worker's share of the CPU threads; None: the process keeps its own (one process,
    or a CPU run, whose numbers and record must not depend on how many workers there were)."""
    if workers <= 1 or device.type != "cuda":
        return None
    return max(1, torch.get_num_threads() // workers)


def make_runs(jobs: Sequence[RunJob], workers: int, on_done: Callable[[RunJob, RunOutcome | str], None],
              progress: ReportProgress | None = None,
              work: Callable[[RunJob], RunOutcome | str] | None = None) -> list[RunOutcome | str]:
    """Each job's outcome or failure line (`work(job)`, by default `run_one`), in the order of
    `jobs`; `on_done` hears of each as it ends, and `progress` of each epoch when the runs are made
    in this process."""
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(work(job) if work is not None else run_one(job, progress))
            on_done(job, results[-1])
        return results
    work = work or run_one
    # One run per process, `workers` at a time: a finished run's tensors (and the process's cached
    # GPU memory) go back when its process ends. (ProcessPoolExecutor's max_tasks_per_child=1 does
    # the same in principle, but on Python 3.11 it can mark the pool broken when a worker retires.)
    with ThreadPoolExecutor(workers) as threads:
        futures = {threads.submit(_in_own_process, work, job): index for index, job in enumerate(jobs)}
        results: dict[int, RunOutcome | str] = {}
        try:
            for future in as_completed(futures):
                index = futures[future]
                results[index] = future.result()
                on_done(jobs[index], results[index])
        except BaseException:
            threads.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[index] for index in range(len(jobs))]


def _in_own_process(work: Callable[[RunJob], RunOutcome | str], job: RunJob) -> RunOutcome | str:
    """`work(job)` in a new process that ends with it (spawn: a CUDA context cannot be forked)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        return _result(process.submit(work, job))


def _result(future) -> RunOutcome | str:
    try:
        return future.result()
    except BrokenProcessPool as err:
        return f"worker process died: {err}"
