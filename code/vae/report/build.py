"""The whole report: classifiers and data-page assets, every run, the comparisons, the manifest,
built in a staging folder and landed in `--out` as one transaction.

Each dataset is read and verified once per report; the data page, the classifiers, every run
and the outlier scoring share what was read."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import figures
from ..plumbing import artifacts
from ..data import Dataset, Splits, read_dataset, split
from ..plumbing.device import environment, select_device
from . import classifier, data_page, transaction
from .experiments import output_names, run_specs, write_all
from .plan import Profile, RunSpec
from .progress import ReportProgress, duration, expected_epochs, extra_seconds, measure_epoch_seconds
from .run import RunInputs, RunOutcome, explores
from .runner import RunJob, make_runs, threads_per_worker, with_continuations, worker_count


class ReportError(RuntimeError):
    """The report could not be completed (a run failed); the message names what to do."""


def build_report(profile: Profile, data_dir: str | Path = "data", out_dir: str | Path = "docs/assets",
                 log: Callable[[str], None] = print, specs: Sequence[RunSpec] | None = None,
                 workers: int | None = None) -> dict[str, Any]:
    """Make `specs` (default: every run of `profile`) and land all assets in `out_dir`, or change nothing.

    `workers`: runs at once (default: the profile's; on a CPU one per core unless it says otherwise,
    on CUDA up to its number as free GPU memory allows). Returns the manifest."""
    started = time.perf_counter()
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    specs = list(run_specs(profile, data_dir) if specs is None else specs)
    # Refuse before training, not after, to replace what the previous report did not write: every
    # name the report writes is known now (the runs' folders, explorers inside, the experiments' OUTPUTS,
    # the data page's).
    datasets = dict.fromkeys(spec.config.dataset for spec in specs)
    transaction.check_out(out_dir, [*(f"runs/{spec.name}" for spec in specs), "manifest.json", "classifier.json",
                                   *data_page.output_names(datasets), *output_names()])
    staging = transaction.open_staging(out_dir)
    progress = ReportProgress(specs, log)
    try:
        if workers is None:
            workers = worker_count(select_device(profile.device), profile.workers, len(specs))
        manifest, failures = _build(profile, data_dir, staging, specs, workers, progress, _previous(out_dir))
    except BaseException:
        transaction.discard(staging)
        raise
    finally:
        progress.close()
    manifest["wall_time_s"] = time.perf_counter() - started
    manifest["files"] = transaction.files_in(staging)   # what the next report may replace, and nothing else
    if failures:
        artifacts.write_json(staging / "manifest.json", manifest)
        transaction.release(staging)
        raise ReportError(f"{len(failures)} of {len(specs)} runs failed ({', '.join(failures)}); {out_dir} was "
                          f"left unchanged; the completed runs' assets are kept in {staging}")
    artifacts.write_json(staging / "manifest.json", manifest)
    transaction.land(staging, out_dir, log)
    log(f"report ({profile.name}): {len(manifest['runs'])} runs in {manifest['wall_time_s']:.0f} s, "
        f"written to {out_dir}")
    return manifest


def _previous(out_dir: Path) -> dict[str, Any]:
    """What the report that `out_dir` holds recorded of its runs' lengths (for the time left):
    its manifest's runs and the epoch at which the stopping rule would have stopped its long run.
    Empty where there is none, or it cannot be read: the estimate then counts every epoch."""
    try:
        manifest = artifacts.read_json(out_dir / "manifest.json")
        findings = artifacts.read_json(out_dir / "findings.json").get("findings", {})
        return {"runs": manifest.get("runs", []),
                "rule_stop_epoch": findings.get("stopping_rule", {}).get("numbers", {}).get("rule_stop_epoch")}
    except (OSError, ValueError, AttributeError):
        return {}


def _build(profile: Profile, data_dir: Path, staging: Path, specs: Sequence[RunSpec], workers: int,
           progress: ReportProgress, previous: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every asset into `staging`; the manifest and the failed runs (name: one line). `previous`:
    the lengths the last report recorded (`_previous`)."""
    env, log = environment(), progress.log
    data = ReportData(data_dir, specs, log, profile.test_limit)
    page_splits = {dataset: data.splits(dataset, profile.val_split, profile.seed, profile.train_limit)
                   for dataset in dict.fromkeys(spec.config.dataset for spec in specs)}
    judges, shared = _data_assets(profile, staging, page_splits, log)
    outcomes: dict[str, RunOutcome] = {}
    failures: dict[str, str] = {}

    def on_done(job: RunJob, result: RunOutcome | str) -> None:
        then = None if isinstance(result, str) else result.then
        if not isinstance(result, str):
            result = dataclasses.replace(result, then=None)
        progress.run_done(job.spec)
        (failures if isinstance(result, str) else outcomes)[job.spec.name] = result
        log(_run_line(job, len(specs), result))
        if job.then is not None:
            failed = f"not trained: it continues {job.spec.name}, which failed"
            on_done(job.then, then if then is not None else failed)

    device = select_device(profile.device)
    threads = threads_per_worker(workers, device)
    started = time.perf_counter()
    epoch_s = measure_epoch_seconds(specs, device, threads)     # the time left's cost model
    extra_s = {spec.name: extra_seconds(spec, profile, epoch_s[spec.name]) for spec in specs}
    epochs = expected_epochs(specs, previous)
    log(f"costs: {len(set(epoch_s.values()))} models timed in {time.perf_counter() - started:.0f} s")
    with transaction.scratch_folder() as scratch:   # checkpoints: never in the assets
        jobs = with_continuations([RunJob(index, spec, profile, staging / "runs" / spec.name,
                                          data.run_inputs(spec, judges, Path(scratch) / spec.name, staging), threads)
                                   for index, spec in enumerate(specs)])

        def cost_s(job: RunJob) -> float:     # a run and the epochs that the run continuing it adds
            name, then = job.spec.name, job.then
            added = 0.0 if then is None else (max(epochs[then.spec.name] - epochs[name], 0) * epoch_s[then.spec.name]
                                               + extra_s[then.spec.name])
            return epochs[name] * epoch_s[name] + extra_s[name] + added

        if workers > 1:   # the longest first, so that no long run starts last while the other workers idle
            jobs.sort(key=cost_s, reverse=True)
        progress.plan(epoch_s, extra_s, workers, [job.spec.name for job in jobs], epochs)
        log(f"runs: about {duration(progress.time_left_s())} on {workers} worker{'s' * (workers > 1)}")
        make_runs(jobs, workers, on_done, progress)
    outcomes = {spec.name: outcomes[spec.name] for spec in specs if spec.name in outcomes}   # plan order
    comparison_started = time.perf_counter()
    written = write_all(profile, outcomes, staging, specs, failures, workers)
    shared += [str(p.relative_to(staging)) for p in written]
    log(f"comparisons: {len(written)} files, {time.perf_counter() - comparison_started:.0f} s")
    return {**_manifest(profile, env, outcomes, failures, shared, staging), "progress": progress.record()}, failures


