"""Do the report's runs, tables and manifest describe one and the same report?

An interrupted or failed report can leave runs of one profile beside tables and a manifest of
another, and the pages would then print numbers of two different reports side by side. The
site build calls `check_assets` first (code/site_hooks.py) and refuses such a folder, naming
the first file that is out of date. Only what the report itself writes is compared, by
content (never by modification times, which a git checkout does not keep).

It also refuses what cannot be published: a malformed manifest (one line naming the key, never
a traceback), a listed figure that is empty or not a PNG, and a listed Markdown table that is
empty, not a table, or holds raw HTML or a Markdown link or image (a generated table holds numbers and
words only).

    python -m vae.plumbing.consistency docs/assets     # the same check from the shell
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Settings of a run's config.json that must equal its entry in manifest.json.
RUN_SETTINGS = ("dataset", "arch", "latent_dim", "beta", "binarize", "epochs", "train_limit")
TABLE_SUFFIXES = (".csv", ".json", ".md")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An HTML tag or comment: a generated table holds numbers and words only, so any tag in one was
# put there by hand (or by an attacker) and would reach the page unescaped.
HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^>]*>|<!--")
# A Markdown link or image (inline `[x](url)`, `![x](url)`, reference `[x][r]` or definition `[x]: url`):
# a generated table links nowhere, so one in it came from a string that is not the report's own
# (a `javascript:` link, a remote image); it would be live on the page.
MARKDOWN_LINK = re.compile(r"!?\[[^\]\n]*\]\s*[(\[:]")
# A Markdown table: a header row, then the delimiter row (|---|:--:|...).
TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", re.M)

# The shape of manifest.json: key -> (type name, check); anything else is refused in one line.
MANIFEST_SHAPE = {
    "runs": ("a list of runs", lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)),
    "tables": ("a list of paths", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    "figures": ("a list of paths", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    "files": ("a list of paths", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    "explorer": ("a list of paths", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    "failed_runs": ("an object", lambda v: isinstance(v, dict)),
    "profile_settings": ("an object", lambda v: isinstance(v, dict)),
}
RUN_SHAPE = {
    "name": ("a run name", lambda v: isinstance(v, str) and v and "/" not in v and not v.startswith(".")),
    "files": ("a list of paths", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    "metrics": ("an object", lambda v: isinstance(v, dict)),
}


class InconsistentAssets(ValueError):
    """The assets folder mixes reports; the message names the file that is out of date."""


def _read(path: Path, root: Path, shape: type = dict) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InconsistentAssets(f"{path.relative_to(root)} is missing") from None
    except (OSError, ValueError) as err:
        raise InconsistentAssets(f"{path.relative_to(root)} cannot be read ({err})") from None
    if not isinstance(data, shape):
        raise InconsistentAssets(f"{path.relative_to(root)} is malformed (a JSON {type(data).__name__}, "
                                 f"not an object)")
    return data


def _shape_problems(record: dict[str, Any], shape: dict[str, tuple[str, Any]], where: str,
                    required: tuple[str, ...] = ()) -> list[str]:
    found = [f"{where} is malformed: it has no '{key}'" for key in required if key not in record]
    found += [f"{where} is malformed: '{key}' is not {what}" for key, (what, ok) in shape.items()
              if key in record and not ok(record[key])]
    return found


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """What makes manifest.json unusable as a description of a report (empty: well-formed)."""
    found = _shape_problems(manifest, MANIFEST_SHAPE, "manifest.json", required=("runs",))
    if found:
        return found
    for index, run in enumerate(manifest["runs"]):
        found += _shape_problems(run, RUN_SHAPE, f"manifest.json (run {index + 1})", required=("name",))
    names = [run.get("name") for run in manifest["runs"]]
    found += [f"manifest.json is malformed: run {name!r} is listed twice" for name in sorted(
        {n for n in names if isinstance(n, str) and names.count(n) > 1})]
    return found


def _is_leftover(name: str) -> bool:
    """What an interrupted write can leave: artifacts.write_atomic's `.<name>.<random>.tmp`, and a
    report's staging folder `.<out>.report-<random>` with its `.previous` entries."""
    return name.endswith(".tmp") or name == ".previous" or ".report-" in name


