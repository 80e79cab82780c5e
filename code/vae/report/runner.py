"""Making the runs of a report: several at once, each in a process of its own.

Each run writes only its own folder (and its checkpoints into a scratch folder outside the
assets), so runs are independent. On a CPU the report trains one run per core at once, each on
one thread: on a 2-core AMD EPYC, two one-thread training loops side by side did 1.7-1.8x (MLP)
and 1.2-1.3x (conv, bf16) the images per second of one two-thread loop, two rounds each, timed
one after the other on a quiet machine. The MLPs' numbers do not depend on the number of threads;
the conv model's differ between one and two threads in the last digits (a report made one run at
a time, `--workers 1`, trains on all the process's threads). On CUDA, `report --workers N` lets
up to N processes train at once, as many as the GPU's free memory holds, each with its share of
the CPU threads; the default there is one run at a time until a GPU run measures the gain. Every
worker process makes one run only (a finished run's memory goes back with its process), or a run
and the one that continues its training (`RunSpec.continues`), and reports each epoch to the
parent, which shows the report's progress. Results are collected in the plan's order whatever
order they finish in, so the manifest is the same as a sequential report's.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import multiprocessing.managers
import os
import queue
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..plumbing.artifacts import ArtifactError
from ..data import DataError
from ..plumbing.errors import ConfigError, TrainingError
from .plan import Profile, RunSpec
from .progress import ReportProgress
from ..explorer import chain
from .run import EpochSnapshots, RunInputs, RunOutcome, produce_run

RUN_FAILURES = (TrainingError, ConfigError, DataError, ArtifactError, RuntimeError, ValueError)


@dataclass
class RunJob:
    """Everything one run needs, picklable for a worker process."""
    index: int                 # place in the plan, from 0
    spec: RunSpec
    profile: Profile
    run_dir: Path
    inputs: RunInputs
    threads: int | None = None       # CPU threads of the run; None: the process's own
    events: Any = None               # a worker's queue to the parent: ("start" | "log" | "epoch" | "ended", index, value)
    then: "RunJob | None" = None     # the run that continues this one's training (`RunSpec.continues`)


def with_continuations(jobs: Sequence[RunJob]) -> list[RunJob]:
    """The jobs to hand out: a run that continues another planned run becomes that run's `then`."""
    by_name = {job.spec.name: job for job in jobs}
    firsts = {job.spec.continues: job for job in jobs if job.spec.continues in by_name}
    return [dataclasses.replace(job, then=firsts[job.spec.name]) if job.spec.name in firsts else job
            for job in jobs if job.spec.continues not in by_name]


def run_one(job: RunJob, progress: ReportProgress | None = None) -> RunOutcome | str:
    """The run's outcome, or one line saying why it failed (its folder removed); its checkpoints
    are removed either way. Each epoch goes to `progress` (in this process) or to `job.events`
    (from a worker process to the parent). With `job.then`, the run that continues it trains on from
    its last epoch, snapshots of the earlier epochs taken on the way: its outcome is the `then` of
    this one's (or why it failed; not trained if this one failed)."""
    threads_before = torch.get_num_threads()
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    try:
        if job.then is None:
            return _produce(job, progress)
        then = job.then
        then.run_dir.mkdir(parents=True)
        earlier = EpochSnapshots(then.run_dir, then.spec, then.profile.samples, then.profile.seed)
        outcome = _produce(job, progress, also=earlier, keep_checkpoints=True)
        if isinstance(outcome, str):
            shutil.rmtree(then.run_dir, ignore_errors=True)
            shutil.rmtree(job.inputs.checkpoint_dir, ignore_errors=True)
            return outcome
        _tell(job, progress, "ended")
        shutil.rmtree(then.inputs.checkpoint_dir, ignore_errors=True)
        shutil.move(job.inputs.checkpoint_dir, then.inputs.checkpoint_dir)    # its last.pt, to resume from
        return dataclasses.replace(outcome, then=_produce(then, progress, snapshots=earlier, resume=True))
    finally:
        torch.set_num_threads(threads_before)


def _tell(job: RunJob, progress: ReportProgress | None, kind: str) -> None:
    """That the run started or ended, to `progress` or the parent."""
    if progress is not None:
        (progress.run_started if kind == "start" else progress.run_done)(job.spec)
    elif job.events is not None:
        job.events.put((kind, job.index, None))


