"""Owned output folders, the report as one transaction, and the site's check that the assets are one report.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.reliability import assert_one_line, guarantee, poison, run_cli, snapshot, TINY, scratch_locked
from support.reliability import run_copy, tiny_run  # noqa: F401 (fixtures)
from vae.training import TrainConfig, load_checkpoint


@guarantee("transaction")
def test_a_report_run_that_fails_half_way_leaves_every_runs_assets_untouched(tmp_path, data_dir, monkeypatch,
                                                                            english_figures_only):
    """A report run that fails half-way: the output folder stays exactly as it was, no staging left in it."""
    import dataclasses

    from vae import figures, report

    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=str(data_dir))
    bad = "fashion-mnist-mlp32-z2"
    specs = [report.RunSpec(bad, dataclasses.replace(base, dataset="fashion-mnist"))]
    profile = report.Profile(name="test", epochs=1, train_limit=256, val_split=0.02, samples=4, device="cpu",
                             classifier_epochs=1, anomaly_images=100)

    out = tmp_path / "assets"
    for name in (bad, "mnist-conv-z2"):        # previous assets of the failing run and of another run
        folder = out / "runs" / name
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(f'{{"previous": "{name}"}}\n')
        (folder / "curves.png").write_bytes(f"previous figure of {name}".encode())
    (out / "manifest.json").write_text(json.dumps({"files": sorted(snapshot(out))}))   # the previous report's
    before = snapshot(out)

    staged_when_failing = []
    real_plot = figures.plot_kl_per_dimension

    def plot_or_fail(*args, **kwargs):
        path = Path(args[2])
        if bad in str(path.parent):
            staged_when_failing.extend(sorted(p.name for p in path.parent.iterdir()))
            raise RuntimeError("figure crashed half-way")
        return real_plot(*args, **kwargs)

    monkeypatch.setattr(figures, "plot_kl_per_dimension", plot_or_fail)
    with pytest.raises(report.ReportError, match=bad) as failure:
        report.build_report(profile, data_dir, out, log=lambda m: None, specs=specs)
    monkeypatch.undo()

    assert "curves.png" in staged_when_failing and "history.csv" in staged_when_failing   # it failed half-way
    assert snapshot(out) == before
    kept = Path(str(failure.value).rsplit("kept in ", 1)[1])                  # beside --out, never inside it
    manifest = json.loads((kept / "manifest.json").read_text())
    assert manifest["runs"] == [] and "figure crashed half-way" in manifest["failed_runs"][bad]


# ---- issue 20: the report replaces only what the previous report wrote ------------------------

TINY_RUNS = ("mnist-mlp32-z2-s1", "mnist-mlp32-z2-s2")


@pytest.fixture
def tiny_report(monkeypatch, data_dir, english_figures_only):
    """`python -m vae report` with tiny runs named `names`, a classifier.json and one table (no real classifier
    or comparisons), so that a test is about what lands in --out, in seconds."""
    import dataclasses

    from vae.plumbing import artifacts
    from vae.report import RunSpec, build

    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=str(data_dir))

    def data_assets(profile, staging, loaded, log):
        return {}, [str(artifacts.write_json(staging / "classifier.json", {"mnist": {}}).relative_to(staging))]

    def comparisons(profile, outcomes, staging, specs=None, failed=(), workers=1):
        return [artifacts.write_text(staging / "tables" / "runs.md", "| run |\n|---|\n" +
                                     "".join(f"| {name} |\n" for name in outcomes))]

    monkeypatch.setattr(build, "_data_assets", data_assets)
    monkeypatch.setattr(build, "write_all", comparisons)

    def report(out: Path, names=TINY_RUNS, capsys=None):
        specs = [RunSpec(name, dataclasses.replace(base, seed=i + 1)) for i, name in enumerate(names)]
        monkeypatch.setattr(build, "run_specs", lambda profile, data_dir="data": specs)
        return run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)

    return report


def _users_files(out: Path) -> dict[str, bytes]:
    files = {"figures/precious.png": b"\x89PNG a user's own figure", "runs/my-own-run/notes.txt": b"mine",
             "tables/mine.md": b"| mine |\n|---|\n| 1 |\n", "runs/default/metrics.json": b"{}"}
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return files


@guarantee("transaction")
def test_a_first_report_into_a_folder_with_other_files_keeps_every_one_of_them(tiny_report, tmp_path, capsys):
    """A first report into a folder holding a user's figures/, runs/ and tables/ files: it lands beside them, all kept."""
    out = tmp_path / "assets"
    users = _users_files(out)
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 0, err
    assert {name: (out / name).read_bytes() for name in users} == users
    manifest = json.loads((out / "manifest.json").read_text())
    assert [run["name"] for run in manifest["runs"]] == list(TINY_RUNS)
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    # The assets' lock file (transaction.ASSETS_LOCK) is the folder's, not the report's: never listed.
    assert set(manifest["files"]) == written - set(users) - {"manifest.json", ".assets.lock"}