def problems(assets: Path) -> list[str]:
    """Every disagreement between manifest.json, runs/ (explorers included) and tables/, and every asset that
    cannot be published (empty or not a PNG, not a table, raw HTML in a table); empty: consistent."""
    assets = Path(assets)
    if not (assets / "manifest.json").exists() and not (assets / "runs").exists() \
            and not (assets / "tables").exists():
        return []   # no report at all (a site without results): nothing can disagree
    try:
        manifest = _read(assets / "manifest.json", assets)
    except InconsistentAssets as err:
        return [str(err)]
    malformed = manifest_problems(manifest)
    if malformed:
        return malformed
    found = [f"{p.relative_to(assets)} is left over from an interrupted report"
             for p in sorted(assets.rglob(".*")) if _is_leftover(p.name)]
    if manifest.get("failed_runs"):
        found.append(f"manifest.json records failed runs ({', '.join(map(str, manifest['failed_runs']))})")
    listed = {run["name"]: run for run in manifest["runs"]}
    runs_dir = assets / "runs"
    if runs_dir.is_dir():
        found += [f"runs/{p.name} is not in manifest.json (a run of another report)"
                  for p in sorted(runs_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")
                  and p.name not in listed]
    for name, run in listed.items():
        found += _run_problems(assets, name, run, manifest)
    found += _table_problems(assets, manifest, listed)
    found += _content_problems(assets, manifest)
    return found


def _content_problems(assets: Path, manifest: dict[str, Any]) -> list[str]:
    """Listed figures must be real PNGs; listed Markdown tables real tables without raw HTML."""
    listed = {*manifest.get("tables", []), *manifest.get("figures", []), *manifest.get("files", []),
              *(f for run in manifest["runs"] for f in run.get("files", []))}
    found = []
    for name in sorted(listed):
        path = assets / name
        if not path.is_file():
            continue                     # reported as missing elsewhere
        if name.endswith(".png"):
            with open(path, "rb") as f:
                head = f.read(len(PNG_SIGNATURE) + 8)
            if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
                found.append(f"{name} is {'empty' if not head else 'not a PNG image'}")
        elif name.endswith(".md"):
            text = path.read_text(encoding="utf-8", errors="replace")
            if not TABLE_DELIMITER.search(text):
                found.append(f"{name} is {'empty' if not text.strip() else 'not a Markdown table'}")
            elif HTML_TAG.search(text):
                found.append(f"{name} holds raw HTML ({HTML_TAG.search(text).group(0)[:40]}); generated tables "
                             "hold numbers and words only")
            elif MARKDOWN_LINK.search(text):
                found.append(f"{name} holds a Markdown link or image ({MARKDOWN_LINK.search(text).group(0)[:40]}); "
                             "generated tables hold numbers and words only")
    return found


def _run_problems(assets: Path, name: str, run: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    missing = [f"{f} is listed in manifest.json but missing" for f in run.get("files", [])
               if not (assets / f).is_file()]
    if missing:
        return missing
    try:
        metrics = _read(assets / "runs" / name / "metrics.json", assets)
        config = _read(assets / "runs" / name / "config.json", assets).get("config", {})
        if not isinstance(config, dict):
            raise InconsistentAssets(f"runs/{name}/config.json is malformed ('config' is not an object)")
    except InconsistentAssets as err:
        return [str(err)]
    found = []
    if metrics != run.get("metrics", {}):
        found.append(f"runs/{name}/metrics.json does not match manifest.json")
    settings = manifest.get("profile_settings", {})
    differences = [key for key in (*RUN_SETTINGS, "seed") if key in run and config.get(key) != run[key]]
    # A run's own seed (the seeds of the sweeps' centre) is in its manifest entry; otherwise the profile's.
    differences += [key for key in ("val_split", "seed") if key in settings and key not in run
                    and config.get(key) != settings[key]]
    if differences:
        found.append(f"runs/{name}/config.json has other {', '.join(differences)} than the manifest's "
                     f"{manifest.get('profile')} profile")
    return found


def _table_problems(assets: Path, manifest: dict[str, Any], listed: dict[str, Any]) -> list[str]:
    tables = set(manifest.get("tables", [])) | set(manifest.get("figures", []))
    explorer = set(manifest.get("explorer", []))
    found = [f"{t} is listed in manifest.json but missing" for t in sorted(tables | explorer)
             if not (assets / t).is_file()]
    # Each explorer lives in its run's folder (runs/<name>/explorer/); explorer/ is an earlier report's.
    for folder in (assets / "explorer", *sorted(assets.glob("runs/*/explorer"))):
        if folder.is_dir():
            found += [f"{p.relative_to(assets)} is not in manifest.json (an explorer of another report)"
                      for p in sorted(folder.rglob("*"))
                      if p.is_file() and not p.name.startswith(".") and str(p.relative_to(assets)) not in explorer]
    tables_dir = assets / "tables"
    if tables_dir.is_dir():
        found += [f"tables/{p.name} is not in manifest.json (a table of another report)"
                  for p in sorted(tables_dir.iterdir())
                  if p.suffix in TABLE_SUFFIXES and not p.name.startswith(".") and f"tables/{p.name}" not in tables]
    if "tables/runs.json" in tables and (assets / "tables/runs.json").is_file():
        try:
            rows = _read(assets / "tables/runs.json", assets).get("rows", [])
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise InconsistentAssets("tables/runs.json is malformed ('rows' is not a list of objects)")
        except InconsistentAssets as err:
            return found + [str(err)]
        in_table = {row.get("run"): row.get("test_elbo") for row in rows}
        test = {name: run.get("metrics", {}).get("test") for name, run in listed.items()}
        in_runs = {name: t.get("elbo") if isinstance(t, dict) else None for name, t in test.items()}
        if in_table != in_runs:
            found.append("tables/runs.json does not match the runs of manifest.json")
    return found


def check_assets(assets: Path) -> None:
    """Raise InconsistentAssets naming the first problem (and how many more there are)."""
    found = problems(assets)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InconsistentAssets(f"{assets}: {found[0]}{more}; the assets are not one complete report: "
                                 "run `python -m vae report` again to regenerate them")


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "docs/assets")
    if not folder.is_dir():      # an empty result here would read as "consistent"
        print(f"{folder}: no such folder; give the assets folder of a report (docs/assets)", file=sys.stderr)
        return 2
    issues = problems(folder)
    for issue in issues:
        print(f"{folder}: {issue}", file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
