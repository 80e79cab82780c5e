"""Atomic files, unwritable folders and full disks.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.reliability import assert_one_line, guarantee, run_cli, snapshot, TINY
from vae.plumbing import artifacts
from vae.plumbing.artifacts import ArtifactError, write_atomic, write_bytes
from vae.training import load_checkpoint


# ---- atomic files -----------------------------------------------------------------------------

@pytest.mark.parametrize("failure", [ValueError("bad value half-way"), KeyboardInterrupt()],
                         ids=["exception", "keyboard-interrupt"])
@guarantee("atomic")
def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary_file(failure, tmp_path):
    """A writer that fails half-way (an exception, Ctrl-C): the old file is intact, no temporary file, the error propagates."""
    target = tmp_path / "table.csv"
    target.write_text("old,complete\n")

    def half_then_fail(f):
        f.write(b"new,partial\n" * 1000)
        raise failure

    with pytest.raises(type(failure)):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old,complete\n"
    assert list(tmp_path.iterdir()) == [target]


@guarantee("atomic")
def test_a_write_that_fails_creates_no_file_where_there_was_none(tmp_path):
    """A failed first write leaves no file at all (no empty or partial target)."""
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "new.json", lambda f: (f.write(b"{"), (_ for _ in ()).throw(RuntimeError("x"))))
    assert list(tmp_path.iterdir()) == []


@guarantee("atomic")
def test_the_atomic_writer_replaces_the_whole_file_in_place(tmp_path):
    """The writer creates missing folders, replaces the previous content entirely and keeps nothing else around."""
    target = tmp_path / "assets" / "runs" / "history.csv"
    artifacts.write_csv(target, [{"epoch": 1, "loss": 2.5}])
    artifacts.write_csv(target, [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}])
    assert target.read_text() == "epoch,loss\n1,2.0\n2,1.5\n"
    artifacts.write_json(target.with_name("m.json"), {"x": torch.tensor(1.5), "p": Path("a")})
    assert json.loads(target.with_name("m.json").read_text()) == {"x": 1.5, "p": "a"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["history.csv", "m.json"]


@guarantee("atomic")
def test_a_figure_that_fails_to_render_leaves_the_old_png(tmp_path, monkeypatch):
    """A figure whose rendering fails half-way: the previous PNG is intact, no temporary file, the figure is closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = tmp_path / "curve.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    artifacts.save_figure(fig, target)
    old = target.read_bytes()
    assert old.startswith(b"\x89PNG")

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    real_savefig = fig.savefig

    def savefig_then_fail(f, **kwargs):
        real_savefig(f, **kwargs)
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(fig, "savefig", savefig_then_fail)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        artifacts.save_figure(fig, target)
    assert target.read_bytes() == old
    assert list(tmp_path.iterdir()) == [target]
    assert not plt.fignum_exists(fig.number)


# ---- unwritable folders and full disks ----------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@guarantee("disk")
@pytest.mark.parametrize("where", ["write", "fsync", "rename"])
def test_a_full_disk_gives_a_clear_error_and_keeps_the_old_file(where, tmp_path, monkeypatch):
    """No space left on device while writing, syncing or renaming: a clear error, old file intact, no temporary file."""
    target = tmp_path / "metrics.json"
    target.write_text('{"old": true}\n')
    write = lambda f: f.write(b'{"new": true}\n')
    if where == "write":
        write = lambda f: (f.write(b'{"new"'), _enospc())
    else:
        monkeypatch.setattr(os, {"fsync": "fsync", "rename": "replace"}[where], _enospc)
    with pytest.raises(ArtifactError) as caught:
        write_atomic(target, write)
    monkeypatch.undo()
    message = str(caught.value)
    assert str(target) in message and "No space left on device" in message and "free disk space" in message
    assert target.read_text() == '{"old": true}\n'
    assert list(tmp_path.iterdir()) == [target]


@guarantee("disk")
def test_a_full_disk_during_training_ends_in_one_line_exit_1_without_partial_checkpoints(
        tmp_path, monkeypatch, capsys, data_dir):
    """The disk fills up while a checkpoint is written: one line, exit 1, no partial checkpoint, history whole."""
    def save_half_then_enospc(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04" + b"\0" * 4096)
        _enospc()

    monkeypatch.setattr(torch, "save", save_half_then_enospc)
    out = tmp_path / "out"
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", out], capsys)
    monkeypatch.undo()
    assert code == 1
    assert_one_line(err, "No space left on device", "free disk space")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv"]
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 2
    assert (out / "history.csv").read_text().count("\n") == 2       # header and epoch 1


@guarantee("disk")
def test_an_output_folder_that_cannot_be_created_gives_a_clear_error(tmp_path, capsys, data_dir):
    """`--out` below a regular file (a folder that cannot be created): one line naming it, exit 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ArtifactError, match="choose a writable output folder"):
        write_bytes(blocker / "sub" / "x.bin", b"1")
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", blocker / "run"],
                           capsys)
    assert code == 1
    assert_one_line(err, str(blocker), "choose a writable output folder")
    assert blocker.read_text() == "not a folder"


@guarantee("disk")
def test_a_data_folder_that_cannot_be_written_gives_a_clear_error(tmp_path, capsys):
    """`python -m vae data --data-dir` below a regular file: one line naming the folder and the fix, exit 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["data", "--dataset", "mnist", "--no-download", "--data-dir", blocker / "data"], capsys)
    assert code == 1
    assert_one_line(err, str(blocker / "data"), "choose a writable --data-dir")