@guarantee("transaction")
def test_a_report_over_a_previous_one_replaces_only_the_files_its_manifest_lists(tiny_report, tmp_path, capsys):
    """A second report (after `train` wrote runs/default and a user added files): the previous report's files are
    replaced or removed, the user's are all kept."""
    out = tmp_path / "assets"
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 0, err
    first = json.loads((out / "manifest.json").read_text())
    users = _users_files(out)
    code, _, err = tiny_report(out, names=TINY_RUNS[1:], capsys=capsys)      # one run fewer than before
    assert code == 0, err
    assert {name: (out / name).read_bytes() for name in users} == users
    assert not (out / "runs" / TINY_RUNS[0]).exists()                          # the previous report's, dropped
    second = json.loads((out / "manifest.json").read_text())
    assert second["files"] != first["files"] and all((out / f).is_file() for f in second["files"])
    assert (out / "tables" / "runs.md").read_text().count("| mnist") == 1


FOREIGN_ENTRIES = {
    "a-file-in-a-run-folder-the-report-writes": lambda out: (out / "runs" / TINY_RUNS[0]).mkdir(parents=True)
    or (out / "runs" / TINY_RUNS[0] / "notes.txt").write_text("mine"),
    "a-manifest-of-something-else": lambda out: (out / "manifest.json").write_text("[1, 2, 3]"),
    "a-manifest-listing-files-outside-the-report": lambda out: (out / "manifest.json").write_text(
        json.dumps({"files": ["../outside.txt"]})),
    "a-classifier-json-of-the-users": lambda out: (out / "classifier.json").write_text("{}"),
}


@guarantee("transaction")
@pytest.mark.parametrize("case", list(FOREIGN_ENTRIES))
def test_a_report_that_would_replace_what_it_did_not_write_is_refused_before_training(
        case, tiny_report, tmp_path, capsys, monkeypatch):
    """An entry the report would replace holds files no previous report's manifest lists: one line, exit 2, before
    training, nothing changed."""
    from vae.report import runner

    out = tmp_path / "assets"
    out.mkdir()
    (tmp_path / "outside.txt").write_text("precious")
    FOREIGN_ENTRIES[case](out)
    before = snapshot(tmp_path)
    monkeypatch.setattr(runner, "produce_run", lambda *args: pytest.fail("trained before refusing"))
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 2
    assert_one_line(err, "--out", str(out), "previous report", "move it away or choose another --out")
    assert snapshot(tmp_path) == before


@guarantee("transaction")
@pytest.mark.parametrize("name", ["tables/anomaly.md", "figures/rate_distortion.png", "tables/quoted.json",
                                  "figures/examples_mnist.png", "tables/class_counts.csv"],
                         ids=["an-experiments-table", "an-experiments-figure", "the-quoted-numbers",
                              "a-data-page-figure", "a-data-page-table"])
def test_a_users_own_file_at_a_name_the_report_writes_is_refused_before_training(
        name, tiny_report, tmp_path, capsys, monkeypatch):
    """A user's own table or figure where the report writes one, no manifest: one line, exit 2, before training.

    Nothing is changed."""
    from vae.report import runner

    out = tmp_path / "assets"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_bytes(b"a user's own file")
    before = snapshot(tmp_path)
    monkeypatch.setattr(runner, "produce_run", lambda *args: pytest.fail("trained before refusing"))
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 2
    assert_one_line(err, "--out", str(out / name), "previous report", "move it away or choose another --out")
    assert snapshot(tmp_path) == before


def _archive_a_run(out: Path) -> None:
    # The previous report's first run, moved to an archive outside --out and linked back into runs/.
    archive = out.parent / "archive"
    archive.mkdir()
    shutil.move(out / "runs" / TINY_RUNS[0], archive / TINY_RUNS[0])
    (out / "runs" / TINY_RUNS[0]).symlink_to(archive / TINY_RUNS[0], target_is_directory=True)