def _run_line(job: RunJob, runs: int, result: RunOutcome | str) -> str:
    """The log's line for a finished run: its main numbers, or why it failed."""
    prefix = f"[{job.index + 1}/{runs}] {job.spec.name}"
    if isinstance(result, str):
        return f"{prefix}: FAILED ({result})"
    m = result.metrics
    return (f"{prefix}: test -ELBO {m['test']['elbo']:.2f} (recon {m['test']['recon']:.2f} + KL "
            f"{m['test']['kl']:.2f}), {m['active_units']} active units, train {m['wall_time_s']:.0f} s, "
            f"total {result.report_time_s:.0f} s")


class ReportData:
    """Every dataset the runs train on or score as outliers, verified and read once per report,
    and their splits, made once per setting and shared by the data page and every run."""

    def __init__(self, data_dir: Path, specs: Sequence[RunSpec], log: Callable[[str], None],
                 test_limit: int | None = None):
        self.test_limit = test_limit
        names = dict.fromkeys([spec.config.dataset for spec in specs]
                              + [spec.anomaly_against for spec in specs if spec.anomaly_against])
        self.datasets: dict[str, Dataset] = {}
        self._splits: dict[tuple[str, float, int, int | None], Splits] = {}
        for name in names:
            started = time.perf_counter()
            self.datasets[name] = read_dataset(name, data_dir, fetch=True, log=log)
            log(f"{name}: verified (MD5) and read in {time.perf_counter() - started:.1f} s")

    def splits(self, dataset: str, val_split: float, seed: int, train_limit: int | None) -> Splits:
        key = (dataset, val_split, seed, train_limit)
        if key not in self._splits:
            made = split(self.datasets[dataset], val_split, seed, train_limit)
            if self.test_limit is not None:
                made = dataclasses.replace(made, test_x=made.test_x[:self.test_limit],
                                           test_y=made.test_y[:self.test_limit])
            self._splits[key] = made
        return self._splits[key]

    def run_inputs(self, spec: RunSpec, judges: dict[str, Any], checkpoint_dir: Path, staging: Path) -> RunInputs:
        """What one run is given: its splits, the outliers it scores, its judge, where it writes."""
        c = spec.config
        return RunInputs(
            splits=self.splits(c.dataset, c.val_split, c.seed, c.train_limit),
            outliers=self.datasets[spec.anomaly_against].test_x if spec.anomaly_against else None,
            judge=judges.get(c.dataset), checkpoint_dir=checkpoint_dir,
            explorer_dir=staging / "runs" / spec.name / "explorer" if explores(spec) else None)


