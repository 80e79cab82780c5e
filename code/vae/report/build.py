"""The whole report: classifiers and data-page assets, every run, the comparisons, the manifest,
built in a staging folder and landed in `--out` as one transaction."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import artifacts, figures
from ..data import load_splits
from ..device import environment
from . import classifier, data_page, transaction
from .comparisons import write_comparisons
from .plan import Profile, RunSpec, run_specs
from .run import RunOutcome
from .runner import RunJob, make_runs, worker_count


class ReportError(RuntimeError):
    """The report could not be completed (a run failed); the message names what to do."""


def build_report(profile: Profile, data_dir: str | Path = "data", out_dir: str | Path = "docs/assets",
                 log: Callable[[str], None] = print, specs: Sequence[RunSpec] | None = None,
                 workers: int | None = None) -> dict[str, Any]:
    """Make `specs` (default: every run of `profile`) and land all assets in `out_dir`, or change nothing.

    `workers`: runs at once (default: the profile's on CUDA, 1 on a CPU). Returns the manifest."""
    started = time.perf_counter()
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    specs = list(run_specs(profile, data_dir) if specs is None else specs)
    staging = transaction.open_staging(out_dir)
    try:
        manifest, failures = _build(profile, data_dir, staging, specs, workers or worker_count(profile), log)
    except BaseException:
        transaction.discard(staging)
        raise
    manifest["wall_time_s"] = time.perf_counter() - started
    if failures:
        artifacts.write_json(staging / "manifest.json", manifest)
        raise ReportError(f"{len(failures)} of {len(specs)} runs failed ({', '.join(failures)}); {out_dir} was "
                          f"left unchanged; the completed runs' assets are kept in {staging}")
    artifacts.write_json(staging / "manifest.json", manifest)
    transaction.land(staging, out_dir)
    log(f"report ({profile.name}): {len(manifest['runs'])} runs in {manifest['wall_time_s']:.0f} s, "
        f"written to {out_dir}")
    return manifest


def _build(profile: Profile, data_dir: Path, staging: Path, specs: Sequence[RunSpec], workers: int,
           log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every asset into `staging`; the manifest and the failed runs (name: one line)."""
    env = environment()
    datasets = list(dict.fromkeys(spec.config.dataset for spec in specs))
    judges, shared = _data_assets(profile, data_dir, staging, datasets, log)
    outcomes: dict[str, RunOutcome] = {}
    failures: dict[str, str] = {}

    def on_done(index: int, job: RunJob, result: RunOutcome | str) -> None:
        prefix = f"[{index + 1}/{len(specs)}] {job.spec.name}"
        if isinstance(result, str):
            failures[job.spec.name] = result
            log(f"{prefix}: FAILED ({result})")
            return
        outcomes[job.spec.name] = result
        m = result.metrics
        log(f"{prefix}: test -ELBO {m['test']['elbo']:.2f} (recon {m['test']['recon']:.2f} + KL "
            f"{m['test']['kl']:.2f}), {m['active_units']} active units, train {m['wall_time_s']:.0f} s, "
            f"total {result.report_time_s:.0f} s")

    with tempfile.TemporaryDirectory(prefix="vae-report-") as scratch:   # checkpoints: never in the assets
        jobs = [RunJob(spec, profile, staging / "runs" / spec.name, Path(scratch) / spec.name, env, judges)
                for spec in specs]
        make_runs(jobs, workers, on_done)
    outcomes = {spec.name: outcomes[spec.name] for spec in specs if spec.name in outcomes}   # plan order
    comparison_started = time.perf_counter()
    shared += [str(p.relative_to(staging)) for p in write_comparisons(profile, outcomes, staging, specs, failures)]
    log(f"comparisons: {len(shared)} files, {time.perf_counter() - comparison_started:.0f} s")
    return _manifest(profile, env, outcomes, failures, shared, staging), failures


def _data_assets(profile: Profile, data_dir: Path, staging: Path, datasets: Sequence[str],
                 log: Callable[[str], None]) -> tuple[dict[str, Any], list[str]]:
    """The report's classifier per dataset (classifier.json) and the Data page's figures and table,
    from one load of each dataset; returns the classifiers and the files written."""
    loaded = {d: load_splits(d, data_dir, profile.val_split, profile.seed, profile.train_limit) for d in datasets}
    judges, accuracy, written = {}, {}, []
    for dataset, splits in loaded.items():
        judges[dataset], test_accuracy = classifier.train_classifier(splits, profile.classifier_epochs, profile.seed)
        accuracy[dataset] = {"test_accuracy": test_accuracy, "test_images": len(splits.test_x),
                             "train_examples": len(splits.train_x), "epochs": profile.classifier_epochs,
                             "model": f"MLP 784-{classifier.HIDDEN}-{len(splits.classes)}"}
        log(f"classifier ({dataset}): test accuracy {test_accuracy:.3f}")
        written.append(data_page.class_examples_figure(dataset, splits, staging / "figures"))
    written += data_page.class_counts_table(loaded, staging / "tables")
    written.append(artifacts.write_json(staging / "classifier.json", accuracy))
    return judges, [str(p.relative_to(staging)) for p in written]


def _manifest(profile: Profile, env: dict[str, Any], outcomes: dict[str, RunOutcome], failures: dict[str, str],
              shared: list[str], staging: Path) -> dict[str, Any]:
    device = next(iter(outcomes.values())).metrics["device_name"] if outcomes else None
    runs = [{"name": o.spec.name, "dataset": o.spec.config.dataset, "arch": o.spec.config.arch,
             "hidden": list(o.spec.config.hidden), "latent_dim": o.spec.config.latent_dim,
             "beta": o.spec.config.beta, "binarize": o.spec.config.binarize, "objective": o.spec.config.objective,
             "k": o.spec.config.k, "epochs": o.spec.config.epochs, "train_limit": o.spec.config.train_limit,
             "seed": o.spec.config.seed, "roles": [[r.experiment, r.value] for r in o.spec.roles],
             "metrics": o.metrics, "figures": [f"runs/{o.spec.name}/{f}" for f in o.files if f.endswith(".png")],
             "files": [f"runs/{o.spec.name}/{f}" for f in o.files], "code_commit": env["git_commit"],
             "device": o.metrics["device_name"], "wall_time_s": o.metrics["wall_time_s"],
             "report_time_s": o.report_time_s} for o in outcomes.values()]
    pngs = sorted(p for p in shared if p.endswith(".png")) + [f for run in runs for f in run["figures"]]
    return {"profile": profile.name, "profile_settings": dataclasses.asdict(profile), "wall_time_s": None,
            "code_commit": env["git_commit"], "device": device, "environment": env, "runs": runs,
            "failed_runs": failures, "tables": sorted(p for p in shared if p.startswith("tables/")),
            "figures": sorted(p for p in shared if p.startswith("figures/")),
            "figure_text_px": {p: figures.text_px(staging / p) for p in pngs}}