def _figures_elsewhere(out: Path) -> None:
    # figures/ a link to a folder elsewhere, in which a figure the previous report listed lies.
    elsewhere = out.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "old.png").write_bytes(b"\x89PNG listed, but outside --out")
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"].append("figures/old.png")
    (out / "manifest.json").write_text(json.dumps(manifest))


THROUGH_LINKS = {"an-archived-run-linked-back-into-runs": (_archive_a_run, f"runs/{TINY_RUNS[0]}"),
                 "figures-a-link-to-a-folder-elsewhere": (_figures_elsewhere, "figures")}


@guarantee("transaction")
@pytest.mark.parametrize("case", list(THROUGH_LINKS))
def test_nothing_is_replaced_or_deleted_through_a_symbolic_link(case, tiny_report, tmp_path, capsys, monkeypatch):
    """A previous report's run or folder that is a symbolic link to files outside --out: one line, exit 2, before
    training; nothing behind the link (or anywhere) changed."""
    from vae.report import runner

    out = tmp_path / "assets"
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 0, err
    arrange, link = THROUGH_LINKS[case]
    arrange(out)
    before = snapshot(tmp_path)
    monkeypatch.setattr(runner, "produce_run", lambda *args: pytest.fail("trained before refusing"))
    code, _, err = tiny_report(out, names=TINY_RUNS[1:], capsys=capsys)      # the linked run is no longer in the plan
    assert code == 2
    assert_one_line(err, "--out", str(out / link), "is a symbolic link", "choose another --out")
    assert snapshot(tmp_path) == before


@guarantee("transaction")
def test_a_file_added_to_a_previous_reports_run_while_the_report_trains_is_never_deleted(
        tiny_report, tmp_path, capsys, monkeypatch):
    """A user's file that appears in a run folder of the previous report during training: the report refuses to
    land (one line, exit 2, naming where the new report is) and the folder keeps the file."""
    from vae.report import runner

    out = tmp_path / "assets"
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 0, err
    real = runner.produce_run

    def produce_then_user_writes(spec, *args, **kwargs):
        (out / "runs" / spec.name / "notes.txt").write_text("written meanwhile")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(runner, "produce_run", produce_then_user_writes)
    code, _, err = tiny_report(out, capsys=capsys)
    assert code == 2
    assert_one_line(err, f"runs/{TINY_RUNS[0]}", "the new report is in")
    assert (out / "runs" / TINY_RUNS[0] / "notes.txt").read_text() == "written meanwhile"


@guarantee("transaction")
def test_a_report_into_a_mount_point_stages_on_its_filesystem_and_lands(tiny_report, tmp_path, capsys):
    """`--out` a mount point (another filesystem than its parent): staged inside it, so the report lands, no staging left."""
    from vae.report import transaction
    mount_point = tmp_path / "mounted"
    mount_point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    try:
        code, _, err = tiny_report(mount_point, capsys=capsys)
        left = sorted(p.name for p in mount_point.iterdir()) + sorted(p.name for p in tmp_path.iterdir())
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
    assert code == 0, err
    # the folder's lock file, which a site build shares (transaction.ASSETS_LOCK), stays: it is no content
    assert left == [transaction.ASSETS_LOCK, "classifier.json", "manifest.json", "runs", "tables", "mounted"]


@guarantee("transaction")
def test_staging_and_scratch_of_a_killed_report_are_removed_by_the_next_one(tiny_report, tmp_path, capsys,
                                                                            monkeypatch, subprocess_env):
    """Staging beside --out and checkpoint scratch of a report killed with SIGKILL: the next report removes them;
    those of a report still running (their lock held) are kept."""
    import tempfile

    from vae.plumbing import artifacts

    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    out = tmp_path / "assets"
    out.mkdir()
    stale = [tmp_path / ".assets.report-dead", scratch_root / "vae-report-dead"]
    for folder in stale:
        (folder / "runs").mkdir(parents=True)
    running = tmp_path / ".assets.report-running"
    running.mkdir()
    with scratch_locked(running, subprocess_env):
        code, _, err = tiny_report(out, names=TINY_RUNS[:1], capsys=capsys)
    assert code == 0, err
    assert [p.exists() for p in stale] == [False, False]
    assert running.exists()
    assert artifacts.remove_stale(tmp_path, ".assets.report-") == [running]     # its process has ended


