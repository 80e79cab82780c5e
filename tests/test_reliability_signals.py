"""Interruption, signals and the log: Ctrl-C, SIGTERM and SIGKILL stop a command cleanly, a closed stdout never does.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from support.reliability import assert_one_line, guarantee, run_cli, TIMING_KEYS, TINY
from vae import cli
from vae.plumbing.artifacts import write_bytes
from vae.training import TrainConfig, load_checkpoint


# ---- interruption -----------------------------------------------------------------------------

def _metrics_without_timings(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def _history_without_timings(folder: Path) -> list[list[str]]:
    lines = (folder / "history.csv").read_text().splitlines()
    column = lines[0].split(",").index("epoch_time_s")
    return [[v for i, v in enumerate(line.split(",")) if i != column] for line in lines]


@guarantee("interruption")
def test_sigkill_then_resume_ends_with_exactly_the_metrics_of_an_uninterrupted_run(
        tmp_path, data_dir, run_vae, subprocess_env, single_thread, capsys):
    """A training process killed with SIGKILL after an epoch, then `--resume`: exactly the metrics of an uninterrupted run."""
    args = ["train", *TINY, "--epochs", "8", "--data-dir", str(data_dir)]
    # The uninterrupted run needs no process of its own: here, on one thread like the subprocesses.
    code, _, err = run_cli([*args, "--out", tmp_path / "straight"], capsys)
    assert code == 0, err

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "vae", *args, "--out", str(killed)], env=subprocess_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "metrics.json").exists()
    completed = load_checkpoint(killed / "last.pt")["epoch"]
    assert 1 <= completed < 8

    resumed = run_vae(*args, "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} after epoch {completed}" in resumed.stdout
    assert _metrics_without_timings(killed) == _metrics_without_timings(tmp_path / "straight")
    assert _history_without_timings(killed) == _history_without_timings(tmp_path / "straight")
    for name in ("best.pt", "last.pt"):
        a, b = (load_checkpoint(folder / name)["model"] for folder in (killed, tmp_path / "straight"))
        assert all(torch.equal(a[k], b[k]) for k in a)


@guarantee("interruption")
def test_a_process_killed_in_the_middle_of_a_write_leaves_the_previous_file_whole(tmp_path, subprocess_env):
    """SIGKILL while a file is half written: the file keeps its previous content; at most a hidden temporary file remains."""
    target = tmp_path / "figure.png"
    target.write_bytes(b"previous complete content")
    script = textwrap.dedent(f"""
        import sys, time
        from vae.plumbing.artifacts import write_atomic
        def slow(f):
            f.write(b"x" * 1_000_000)
            f.flush()
            print("half", flush=True)
            time.sleep(60)
        write_atomic({str(target)!r}, slow)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], env=subprocess_env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "half"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert target.read_bytes() == b"previous complete content"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].startswith(".figure.png.") and leftovers[0].endswith(".tmp")
    write_bytes(target, b"next")
    assert target.read_bytes() == b"next"


@guarantee("interruption")
def test_ctrl_c_during_training_ends_in_one_line_telling_how_to_resume_with_exit_130(
        tmp_path, monkeypatch, capsys, data_dir):
    """Ctrl-C (KeyboardInterrupt) during training: one line saying how to resume, exit code 130, no traceback."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", interrupted)
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", tmp_path / "o"],
                           capsys)
    assert code == 130
    assert_one_line(err, "interrupted", "--resume")


# ---- issue 13: signals and a broken stdout ------------------------------------------------------------

SWALLOWED_INTERRUPT = textwrap.dedent("""
    import os, signal, sys
    from vae import cli, training

    real_evaluate, calls = training.evaluate, []

    class Finalizer:                     # like a weakref callback or __del__ of torch or matplotlib
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)   # Python raises KeyboardInterrupt here, then ignores it
            for _ in range(100_000):
                pass

    def evaluate(*args, **kwargs):
        if not calls:
            calls.append(1)
            Finalizer()
        return real_evaluate(*args, **kwargs)

    training.evaluate = evaluate
    sys.exit(cli.main(sys.argv[1:]))
""")


@guarantee("interruption")
def test_a_ctrl_c_that_lands_in_a_finalizer_still_stops_the_command(tmp_path, data_dir, subprocess_env):
    """A real SIGINT that lands in a `__del__` (where Python ignores it): the run still stops, one line, exit 130."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", SWALLOWED_INTERRUPT, "train", *TINY, "--epochs", "3",
                             "--data-dir", str(data_dir), "--out", str(out)],
                            env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stdout + result.stderr
    assert_one_line(result.stderr, "interrupted", "--resume")
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not (out / "metrics.json").exists()


@guarantee("interruption")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_real_signal_during_training_ends_in_one_line(signum, tmp_path, data_dir, subprocess_env):
    """A real SIGINT (Ctrl-C), SIGTERM or SIGHUP (terminal closed) during training: one line saying how to resume,
    exit 128 + signal number."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "vae", "train", *TINY, "--epochs", "1000",
                                "--data-dir", str(data_dir), "--out", str(out)], env=subprocess_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("epoch   1/1000")
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    assert_one_line(err, "--resume to continue")
    assert load_checkpoint(out / "last.pt")["epoch"] >= 1


@guarantee("stdout")
def test_a_pipe_closed_after_the_first_line_does_not_stop_training(tmp_path, data_dir, subprocess_env):
    """`train ... | head -1`: the reader closes the pipe, training carries on to its metrics, exit 0, no traceback."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "vae", "train", *TINY, "--epochs", "3",
                                "--data-dir", str(data_dir), "--out", str(out)], env=subprocess_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()                           # what `head -1` does after its line
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert first.startswith(b"epoch   1/3")
    assert process.returncode == 0, err
    assert err == ""
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3


