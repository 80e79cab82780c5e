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

from support.reliability import assert_one_line, guarantee, poison, run_cli, snapshot, TINY
from support.reliability import run_copy, tiny_run  # noqa: F401 (fixtures)
from vae.training import TrainConfig, load_checkpoint


@guarantee("transaction")
def test_a_report_run_that_fails_half_way_leaves_every_runs_assets_untouched(tmp_path, data_dir, monkeypatch):
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


# ---- issue 13: owned output folders --------------------------------------------------------------

@pytest.fixture
def lock_holder(subprocess_env):
    """Start a real process that holds the lock of a folder (as a running command does) until killed."""
    started = []

    def hold(folder: Path) -> subprocess.Popen:
        script = ("import sys, time; from pathlib import Path; from vae.outdir import owned\n"
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
    "staging-folder-left": (lambda a: (a / "runs" / ".mnist-conv-z2.partial").mkdir(),
                            "runs/.mnist-conv-z2.partial is left over"),
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
    from vae.consistency import problems

    assert problems(committed_assets) == []


@guarantee("assets")
@pytest.mark.parametrize("case", list(ASSET_MIXES))
def test_the_site_build_refuses_assets_that_mix_reports_and_names_the_file(case, committed_assets, tmp_path, repo_root):
    """Runs, tables and manifest that disagree (another profile, staging left, unlisted or missing files): the build hook stops, naming the file."""
    import importlib.util

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("site_hooks_under_test", repo_root / "code" / "site_hooks.py")
    site_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_hooks)

    docs = tmp_path / "docs"
    shutil.copytree(committed_assets, docs / "assets")
    damage_, fragment = ASSET_MIXES[case]
    damage_(docs / "assets")
    with pytest.raises(PluginError) as caught:
        site_hooks.on_pre_build({"docs_dir": str(docs)})
    assert fragment in str(caught.value)
    assert "python -m vae report" in str(caught.value)


@guarantee("assets")
def test_mkdocs_build_strict_stops_on_a_half_replaced_report(committed_assets, tmp_path, repo_root):
    """`mkdocs build --strict` on the real configuration stops before any page when a run of another profile is in place."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for child in (repo_root / "docs").iterdir():
        if child.name != "assets":
            (docs / child.name).symlink_to(child)
    shutil.copytree(committed_assets, docs / "assets")
    _another_profiles_run(docs / "assets")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {repo_root / 'mkdocs.yml'}\ndocs_dir: {docs}\n"
                      f"hooks:\n  - {repo_root / 'code' / 'site_hooks.py'}\n"
                      f"theme:\n  name: material\n  custom_dir: {repo_root / 'docs' / 'overrides'}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                             "-d", str(tmp_path / "site")], cwd=repo_root, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert result.returncode != 0
    assert "runs/mnist-conv-z2/metrics.json does not match manifest.json" in result.stderr
    assert not (tmp_path / "site" / "index.html").exists()
