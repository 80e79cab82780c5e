"""The report: train every run a profile asks for and write all figures and tables into one folder.

    python -m vae report --profile {quick,standard,full} [--data-dir data] [--out docs/assets]

Where each job lives:
- `plan`: the profiles, the runs each one makes (`run_specs`) with their roles (`select`), and a run
  in words (`describe`);
- `run`: one run, trained with figure snapshots, then measured and drawn into its folder;
- `runner`: the runs one after another, or several at once on one GPU;
- `progress`: what the report shows while it runs (a live bar, or one line per epoch);
- `classifier`: the report's own classifier, which judges whether reconstructions keep their class;
- `data_page`: example images and class counts for the Data page;
- `tables`: the one number formatter and the table writer (.md for pages, .csv/.json with every field);
- `comparisons`: every table and figure across runs, one function each, listed in `COMPARISONS`;
- `findings`: every conclusion computed from the runs, with its numbers, spread and evidence;
- `quoted`: the one place for numbers quoted from elsewhere (Burda et al., seed report 000);
- `transaction`: staging on --out's filesystem, then all of the report lands at once, or nothing changes;
  only the files the previous report's manifest lists are ever replaced;
- `build`: `build_report`, which reads each dataset once, puts these together and writes manifest.json.
docs/assets/README.md describes the files for the site's pages.
"""

from .build import ReportError, build_report
from .plan import PROFILES, Profile, Role, RunSpec, describe, run_name, run_specs, select
from .run import snapshot_epochs
from .tables import format_number, markdown_table

__all__ = ["PROFILES", "Profile", "ReportError", "Role", "RunSpec", "build_report", "describe",
           "format_number", "markdown_table", "run_name", "run_specs", "select", "snapshot_epochs"]