@guarantee("stdout")
def test_a_non_ascii_out_on_an_ascii_terminal_is_logged_escaped(tmp_path, data_dir, subprocess_env, capsys):
    """A non-ASCII `--out` with an ASCII stdout: the path is printed escaped and the run resumes normally, exit 0."""
    args = ["train", *TINY, "--data-dir", data_dir, "--out", tmp_path / "résumé"]
    assert run_cli([*args, "--epochs", "1"], capsys)[0] == 0      # the first epoch: in this process
    result = subprocess.run([sys.executable, "-m", "vae", *map(str, args), "--epochs", "2", "--resume"],
                            env={**subprocess_env, "PYTHONIOENCODING": "ascii"}, capture_output=True, text=True,
                            encoding="ascii", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "r\\xe9sum\\xe9 after epoch 1" in result.stdout
    assert result.stderr == ""


class _FinalizerThatGetsCtrlC:
    """Like a weakref callback or `__del__` of torch or matplotlib that a Ctrl-C happens to land in."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)       # Python raises KeyboardInterrupt here, then ignores it
        for _ in range(100_000):
            pass


@guarantee("interruption")
def test_a_ctrl_c_swallowed_during_a_report_stops_it_after_the_run_in_progress(
        tmp_path, data_dir, monkeypatch, capsys):
    """A real SIGINT swallowed in a finalizer during a report: no further run starts, one line, exit 130."""
    import dataclasses

    from vae.report import RunSpec, build, runner

    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=str(data_dir))
    specs = [RunSpec(f"mnist-mlp32-z2-s{seed}", dataclasses.replace(base, seed=seed)) for seed in (1, 2)]
    # The CLI builds the quick profile's plan; these two tiny runs stand in for it, with no classifier
    # or comparisons, so that the test is about the interruption alone.
    monkeypatch.setattr(build, "run_specs", lambda profile, data_dir="data": specs)
    monkeypatch.setattr(build, "_data_assets", lambda *args, **kwargs: ({}, []))
    monkeypatch.setattr(build, "write_all", lambda *args, **kwargs: [])
    started, real_produce_run = [], runner.produce_run

    def produce_run(spec, *args, **kwargs):
        started.append(spec.name)
        if len(started) == 1:
            _FinalizerThatGetsCtrlC()
        return real_produce_run(spec, *args, **kwargs)

    monkeypatch.setattr(runner, "produce_run", produce_run)
    out = tmp_path / "assets"
    code, _, err = run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)
    assert code == 130
    assert_one_line(err, "interrupted")
    assert started == [specs[0].name]
    assert not (out / "runs" / specs[1].name).exists()


PARALLEL_REPORT = """
import dataclasses, sys

from vae import cli
from vae.report import RunSpec, build
from vae.training import TrainConfig

if __name__ == "__main__":      # spawned workers import this file again
    data_dir, out = sys.argv[1:]
    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1000, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=data_dir)
    specs = [RunSpec(f"mnist-mlp32-z2-s{seed}", dataclasses.replace(base, seed=seed)) for seed in (1, 2)]
    # Two long tiny runs stand in for the quick plan, with no classifier or comparisons.
    build.run_specs = lambda profile, data_dir="data": specs
    build._data_assets = lambda *args, **kwargs: ({}, [])
    build.write_all = lambda *args, **kwargs: []
    raise SystemExit(cli.main(["report", "--profile", "quick", "--workers", "2", "--data-dir", data_dir, "--out", out]))
"""


def _group_ends(group: int, seconds: float) -> bool:
    """Whether every process of the process group has ended within `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@guarantee("interruption")
@pytest.mark.parametrize("how", ["SIGTERM-to-the-process-group", "SIGKILL-to-the-parent"])
def test_a_parallel_report_stopped_by_a_signal_ends_cleanly_with_its_workers(how, tmp_path, data_dir, subprocess_env):
    """A parallel report (2 workers) stopped mid-training by SIGTERM to its whole process group (what `timeout`,
    systemd and docker send): one line, exit 143; or its parent killed by SIGKILL: the workers end with it."""
    script = tmp_path / "parallel_report.py"
    script.write_text(PARALLEL_REPORT, encoding="utf-8")
    out = tmp_path / "assets"
    process = subprocess.Popen([sys.executable, str(script), str(data_dir), str(out)], env=subprocess_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    group = process.pid        # its own session: the group holds the report, its manager and its workers
    try:
        for line in process.stdout:          # one line per epoch: both runs are training in their workers
            if "epoch" in line and "2/" in line:
                break
        if how.startswith("SIGTERM"):
            os.killpg(group, signal.SIGTERM)
            _, err = process.communicate(timeout=60)
            assert process.returncode == 143
            assert_one_line(err, "stopped by SIGTERM")
        else:
            process.kill()
            process.wait(timeout=30)
        assert _group_ends(group, 30), "worker processes outlived the report"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.communicate(timeout=30)
    assert not (out / "manifest.json").exists()