# ---- issue 13: owned output folders --------------------------------------------------------------

@pytest.fixture
def lock_holder(subprocess_env):
    """Start a real process that holds the lock of a folder (as a running command does) until killed."""
    started = []

    def hold(folder: Path) -> subprocess.Popen:
        script = ("import sys, time; from pathlib import Path; from vae.plumbing.outdir import owned\n"
                  "with owned(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", script, str(folder)], env=subprocess_env,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait(timeout=30)


@guarantee("folders")
@pytest.mark.parametrize("command", ["train", "report"])
def test_a_second_command_into_a_busy_out_is_refused_in_one_line(command, lock_holder, run_copy, capsys, data_dir):
    """A `train` or `report` into an `--out` that another running command holds: one line, exit 1, folder untouched."""
    before = snapshot(run_copy)
    lock_holder(run_copy)
    argv = ["train", *TINY, "--epochs", "2", "--resume"] if command == "train" else ["report", "--profile", "quick"]
    code, _, err = run_cli([*argv, "--data-dir", data_dir, "--out", run_copy], capsys)
    assert code == 1
    assert_one_line(err, str(run_copy), "in use by another", "choose another --out")
    assert snapshot(run_copy) == before


@guarantee("folders")
@pytest.mark.parametrize("case", ["busy", "a-file"])
def test_bench_checks_and_locks_its_out_before_timing_anything(case, lock_holder, tmp_path, capsys, data_dir,
                                                               monkeypatch):
    """`bench --out` held by another command, or a regular file: one line, exit 1, before any timing."""
    import vae.bench

    monkeypatch.setattr(vae.bench, "main", lambda *args: pytest.fail("timed before checking --out"))
    out = tmp_path / "bench"
    if case == "busy":
        out.mkdir()
        lock_holder(out)
    else:
        out.write_text("not a folder")
    code, _, err = run_cli(["bench", "--data-dir", data_dir, "--out", out], capsys)
    assert code == 1
    assert_one_line(err, str(out), "in use by another" if case == "busy" else "not a folder")


@guarantee("folders")
def test_the_lock_of_a_killed_command_is_never_stale(lock_holder, run_copy, capsys, data_dir):
    """A command killed with SIGKILL leaves no stale lock: the next command into its `--out` runs."""
    holder = lock_holder(run_copy)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--resume", "--data-dir", data_dir,
                            "--out", run_copy], capsys)
    assert code == 0, err
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 2
    assert not [p.name for p in run_copy.iterdir() if p.name.startswith(".")]


@guarantee("folders")
def test_train_into_a_finished_run_needs_resume_or_overwrite(run_copy, capsys, data_dir):
    """`train` into a folder holding a finished run, without `--resume` or `--overwrite`: one line, exit 2, untouched."""
    before = snapshot(run_copy)
    code, out, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", run_copy], capsys)
    assert code == 2
    assert_one_line(err, "--out", "finished run", "--resume", "--overwrite")
    assert out == ""
    assert snapshot(run_copy) == before


@guarantee("folders")
def test_overwrite_deletes_the_old_run_first_so_a_failed_new_run_never_mixes_with_it(
        run_copy, monkeypatch, capsys, data_dir):
    """`--overwrite`, then the new run fails: nothing of the old run (checkpoints, metrics) is left beside it."""
    poison(monkeypatch, at_call=2)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--seed", "7", "--data-dir", data_dir,
                            "--out", run_copy, "--overwrite"], capsys)
    assert code == 1
    assert_one_line(err, "non-finite loss at epoch 1")
    assert sorted(p.name for p in run_copy.iterdir()) == ["config.json"]
    assert json.loads((run_copy / "config.json").read_text())["config"]["seed"] == 7


RESUME_WITHOUT_CHECKPOINT = {
    "finished-run-without-last.pt": (["last.pt"], [], ["--resume", "finished run", "last.pt is missing", "--overwrite"]),
    "started-run-with-other-settings": (["last.pt", "best.pt", "history.csv", "metrics.json"], ["--seed", "1"],
                                        ["--resume", "config.json", "seed=42 (now 1)"]),
}