def _produce(job: RunJob, progress: ReportProgress | None, also: EpochSnapshots | None = None,
             snapshots: EpochSnapshots | None = None, resume: bool = False,
             keep_checkpoints: bool = False) -> RunOutcome | str:
    """`produce_run` of the job, with its callbacks (and `also`'s, another run's snapshots of this
    training); its checkpoints are removed unless kept for the run that continues it."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        on_epoch, log = progress.for_run(job.index, job.spec)
    elif job.events is not None:
        _tell(job, progress, "start")
        on_epoch = lambda epoch, model, splits: job.events.put(("epoch", job.index, epoch))  # noqa: E731
        log = lambda message: job.events.put(("log", job.index, message))                   # noqa: E731
    else:
        on_epoch, log = None, lambda message: None
    try:
        return produce_run(job.spec, job.profile, job.run_dir, job.inputs, chain(also, on_epoch), log,
                           snapshots=snapshots, resume=resume)
    except RUN_FAILURES as err:
        shutil.rmtree(job.run_dir, ignore_errors=True)
        return f"{type(err).__name__}: {err}"
    finally:
        if not keep_checkpoints:
            shutil.rmtree(job.inputs.checkpoint_dir, ignore_errors=True)


# GPU memory one report run may need at most: the largest run's splits resident on the device
# (Fashion-MNIST or MNIST, 70,000 images in fp32: 0.2 GiB), model, optimizer, evaluation batches
# and the process's CUDA context (about 0.5 GiB). An upper estimate until a GPU run measures it.
GPU_BYTES_PER_RUN = 2 * 2**30


def worker_count(device: torch.device, requested: int, runs: int) -> int:
    """Runs at once. On a CPU: `requested`, or one per core when it is 0 (auto). On CUDA: at most
    `requested` (auto: 1), as many as the free GPU memory holds."""
    if device.type != "cuda":
        return max(1, min(requested or os.cpu_count() or 1, runs))
    if requested <= 1:
        return 1
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return max(1, min(requested, runs, free_bytes // GPU_BYTES_PER_RUN))


def threads_per_worker(workers: int, device: torch.device) -> int | None:
    """CPU threads of each run: with several workers, one on a CPU and each worker's share on CUDA;
    None with one worker (the process keeps its own)."""
    if workers <= 1:
        return None
    if device.type != "cuda":
        return 1
    return max(1, torch.get_num_threads() // workers)


def make_runs(jobs: Sequence[RunJob], workers: int, on_done: Callable[[RunJob, RunOutcome | str], None],
              progress: ReportProgress | None = None,
              work: Callable[[RunJob], RunOutcome | str] | None = None) -> list[RunOutcome | str]:
    """Each job's outcome or failure line (`work(job)`, by default `run_one`), in the order of
    `jobs`; `on_done` hears of each as it ends, and `progress` of each epoch."""
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(work(job) if work is not None else run_one(job, progress))
            on_done(job, results[-1])
        return results
    return _runs_in_processes(jobs, workers, on_done, progress, work)


def _runs_in_processes(jobs: Sequence[RunJob], workers: int, on_done: Callable[[RunJob, RunOutcome | str], None],
                       progress: ReportProgress | None,
                       work: Callable[[RunJob], RunOutcome | str] | None) -> list[RunOutcome | str]:
    """`make_runs` with `workers` processes at a time."""
    # One run per process, `workers` at a time: a finished run's tensors (and the process's cached
    # GPU memory) go back when its process ends. (ProcessPoolExecutor's max_tasks_per_child=1 does
    # the same in principle, but on Python 3.11 it can mark the pool broken when a worker retires.)
    # The workers' epochs and the runs' ends reach `progress` and `on_done` through one queue, read
    # by one thread, in the order they happened: a run's last epoch is counted before its end.
    # The queue's manager ignores the signals (SIGTERM to the whole process group is what `timeout`,
    # systemd and docker send): the parent stops the runs, then the manager, in that order. Every
    # process started here dies with the parent, even when the parent is killed by SIGKILL.
    manager = multiprocessing.managers.SyncManager()
    manager.start(_child_of, (os.getpid(), (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)))
    with manager:   # its queue can be handed to spawned processes
        events = manager.Queue()
        jobs = [_with_events(job, events) if work is None else job for job in jobs]
        results: dict[int, RunOutcome | str] = {}
        failed: list[BaseException] = []     # what a callback raised in the reader (a signal's KeyboardInterrupt)
        reader = threading.Thread(target=_read_events, args=(events, jobs, results, on_done, progress, failed),
                                  daemon=True)
        reader.start()
        with ThreadPoolExecutor(workers) as threads:
            futures = {threads.submit(_in_own_process, work or run_one, job): index for index, job in enumerate(jobs)}
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    if failed:
                        raise failed[0]
                    for future in finished:     # "done" names the job by its place in `jobs`
                        results[futures[future]] = future.result()
                        events.put(("done", futures[future], None))
                _stop_reading(events, reader)
                if failed:
                    raise failed[0]
            except BaseException:     # a signal, or a failure of the report itself: stop every run now
                threads.shutdown(wait=False, cancel_futures=True)
                with contextlib.suppress(Exception):      # the reader's queue may be gone with its manager
                    _stop_reading(events, reader, timeout=5)
                for child in multiprocessing.active_children():    # the runs in progress and the queue's manager
                    child.kill()
                raise
    return [results[index] for index in range(len(jobs))]


def _with_events(job: RunJob, events: Any) -> RunJob:
    then = None if job.then is None else _with_events(job.then, events)
    return dataclasses.replace(job, events=events, then=then)


def _stop_reading(events: "queue.Queue", reader: threading.Thread, timeout: float | None = None) -> None:
    events.put(("stop", -1, None))
    reader.join(timeout)


PR_SET_PDEATHSIG = 1     # linux/prctl.h


def _child_of(parent: int, ignored: Sequence[int]) -> None:
    """In a process started by the report: die with `parent`, and leave the `ignored` signals to it.

    The parent handles Ctrl-C, SIGTERM and SIGHUP for the whole report and stops its children itself;
    a child that died of them first would make the parent's cleanup fail. Without this, a parent
    killed by SIGKILL would leave its workers training, and the queue's manager waiting, for ever."""
    for signum in ignored:
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        os.kill(parent, 0)
    except ProcessLookupError:     # the report died before the line above: nobody is left to report to
        os._exit(1)