def _data_assets(profile: Profile, staging: Path, loaded: dict[str, Splits],
                 log: Callable[[str], None]) -> tuple[dict[str, Any], list[str]]:
    """The report's classifier per dataset (classifier.json) and the Data page's figures and table;
    returns the classifiers and the files written."""
    judges, accuracy, written = {}, {}, []
    for dataset, splits in loaded.items():
        log(f"classifier ({dataset}): training {profile.classifier_epochs} epochs on "
            f"{len(splits.train_x):,} images")
        started = time.perf_counter()
        judges[dataset], test_accuracy = classifier.train_classifier(splits, profile.classifier_epochs, profile.seed)
        accuracy[dataset] = {"test_accuracy": test_accuracy, "test_images": len(splits.test_x),
                             "train_examples": len(splits.train_x), "epochs": profile.classifier_epochs,
                             "model": f"MLP 784-{classifier.HIDDEN}-{len(splits.classes)}"}
        log(f"classifier ({dataset}): test accuracy {test_accuracy:.3f} ({time.perf_counter() - started:.0f} s)")
        written.append(data_page.class_examples_figure(dataset, splits, staging / "figures"))
    written += data_page.class_counts_table(loaded, staging / "tables")
    written.append(artifacts.write_json(staging / "classifier.json", accuracy))
    log(f"data page: {len(written)} files")
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
    figure_files = sorted(str(p.relative_to(staging)) for p in (staging / "figures").glob("*.png"))
    pngs = figure_files + [f for run in runs for f in run["figures"]]
    # The latent explorer's data (image sprites, not figures), in the folders of the runs that draw it.
    explorer_files = sorted(str(p.relative_to(staging)) for p in staging.glob("runs/*/explorer/*")
                            if p.is_file() and not p.name.startswith("."))
    return {"profile": profile.name, "profile_settings": dataclasses.asdict(profile), "wall_time_s": None,
            "code_commit": env["git_commit"], "device": device, "environment": env, "runs": runs,
            "failed_runs": failures, "tables": sorted(p for p in shared if p.startswith("tables/")),
            # Every figure, with its copies in the other languages (save_png writes them beside it).
            "figures": figure_files,
            "explorer": explorer_files,
            "figure_text_px": {p: figures.text_px(staging / p) for p in pngs}}


# ---------------------------------------------------------------------------------------------
# The benchmark (experiments/benchmark.py): its own command and assets, landed as one transaction
# like the report's. Its runs train in `runs_dir`, outside the assets, so that an interrupted
# training resumes from its last epoch (a thousand epochs are most of an hour on a laptop).