@guarantee("folders")
@pytest.mark.parametrize("case", list(RESUME_WITHOUT_CHECKPOINT))
def test_resume_without_last_pt_never_trains_from_scratch_over_a_run(case, run_copy, capsys, data_dir):
    """`--resume` where `last.pt` is gone: a finished run or other settings are refused (exit 2), not trained over."""
    deleted, change, fragments = RESUME_WITHOUT_CHECKPOINT[case]
    for name in deleted:
        (run_copy / name).unlink()
    before = snapshot(run_copy)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume", *change], capsys)
    assert code == 2
    assert_one_line(err, *fragments)
    assert snapshot(run_copy) == before


# ---- issue 13: the site refuses assets that mix reports -------------------------------------------

def _another_profiles_run(assets: Path) -> None:
    # What an interrupted `report --profile quick` over standard assets left: a quick run beside
    # a standard manifest and standard tables.
    run = assets / "runs" / "mnist-conv-z2"
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["elbo"] += 96.4
    (run / "metrics.json").write_text(json.dumps(metrics))
    config = json.loads((run / "config.json").read_text())
    config["config"].update(epochs=2, train_limit=1000)
    (run / "config.json").write_text(json.dumps(config))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


ASSET_MIXES = {
    "run-of-another-profile": (_another_profiles_run, "runs/mnist-conv-z2/metrics.json does not match manifest.json"),
    "temporary-file-left": (lambda a: (a / "runs" / "mnist-conv-z2" / ".metrics.json.k2x9.tmp").write_text("{"),
                            "runs/mnist-conv-z2/.metrics.json.k2x9.tmp is left over"),
    "unlisted-explorer-file": (lambda a: (a / "runs" / "mnist-conv-z2" / "explorer" / "old.png").write_bytes(b"png"),
                               "runs/mnist-conv-z2/explorer/old.png is not in manifest.json"),
    "unlisted-run-folder": (lambda a: shutil.copytree(a / "runs" / "mnist-mlp400-z8", a / "runs" / "mnist-mlp400-z64"),
                            "runs/mnist-mlp400-z64 is not in manifest.json"),
    "listed-file-missing": (lambda a: (a / "runs" / "mnist-mlp400-z8" / "curves.png").unlink(),
                            "runs/mnist-mlp400-z8/curves.png is listed in manifest.json but missing"),
    "table-out-of-date": (lambda a: _edit_json(a / "tables" / "runs.json",
                                               lambda t: t["rows"][0].update(test_elbo=1.0)),
                          "tables/runs.json does not match"),
    "unlisted-table": (lambda a: (a / "tables" / "old.md").write_text("| a |\n"), "tables/old.md is not in manifest"),
    "failed-runs": (lambda a: _edit_json(a / "manifest.json", lambda m: m["failed_runs"].update(x="crashed")),
                    "manifest.json records failed runs"),
}


@pytest.fixture(scope="module")
def committed_assets(repo_root, tmp_path_factory) -> Path:
    """A copy of the committed docs/assets (one real report), which the tests may damage copies of."""
    source = repo_root / "docs" / "assets"
    if not (source / "manifest.json").is_file():
        pytest.skip("docs/assets has no generated report; run `python -m vae report` first")
    return Path(shutil.copytree(source, tmp_path_factory.mktemp("assets") / "assets"))


@guarantee("assets")
def test_the_committed_assets_are_one_consistent_report(committed_assets):
    """The committed `docs/assets`: manifest, runs and tables agree (the check the site build runs passes)."""
    from vae.plumbing.consistency import problems

    assert problems(committed_assets) == []


def _build_hook_refusal(case, committed_assets: Path, tmp_path: Path, repo_root: Path) -> tuple[str, str, Path]:
    """Copy the committed assets, damage them as `case` = (damage, fragment) says, and run the site's
    build hook on them: the fragment expected, the hook's error message, and the docs folder."""
    import importlib.util

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("site_hooks_under_test", repo_root / "code" / "site_hooks.py")
    site_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_hooks)
    docs = tmp_path / "docs"
    shutil.copytree(committed_assets, docs / "assets")
    damage, fragment = case
    damage(docs / "assets")
    with pytest.raises(PluginError) as caught:
        site_hooks.on_pre_build({"docs_dir": str(docs)})
    return fragment, str(caught.value), docs


@guarantee("assets")
@pytest.mark.parametrize("case", list(ASSET_MIXES))
def test_the_site_build_refuses_assets_that_mix_reports_and_names_the_file(case, committed_assets, tmp_path, repo_root):
    """Runs, tables and manifest that disagree (another profile, staging left, unlisted or missing files): the build hook stops, naming the file."""
    fragment, message, _ = _build_hook_refusal(ASSET_MIXES[case], committed_assets, tmp_path, repo_root)
    assert fragment in message
    assert "python -m vae report" in message


