"""Write docs/includes/robustness.md, the Robustness section, from the tests that check it.

    python tests/robustness_cases.py          # rewrite the include
    python tests/robustness_cases.py --check  # exit 1 if it is out of date (the test suite runs this check)

Every row of the table is one test of tests/test_reliability_*.py: its guarantee tag, the first
line of its docstring and its number of cases (parametrizations), so the counts are never typed
by hand. Rows follow the order of the guarantees (tests/support/reliability.py), then of the files
and of the tests within each file.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(Path(__file__).resolve().parent.glob("test_reliability_*.py"))
INCLUDE = ROOT / "docs" / "includes" / "robustness.md"

INTRO = """\
Every guarantee below is checked by `make test` on a CPU without network access, using tiny
models and data subsets so that the checks take seconds, not minutes. The table is generated
from the tests themselves (`tests/test_reliability_*.py`) by `tests/robustness_cases.py`; the
suite fails if this page and the tests disagree.

- **Invalid settings** end in one line on stderr that names the option and the values it
  accepts, with exit code 2, before anything is written. Expected failures (damaged data or
  checkpoints, a full disk, too little memory, a non-finite loss) end in one line and exit
  code 1; an interrupt ends in one line with exit code 130 (Ctrl-C), 143 (SIGTERM) or 129
  (SIGHUP, the terminal closed). None of them prints a traceback. An error the code did not
  expect (a bug) ends in one line asking for a bug report, with exit code 70 and the
  traceback saved to a log file whose name the line gives.
- **Data** is only used once each of the four IDX files of a dataset has the expected MD5
  checksum; `make data` (or `python -m vae data`) repairs a damaged data folder, keeping the
  files that are already right, and names a folder found where a file belongs.
- **Every file is written atomically**: to a temporary file in the same folder, flushed,
  fsynced, then renamed over the target. A crash leaves either the old file or the new one,
  never a mix (at most a hidden `.NAME.*.tmp` file remains, which the site ignores). Files get
  the permissions the umask gives (0644 under the usual 022), so a copied site is readable.
- **Checkpoints** are loaded with `torch.load(weights_only=True)`, and the CRC-32 of every
  record is checked, so a damaged or foreign file is refused with a message rather than loaded.
  Each records its format version: a newer format, an unknown field or setting is refused, never
  dropped, and the configuration it holds is checked with the command line's rules, naming the
  file.
- **Interrupted training**, even by `SIGKILL`, continues with `--resume` from the last complete
  epoch and, on the CPU, ends with exactly the metrics of an uninterrupted run.
- **A full disk** is named as such even where torch's checkpoint writer hides it behind its own
  error: the writer keeps the error of the file itself (checked on a real 1 MB filesystem
  wherever the test machine allows mounting one).
- **Output folders are owned.** A running `train`, `report` or `bench` holds a lock on its `--out`
  folder, which the system releases when the process ends, even by `SIGKILL`; a second command
  into the same folder is refused in one line. `train` into a folder that already holds a run
  needs `--resume` (which checks the run's settings, even when `last.pt` is gone) or
  `--overwrite` (which deletes the old run's files first, so the two runs never mix).
- **Ctrl-C always stops a command**, even when it lands in a finalizer where Python would
  ignore it: the signal is recorded and checked after every epoch and every report run.
- **The log never stops a run**: if stdout is closed (`train ... | head -1`) or fails, the
  remaining lines are dropped and training carries on; characters stdout cannot encode are
  escaped.
- **The site build refuses mixed or unpublishable assets**: before any page is built, it
  checks that the runs, tables and `manifest.json` of `docs/assets` come from one report, that
  the records are well formed, that every listed figure is a PNG and every generated table a
  table without raw HTML, and names the first file at fault. `make site` builds into a
  temporary folder and swaps it in, so a failed build leaves the previous site.
- **The report never deletes what it did not write.** It is built in a staging folder on the
  same filesystem as `--out` and lands all at once or not at all. It replaces only the files
  that the previous report's `manifest.json` lists; if anything else stands where it would
  write, it stops in one line (exit code 2) before training, as it does when anything it would
  replace lies behind a symbolic link or `--out` holds the project's sources or pages. Staging
  left by a killed command is removed by the next one once its lock is free; a parallel report
  stopped by a signal ends in one line, and its workers end with it, even after a `SIGKILL`.
- **The CUDA path** is checked on the CPU: the device asked for is made current and the step
  captured on its warm-up stream; fp32 means fp32 (no TF32) with deterministic cuDNN; the fixed
  binarization is drawn on the CPU; each report run gets a fresh worker process. Until a GPU run
  measures them, the captured step and parallel runs are opt-in (`--cuda-graph`,
  `report --workers N`).
"""


def load_tests_modules() -> list:
    if str(TESTS[0].parent) not in sys.path:        # `support` is imported as pytest imports it
        sys.path.insert(0, str(TESTS[0].parent))
    modules = []
    for path in TESTS:
        spec = importlib.util.spec_from_file_location(f"{path.stem}_for_docs", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def cases_of(test) -> int:
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    return math.prod(len(m.args[1]) for m in marks) if marks else 1


def rows() -> list[tuple[str, str, int]]:
    """(guarantee, what the test checks, number of cases), in the order of GUARANTEES."""
    from support.reliability import GUARANTEES

    found = []
    for path, module in zip(TESTS, load_tests_modules()):
        for name, test in vars(module).items():
            if not (name.startswith("test_") and callable(test)):
                continue
            if not getattr(test, "guarantee", None) or not test.__doc__:
                raise SystemExit(f"{path.name}::{name} needs a @guarantee tag and a docstring")
            found.append((test.guarantee, test.__doc__.strip().splitlines()[0], cases_of(test)))
    order = list(GUARANTEES)
    found.sort(key=lambda row: order.index(row[0]))      # stable: file and test order within each guarantee
    return [(GUARANTEES[area], text, n) for area, text, n in found]


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    table = rows()
    total = sum(n for _, _, n in table)
    lines = [
        "<!-- Generated by tests/robustness_cases.py from tests/test_reliability_*.py; do not edit. -->",
        "",
        INTRO,
        f"The suite checks these guarantees in **{total} cases** ({len(table)} tests):",
        "",
        "| Guarantee | What the test checks | Cases |",
        "|---|---|--:|",
        *[f"| {area} | {escape(text)} | {n} |" for area, text, n in table],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = INCLUDE.read_text(encoding="utf-8") if INCLUDE.exists() else ""
        if current != text:
            print(f"{INCLUDE.relative_to(ROOT)} is out of date; run: python tests/robustness_cases.py",
                  file=sys.stderr)
            return 1
        return 0
    from vae.plumbing.artifacts import write_text

    write_text(INCLUDE, text)
    print(f"wrote {INCLUDE.relative_to(ROOT)}: {sum(n for _, _, n in rows())} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
