"""The benchmark (`python -m vae benchmark`): Burda et al.'s model trained and evaluated by its own
command into its own assets, beside the report's. Built here with the `quick` recipe (a subset,
seconds); the committed assets of the `paper` recipe are checked against what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vae.checkpoints import load_model
from vae.report import RECIPES, build_benchmark
from vae.report.experiments import benchmark
from vae.report.quoted import QUOTED
from vae.report.wording import PLACEHOLDER, catalogue, lookup, sentence, write_value


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir, single_thread_module):
    folder = tmp_path_factory.mktemp("benchmark")
    lines: list[str] = []
    manifest = build_benchmark(RECIPES["quick"], data_dir, folder / "assets", folder / "runs", "cpu", iwae=True,
                               log=lines.append, progress=False)
    return folder, manifest, lines


@pytest.fixture(scope="module")
def single_thread_module():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_benchmark_writes_what_it_declares_and_its_manifest_lists_it(built):
    folder, manifest, _ = built
    assets = folder / "assets"
    written = sorted(str(p.relative_to(assets)) for p in assets.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert written == sorted(benchmark.OUTPUTS)
    assert sorted(manifest["files"]) == sorted(f for f in benchmark.OUTPUTS if f != "manifest.json")
    assert json.loads((assets / "manifest.json").read_text())["recipe"]["name"] == "quick"
    assert set(manifest["runs"]) == {"vae", "iwae"}


def test_its_estimate_is_the_importance_bound_below_the_elbo_on_the_images_the_recipe_names(built):
    _, manifest, _ = built
    for run in manifest["runs"].values():
        lk = run["likelihood"]
        assert lk["k"] == RECIPES["quick"].k_eval and lk["test_images"] == RECIPES["quick"].test_images
        assert lk["nll"] <= lk["negative_elbo"] and lk["nll_standard_error"] > 0


def test_the_table_sets_the_runs_beside_the_papers_rows_marked_quoted(built):
    folder, manifest, _ = built
    rows = json.loads((folder / "assets" / "tables" / "benchmark.json").read_text())["rows"]
    quoted = [row for row in rows if "(quoted)" in row["model"]]
    assert sorted(row["nll"] for row in quoted) == sorted(QUOTED["burda_2015"]["nll"].values())
    ours = [row for row in rows if row["source"] == "this report"]
    assert [row["nll"] for row in ours] == [manifest["runs"][name]["likelihood"]["nll"] for name in ("vae", "iwae")]


def test_the_weights_offered_for_download_load_and_give_the_manifests_test_bound(built, data_dir):
    from vae.data import load_splits
    from vae.evaluation import evaluate
    from vae.training import binarized
    folder, manifest, _ = built
    model, config = load_model(folder / "assets" / "runs" / "vae" / "model.pt")
    assert config.to_dict() == manifest["runs"]["vae"]["config"]
    test_x = binarized(load_splits("mnist", data_dir, config.val_split, config.seed, config.train_limit).test_x,
                       config.seed + 2)      # the fixed draw of training.prepare_splits
    metrics = evaluate(model, test_x, 1.0)
    assert metrics["elbo"] == pytest.approx(manifest["runs"]["vae"]["metrics"]["test"]["elbo"], abs=1e-3)


def test_every_sentence_of_its_findings_names_numbers_they_have(built):
    folder, _, _ = built
    found = json.loads((folder / "assets" / "findings.json").read_text())["findings"]
    assert set(found) == set(benchmark.FINDINGS)
    assert found["benchmark_iwae"]["verdict"] != "unmeasured"      # k = 5: the paper has that row
    for language in ("en", "pt"):
        for name in benchmark.FINDINGS:
            for verdict, text in catalogue(language)[name].items():
                for match in PLACEHOLDER.finditer(text):
                    write_value(lookup(found[name], match[1]), match[2], language)
            assert sentence(name, found[name], language)


def test_a_second_run_resumes_the_finished_runs_and_trains_nothing(built, data_dir):
    folder, manifest, _ = built
    lines: list[str] = []
    again = build_benchmark(RECIPES["quick"], data_dir, folder / "assets", folder / "runs", "cpu", iwae=True,
                            log=lines.append, progress=False)
    assert not any(line.startswith("epoch ") for line in lines)
    assert any("resuming" in line for line in lines)
    assert again["runs"]["vae"]["likelihood"] == manifest["runs"]["vae"]["likelihood"]


def test_the_committed_benchmark_says_what_its_manifest_and_table_hold(repo_root: Path):
    assets = repo_root / "docs" / "assets" / "benchmark"
    manifest = json.loads((assets / "manifest.json").read_text())
    finding = json.loads((assets / "findings.json").read_text())["findings"]["benchmark_vae"]
    run = manifest["runs"]["vae"]
    assert finding["numbers"]["nll"] == run["likelihood"]["nll"]
    assert finding["numbers"]["total_s"] == pytest.approx(run["metrics"]["wall_time_s"] + run["evaluation_s"])
    assert run["config"]["epochs"] == manifest["recipe"]["epochs"] == finding["numbers"]["epochs"]
    assert run["likelihood"]["k"] == QUOTED["burda_2015"]["k_eval"]
    assert run["likelihood"]["test_images"] == QUOTED["burda_2015"]["test_images"]
    trained = set(manifest["runs"])       # the IWAE's files where it was trained (a GPU)
    assert sorted(manifest["files"]) == sorted(f for f in benchmark.OUTPUTS if f != "manifest.json"
                                               and not any(f.startswith(f"runs/{r}/") for r in set(benchmark.RUNS) - trained))