def _write(path: Path, content: bytes) -> None:
    path.write_bytes(content)


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


UNPUBLISHABLE = {
    "manifest-is-a-list": (lambda a: _write(a / "manifest.json", b"[]"), "manifest.json is malformed"),
    "run-without-a-name": (lambda a: _edit_json(a / "manifest.json", lambda m: m["runs"][0].pop("name")),
                           "manifest.json (run 1) is malformed: it has no 'name'"),
    "runs-as-an-object": (lambda a: _edit_json(a / "manifest.json", lambda m: m.update(runs={"a": 1})),
                          "manifest.json is malformed: 'runs' is not a list of runs"),
    "run-config-is-a-list": (lambda a: _write(a / "runs" / "mnist-conv-z2" / "config.json", b"[]"),
                             "runs/mnist-conv-z2/config.json is malformed"),
    "empty-figure": (lambda a: _write(a / "figures" / "anomaly_hist.png", b""), "figures/anomaly_hist.png is empty"),
    "figure-not-a-png": (lambda a: _write(a / "runs" / "mnist-conv-z2" / "latent.png", b"GIF89a" + bytes(64)),
                         "runs/mnist-conv-z2/latent.png is not a PNG image"),
    "empty-table": (lambda a: _write(a / "tables" / "anomaly.md", b""), "tables/anomaly.md is empty"),
    "script-in-a-table": (lambda a: _append(a / "tables" / "anomaly.md", "\n<script>alert(1)</script>\n"),
                          "tables/anomaly.md holds raw HTML (<script>"),
    "iframe-in-a-table": (lambda a: _append(a / "tables" / "architectures.md",
                                            '\n<iframe src="https://example.com/"></iframe>\n'),
                          "tables/architectures.md holds raw HTML (<iframe"),
    "javascript-link-in-a-table": (lambda a: _append(a / "tables" / "anomaly.md", "| [x](javascript:alert(1)) |\n"),
                                   "tables/anomaly.md holds a Markdown link or image ([x]("),
    "remote-image-in-a-table": (lambda a: _append(a / "tables" / "beta.md", "| ![x](https://example.com/t.png) |\n"),
                                "tables/beta.md holds a Markdown link or image (![x]("),
}