def build_benchmark(recipe: "benchmark.Recipe", data_dir: str | Path = "data",
                    out_dir: str | Path = "docs/assets/benchmark", runs_dir: str | Path = "runs/benchmark",
                    device: str = "auto", iwae: bool | None = None, log: Callable[[str], None] = print,
                    progress: bool | None = None) -> dict[str, Any]:
    """Train (or resume) the benchmark's runs, estimate −log p(x) on the test images, and land the
    assets in `out_dir`, or change nothing. `iwae`: also train the IWAE (default: on CUDA only).
    Returns the manifest."""
    from tqdm.auto import tqdm

    from ..checkpoints import load_checkpoint
    from ..evaluation import iwae_bound
    from ..training import train
    from .experiments import benchmark

    started = time.perf_counter()
    out_dir, runs_dir = Path(out_dir), Path(runs_dir)
    on_cuda = select_device(device).type == "cuda"
    configs = benchmark.plan(recipe, data_dir, device, on_cuda if iwae is None else iwae)
    transaction.check_out(out_dir, benchmark.OUTPUTS)
    data = read_dataset("mnist", data_dir, fetch=True, log=log)
    splits = split(data, configs["vae"].val_split, recipe.seed, recipe.train_limit)
    results, likelihoods, timings, earlier = {}, {}, {}, {}
    for name, config in configs.items():
        run_dir = runs_dir / name
        resume = (run_dir / "last.pt").exists()
        if resume:      # what an earlier command trained, before this one rewrites config.json
            earlier[name] = {"resumed_after_epoch": load_checkpoint(run_dir / "last.pt")["epoch"],
                             "earlier_code_commit": artifacts.read_json(run_dir / "config.json")
                             .get("environment", {}).get("git_commit")}
        log(f"benchmark {name}: {'resuming' if resume else 'training'} {run_dir} ({config.epochs:,} epochs in all)")
        results[name] = result = train(config, run_dir, resume=resume, log=log, progress=progress, splits=splits)
        test_x = result.splits.test_x[:recipe.test_images]
        log(f"benchmark {name}: -log p(x) with k = {recipe.k_eval} on {len(test_x):,} test images")
        evaluated = time.perf_counter()
        with tqdm(total=len(test_x), unit="image", disable=(not progress) if progress is not None else None,
                  desc=f"{name}: -log p(x)") as bar:
            bound = iwae_bound(result.model, test_x, recipe.k_eval, seed=recipe.seed, on_batch=bar.update)
        timings[f"{name}_evaluation_s"] = time.perf_counter() - evaluated
        likelihoods[name] = {"k": recipe.k_eval, "test_images": len(test_x), "nll": bound["mean_nll"],
                             "nll_standard_error": bound["nll_standard_error"],
                             "negative_elbo": bound["mean_negative_elbo"]}
        log(f"benchmark {name}: test -log p(x) {likelihoods[name]['nll']:.2f} "
            f"± {likelihoods[name]['nll_standard_error']:.2f} nats ({timings[f'{name}_evaluation_s']:.0f} s)")
    staging = transaction.open_staging(out_dir)
    try:
        written = benchmark.write(staging, results, likelihoods)
        found = benchmark.judge(results, likelihoods, timings)
        written.append(artifacts.write_json(staging / "findings.json", {"findings": {f.name: f.record() for f in found}}))
        for name, result in results.items():
            artifacts.save_checkpoint(staging / "runs" / name / "model.pt", {
                "model": {k: v.cpu() for k, v in result.model.state_dict().items()}, "config": result.config.to_dict()})
            artifacts.write_bytes(staging / "runs" / name / "history.csv", (runs_dir / name / "history.csv").read_bytes())
        vae = results["vae"]
        env = environment()
        manifest = {"benchmark": recipe.name, "recipe": dataclasses.asdict(recipe), "code_commit": env["git_commit"],
                    "device": vae.metrics["device_name"], "environment": env,
                    "runs": {name: {"config": r.config.to_dict(), "metrics": r.metrics, "likelihood": likelihoods[name],
                                    "evaluation_s": timings[f"{name}_evaluation_s"],
                                    **earlier.get(name, {"resumed_after_epoch": 0})} for name, r in results.items()},
                    "figure_text_px": {str(p.relative_to(staging)): figures.text_px(p)
                                       for p in written if p.suffix == ".png"},
                    "wall_time_s": time.perf_counter() - started}
        manifest["files"] = transaction.files_in(staging)   # what the next benchmark may replace
        artifacts.write_json(staging / "manifest.json", manifest)
    except BaseException:
        transaction.discard(staging)
        raise
    transaction.land(staging, out_dir, log)
    log(f"benchmark ({recipe.name}): written to {out_dir} in {manifest['wall_time_s']:.0f} s")
    return manifest
