"""The report: train every run a profile asks for and write all figures and tables into one folder.

    python -m vae report --profile {quick,standard,full} [--data-dir data] [--out docs/assets]

Where each job lives:
- `plan`: the profiles, a run and its roles, a sweep as data, a run's name (derived from its
  configuration) and a run in words (`describe`);
- `experiments/`: one module per experiment: its runs, its tables and figures, its findings;
  `run_specs` gathers every experiment's runs, each once;
- `run`: one run, trained with figure snapshots, then measured and drawn into its folder;
- `runner`: the runs one after another, or several at once on one GPU;
- `progress`: what the report shows while it runs (a live bar, or one line per epoch);
- `classifier`: the report's own classifier, which judges whether reconstructions keep their class;
- `data_page`: example images and class counts for the Data page;
- `tables`: the one number formatter and the table writer (.md for pages, .csv/.json with every field);
- `comparisons`: what every experiment reads (runs by role, a run's row, mean and spread over seeds);
- `verdicts`: the one rule for "different", and a finding as data (claim, verdicts, numbers, call);
- `wording`: the findings' sentences, kept per language in `sentences/<language>.yml`;
- `findings`: findings.json, every finding with its numbers, spread and evidence;
- `quoted`: the one place for numbers quoted from elsewhere (Burda et al., seed report 000);
- `transaction`: staging on --out's filesystem, then all of the report lands at once, or nothing changes;
  only the files the previous report's manifest lists are ever replaced;
- `build`: `build_report`, which reads each dataset once, puts these together and writes manifest.json;
  and `build_benchmark`, the benchmark's own transaction (`experiments/benchmark.py`,
  `python -m vae benchmark`: Burda et al.'s number on this machine, in docs/assets/benchmark/).
docs/assets/README.md describes the files for the site's pages.
"""

# Resolved on first use (PEP 562), so that importing one submodule (the site build imports
# `transaction`, `tables` and `wording`) does not import torch and matplotlib through `build`.
_EXPORTS = {"ReportError": "build", "build_report": "build", "build_benchmark": "build",
            "RECIPES": "experiments.benchmark", "run_specs": "experiments",
            "PROFILES": "plan", "Profile": "plan", "Role": "plan", "RunSpec": "plan", "describe": "plan",
            "run_name": "plan", "snapshot_epochs": "run", "format_number": "tables", "markdown_table": "tables"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
