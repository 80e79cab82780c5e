"""Do the report's runs, tables and manifest describe one and the same report?

An interrupted or failed report can leave runs of one profile beside tables and a manifest of
another, and the pages would then print numbers of two different reports side by side. The
site build calls `check_assets` first (code/site_hooks.py) and refuses such a folder, naming
the first file that is out of date. Only what the report itself writes is compared, by
content (never by modification times, which a git checkout does not keep).

    python -m vae.consistency docs/assets     # the same check from the shell
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Settings of a run's config.json that must equal its entry in manifest.json.
RUN_SETTINGS = ("dataset", "arch", "latent_dim", "beta", "binarize", "epochs", "train_limit")
TABLE_SUFFIXES = (".csv", ".json", ".md")


class InconsistentAssets(ValueError):
    """The assets folder mixes reports; the message names the file that is out of date."""


def _read(path: Path, root: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InconsistentAssets(f"{path.relative_to(root)} is missing") from None
    except (OSError, ValueError) as err:
        raise InconsistentAssets(f"{path.relative_to(root)} cannot be read ({err})") from None


def problems(assets: Path) -> list[str]:
    """Every disagreement between manifest.json, runs/ and tables/ (empty: consistent)."""
    assets = Path(assets)
    if not (assets / "manifest.json").exists() and not (assets / "runs").exists() \
            and not (assets / "tables").exists():
        return []   # no report at all (a site without results): nothing can disagree
    try:
        manifest = _read(assets / "manifest.json", assets)
    except InconsistentAssets as err:
        return [str(err)]
    found = [f"{p.relative_to(assets)} is left over from an interrupted report"
             for p in sorted(assets.rglob(".*")) if p.name.endswith((".partial", ".old"))]
    if manifest.get("failed_runs"):
        found.append(f"manifest.json records failed runs ({', '.join(manifest['failed_runs'])})")
    listed = {run["name"]: run for run in manifest.get("runs", [])}
    runs_dir = assets / "runs"
    if runs_dir.is_dir():
        found += [f"runs/{p.name} is not in manifest.json (a run of another report)"
                  for p in sorted(runs_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")
                  and p.name not in listed]
    for name, run in listed.items():
        found += _run_problems(assets, name, run, manifest)
    found += _table_problems(assets, manifest, listed)
    return found


def _run_problems(assets: Path, name: str, run: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    missing = [f"{f} is listed in manifest.json but missing" for f in run.get("files", [])
               if not (assets / f).is_file()]
    if missing:
        return missing
    try:
        metrics = _read(assets / "runs" / name / "metrics.json", assets)
        config = _read(assets / "runs" / name / "config.json", assets).get("config", {})
    except InconsistentAssets as err:
        return [str(err)]
    found = []
    if metrics != {"run": name, **run.get("metrics", {})}:
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
    found = [f"{t} is listed in manifest.json but missing" for t in sorted(tables) if not (assets / t).is_file()]
    tables_dir = assets / "tables"
    if tables_dir.is_dir():
        found += [f"tables/{p.name} is not in manifest.json (a table of another report)"
                  for p in sorted(tables_dir.iterdir())
                  if p.suffix in TABLE_SUFFIXES and not p.name.startswith(".") and f"tables/{p.name}" not in tables]
    if "tables/runs.json" in tables and (assets / "tables/runs.json").is_file():
        try:
            rows = _read(assets / "tables/runs.json", assets).get("rows", [])
        except InconsistentAssets as err:
            return found + [str(err)]
        in_table = {row.get("run"): row.get("test_elbo") for row in rows}
        in_runs = {name: run.get("metrics", {}).get("test", {}).get("elbo") for name, run in listed.items()}
        if in_table != in_runs:
            found.append("tables/runs.json does not match the runs of manifest.json")
    return found


def check_assets(assets: Path) -> None:
    """Raise InconsistentAssets naming the first problem (and how many more there are)."""
    found = problems(assets)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InconsistentAssets(f"{assets}: {found[0]}{more}; the runs, tables and manifest come from different "
                                 "reports: run `python -m vae report` again to regenerate them")


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/assets")
    issues = problems(folder)
    for issue in issues:
        print(f"{folder}: {issue}", file=sys.stderr)
    raise SystemExit(1 if issues else 0)