# What every worker imports before its run: the training code with torch, and torch._dynamo, which
# torch.optim imports when the first optimizer is made. About 5 s per process on a 2-core CPU, once
# per report in the fork server instead of once per run (a report makes about 20).
WORKER_PRELOAD = ["vae.report.run", "torch._dynamo"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process that imported `WORKER_PRELOAD` once, where the platform
    has one (Linux, macOS); started afresh (spawn) elsewhere. Neither copies the report's own process:
    its threads, and a CUDA context, cannot be forked; the server never touches CUDA."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def _worker_of(parent: int) -> None:
    """`_child_of` for a worker: it ignores Ctrl-C (the parent stops it) but not SIGTERM."""
    from tqdm import tqdm

    _child_of(parent, (signal.SIGINT,))
    # A worker's own parent is the fork server (`_worker_context`), which outlives the report while
    # any worker runs: the worker watches the report itself.
    threading.Thread(target=_exit_when_gone, args=(parent,), daemon=True).start()
    # tqdm's default lock is a multiprocessing semaphore: a worker ended by SIGTERM could not release
    # it, and Python's resource tracker would print a warning about it after the report's one line.
    tqdm.set_lock(threading.RLock())


def _exit_when_gone(pid: int, every_s: float = 1.0) -> None:
    """End this process within `every_s` of process `pid`'s end."""
    while True:
        time.sleep(every_s)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)


def _read_events(events: "queue.Queue", jobs: Sequence[RunJob], results: dict[int, RunOutcome | str],
                 on_done: Callable[[RunJob, RunOutcome | str], None], progress: ReportProgress | None,
                 failed: list[BaseException]) -> None:
    """The parent's side of the workers' queue: epochs and log lines to `progress`, ends to `on_done`.
    What a callback raises stops the reading and goes to `failed`, for the main thread to raise."""
    callbacks: dict[int, tuple[Callable, Callable[[str], None]]] = {}
    by_index = {each.index: each for job in jobs for each in (job, getattr(job, "then", None)) if each is not None}
    while True:
        try:
            kind, index, value = events.get()
        except (OSError, EOFError):      # the manager is gone (killed by the parent's cleanup)
            return
        if kind == "stop":
            return
        try:
            if kind == "done":
                on_done(jobs[index], results[index])
            elif kind in ("start", "ended"):       # "ended": a run another continues, before its end
                if progress is not None:
                    _tell(by_index[index], progress, kind)
            elif progress is not None:
                if index not in callbacks:
                    callbacks[index] = progress.for_run(index, by_index[index].spec)
                on_epoch, log = callbacks[index]
                if kind == "epoch":
                    on_epoch(value, None, None)
                else:
                    log(value)
        except BaseException as err:   # noqa: B902 (a KeyboardInterrupt too: the main thread raises it)
            failed.append(err)
            return


def _in_own_process(work: Callable[[RunJob], RunOutcome | str], job: RunJob) -> RunOutcome | str:
    """`work(job)` in a new process that ends with it (`_worker_context`)."""
    # A worker ignores Ctrl-C (the parent stops it; a worker's own KeyboardInterrupt would print a
    # traceback) but not SIGTERM: one stopped alone fails its run and the report keeps the old assets.
    with ProcessPoolExecutor(1, mp_context=_worker_context(), initializer=_worker_of,
                             initargs=(os.getpid(),)) as process:
        return _result(process.submit(work, job))


def _result(future) -> RunOutcome | str:
    try:
        return future.result()
    except BrokenProcessPool as err:
        return f"worker process died: {err}"