@guarantee("assets")
@pytest.mark.parametrize("case", list(UNPUBLISHABLE))
def test_malformed_records_and_unpublishable_assets_stop_the_build_in_one_line_naming_the_file(
        case, committed_assets, tmp_path, repo_root, subprocess_env):
    """A malformed manifest or run record, an empty or non-PNG figure, an empty table or one with raw HTML (`<script>`,
    `<iframe>`) or a Markdown link or image: the build hook and `python -m vae.plumbing.consistency` name the file in one line, never a traceback."""
    fragment, message, docs = _build_hook_refusal(UNPUBLISHABLE[case], committed_assets, tmp_path, repo_root)
    assert fragment in message and "\n" not in message
    result = subprocess.run([sys.executable, "-m", "vae.plumbing.consistency", str(docs / "assets")], env=subprocess_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert_one_line(result.stderr, fragment)


@guarantee("assets")
@pytest.mark.parametrize("case", ["run-of-another-profile", "manifest-is-a-list"])
def test_mkdocs_build_strict_stops_on_a_half_replaced_report(case, committed_assets, tmp_path, repo_root):
    """`mkdocs build --strict` on the real configuration stops before any page, in one line, when a run of another
    profile is in place or the manifest is malformed."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for child in (repo_root / "docs").iterdir():
        if child.name != "assets":
            (docs / child.name).symlink_to(child)
    shutil.copytree(committed_assets, docs / "assets")
    damage_, fragment = {**ASSET_MIXES, **UNPUBLISHABLE}[case]
    damage_(docs / "assets")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {repo_root / 'mkdocs.yml'}\ndocs_dir: {docs}\n"
                      f"hooks:\n  - {repo_root / 'code' / 'site_hooks.py'}\n"
                      f"theme:\n  name: material\n  custom_dir: {repo_root / 'docs' / 'overrides'}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                             "-d", str(tmp_path / "site")], cwd=repo_root, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert result.returncode != 0
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "site" / "index.html").exists()


@guarantee("assets")
@pytest.mark.parametrize("text", ["[x](javascript:alert(1))", "![x](https://example.com/t.png)", "[x][r]\n\n[r]: javascript:alert(1)"],
                         ids=["javascript-link", "remote-image", "reference-link"])
def test_a_markdown_link_or_image_in_a_json_string_reaches_no_page(text, repo_root):
    """A string of a JSON asset holding a Markdown link or image, printed on a page: shown as text, never a link or image."""
    import importlib.util

    import markdown

    spec = importlib.util.spec_from_file_location("site_macros_under_test", repo_root / "code" / "site_macros.py")
    site_macros = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_macros)
    page = markdown.markdown(f"Measured on {site_macros.finalize(text)}.", extensions=["attr_list", "md_in_html", "tables"])
    assert "<a " not in page and "<img" not in page, page
    assert "[x]" in page.replace("&#91;", "[").replace("&#93;", "]")       # the reader still sees the text


# ---------------------------------------------------------------------------------------------
# A site build and a report landing in its assets exclude each other (transaction.ASSETS_LOCK).

def _small_report(folder: Path, word: str) -> None:
    """A tiny report the consistency check accepts: one table (also a page of the site), its manifest."""
    table = folder / "tables" / "t.md"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(f"| report |\n|---|\n| {word} |\n")
    (folder / "manifest.json").write_text(json.dumps({"runs": [], "tables": ["tables/t.md"], "figures": [],
                                                      "files": ["tables/t.md"]}))


def _staged(out: Path, word: str) -> Path:
    from vae.report import transaction

    staging = transaction.open_staging(out)
    _small_report(staging, word)
    return staging


@guarantee("assets")
@pytest.mark.parametrize("ending", ["on_post_build", "on_build_error"])
def test_a_report_waits_to_land_until_the_site_build_reading_its_assets_ends(ending, tmp_path):
    """A report lands while the site is built from its --out: it says so and waits for the build to end, or to fail."""
    import threading

    import site_hooks
    from vae.report import transaction

    docs = tmp_path / "docs"
    out = docs / "assets"
    _small_report(out, "old")
    staging = _staged(out, "new")
    config = {"docs_dir": str(docs), "site_dir": str(tmp_path / "site")}
    site_hooks.on_pre_build(config)
    said: list[str] = []
    landing = threading.Thread(target=transaction.land, args=(staging, out, said.append))
    try:
        landing.start()
        landing.join(1.0)
        assert landing.is_alive() and "old" in (out / "tables" / "t.md").read_text(), "landed during the build"
        assert len(said) == 1 and "site build" in said[0] and str(out) in said[0], said
    finally:
        if ending == "on_post_build":
            site_hooks.on_post_build(config)
        else:
            site_hooks.on_build_error(RuntimeError("a page failed"))
    landing.join(10)
    assert not landing.is_alive() and "new" in (out / "tables" / "t.md").read_text()


@guarantee("assets")
def test_a_site_build_waits_for_a_report_landing_in_its_assets_and_builds_the_landed_one(tmp_path, repo_root):
    """`mkdocs build` while a report lands in docs/assets: it says so, waits, and builds the new report (no traceback)."""
    import time

    from vae.report import transaction

    docs = tmp_path / "docs"
    _small_report(docs / "assets", "old")
    (docs / "index.md").write_text("# A page\n")
    staging = _staged(docs / "assets", "new")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\ndocs_dir: {docs}\nhooks:\n  - {repo_root / 'code' / 'site_hooks.py'}\n",
                      encoding="utf-8")
    log = tmp_path / "build.log"
    fd = transaction.lock_assets(docs / "assets", lambda: pytest.fail("the lock was taken"))
    try:
        with open(log, "w") as stderr:
            build = subprocess.Popen([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                                      "-d", str(tmp_path / "site")], cwd=tmp_path, stderr=stderr,
                                     env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
        deadline = time.monotonic() + 120
        while "is landing" not in log.read_text() and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert build.poll() is None and "a report is landing there" in log.read_text(), log.read_text()
        transaction._swap(staging, docs / "assets")     # the landing itself, under the lock
    finally:
        os.close(fd)
    assert build.wait(timeout=120) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert "new" in (tmp_path / "site" / "assets" / "tables" / "t" / "index.html").read_text()