# ---- issue 13: a real full disk ----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs), mounted for the test; skipped where mounting is not allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a 1 MB tmpfs needs root and mount(8); the fake-ENOSPC tests cover the logic")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave_bytes: int) -> None:
    """Fill `disk` with one file until only about `leave_bytes` are free."""
    stats = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(stats.f_bavail * stats.f_frsize - leave_bytes, 0))


@guarantee("disk")
def test_a_real_full_disk_under_torch_save_is_a_clear_error_not_a_zip_writer_traceback(small_disk):
    """A real full disk (1 MB tmpfs) under `torch.save`: the one clear error, old checkpoint intact, no temporary file."""
    target = small_disk / "last.pt"
    artifacts.save_checkpoint(target, {"w": torch.zeros(10)})
    old = target.read_bytes()
    with pytest.raises(ArtifactError) as caught:   # torch's zip writer would say "unexpected pos ..."
        artifacts.save_checkpoint(target, {"w": torch.zeros(600_000)})
    assert str(caught.value) == (f"cannot write {target}: No space left on device; "
                                 "free disk space or choose another output folder")
    assert target.read_bytes() == old
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.pt"]


@guarantee("disk")
def test_training_on_a_real_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint(small_disk, capsys, data_dir):
    """`train --resume` on a real full disk: one line, exit 1, the previous `last.pt` intact, no temporary file."""
    args = ["train", "--arch", "mlp", "--hidden", "16", "--batch-size", "64", "--train-limit", "256",
            "--device", "cpu", "--data-dir", data_dir, "--out", small_disk / "run"]
    code, _, err = run_cli([*args, "--epochs", "1"], capsys)
    assert code == 0, err
    before = snapshot(small_disk / "run")
    _fill(small_disk, leave_bytes=160 * 1024)         # room for the small files and best.pt, not last.pt
    code, _, err = run_cli([*args, "--epochs", "2", "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "No space left on device", "free disk space")
    after = snapshot(small_disk / "run")
    assert after["last.pt"] == before["last.pt"]
    assert load_checkpoint(small_disk / "run" / "last.pt")["epoch"] == 1
    load_checkpoint(small_disk / "run" / "best.pt")      # whole: of epoch 1, or of epoch 2 if it fitted
    assert not [name for name in after if name.endswith(".tmp")]


@guarantee("disk")
@pytest.mark.parametrize("where", ["a-file", "read-only-subfolder", "read-only-root"])
def test_a_report_into_an_unwritable_out_is_one_line(where, tmp_path, capsys, data_dir):
    """`report --out` a regular file or on a read-only filesystem: one line naming it, exit 1, before any training."""
    if where == "a-file":
        out = tmp_path / "a-file"
        out.write_text("not a folder")
    else:
        mount_point = tmp_path / "read-only"
        mount_point.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                                                str(mount_point)], capture_output=True).returncode != 0:
            pytest.skip("mounting a read-only tmpfs needs root and mount(8)")
        out = mount_point / "assets" if where == "read-only-subfolder" else mount_point
    try:
        code, out_text, err = run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)
    finally:
        if where != "a-file":
            subprocess.run(["umount", "-l", str(tmp_path / "read-only")], check=False)
    assert code == 1
    assert_one_line(err, str(out), "choose a writable output folder")
    assert out_text == ""


@guarantee("atomic")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)], ids=["umask-022", "umask-077"])
def test_written_files_follow_the_umask(umask, mode, tmp_path, subprocess_env):
    """Files get the mode the umask gives (0644 under 022), not always 0600, so a copied site is readable."""
    target = tmp_path / "table.md"
    script = (f"import os; os.umask({umask}); from vae.plumbing.artifacts import write_text; "
              f"write_text({str(target)!r}, 'x')")
    subprocess.run([sys.executable, "-c", script], env=subprocess_env, check=True, timeout=120)
    assert target.stat().st_mode & 0o777 == mode


FAKE_MKDOCS = """#!/bin/sh
# Stands in for `mkdocs build`: like mkdocs, it empties its site folder (--site-dir, default site)
# first, then writes DIR/index.html, then exits with $FAKE_RC (1: a build that fails half-way).
dir=site
while [ "$#" -gt 0 ]; do [ "$1" = "--site-dir" ] && dir="$2"; shift; done
rm -rf "$dir" && mkdir -p "$dir" && echo "$FAKE_CONTENT" > "$dir/index.html"
exit "${FAKE_RC:-0}"
"""


@guarantee("atomic")
@pytest.mark.parametrize("build", ["fails-half-way", "succeeds"])
def test_make_site_swaps_in_a_complete_build_and_keeps_the_old_site_otherwise(build, tmp_path, repo_root):
    """`make site` builds into a temporary folder: a build that fails half-way leaves the previous site/ whole; one
    that succeeds replaces it, with no temporary folder left."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    fake = tmp_path / "venv" / "bin" / "mkdocs"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_MKDOCS)
    fake.chmod(0o755)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("old site\n")
    result = subprocess.run(["make", "-f", str(repo_root / "Makefile"), "-o", "venv/.installed", "site", "VENV=venv"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FAKE_RC": "1" if build == "fails-half-way" else "0",
                                 "FAKE_CONTENT": "new site"})
    if build == "fails-half-way":
        assert result.returncode != 0
        assert (tmp_path / "site" / "index.html").read_text() == "old site\n"
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "site" / "index.html").read_text() == "new site\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "venv"]
