"""Tiny training runs on the real data (an MLP on 256 examples): outputs, resume, datasets, options."""

import csv
import json
import math

import pytest
import torch

from support.configs import tiny_config, without_timings
from vae import cli
from vae.checkpoints import load_checkpoint, load_model
from vae.data import load_splits
from vae.plumbing.errors import ConfigError
from vae.training import HISTORY_FIELDS, TrainConfig, stop_record, stopped, train

pytestmark = pytest.mark.usefixtures("single_thread")



def read_history(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_tiny_cli_run_writes_config_history_metrics_and_both_checkpoints(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--arch", "mlp", "--hidden", "64", "--epochs", "2", "--batch-size", "64",
                     "--train-limit", "256", "--device", "cpu", "--data-dir", str(data_dir), "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "history.csv",
                                                      "last.pt", "metrics.json"]

    config = json.loads((out / "config.json").read_text())
    assert config["config"]["arch"] == "mlp" and config["config"]["train_limit"] == 256
    assert config["device"] == "cpu" and config["device_name"].startswith("cpu")
    env = config["environment"]
    assert env["torch"] == torch.__version__ and env["python"] and env["torchvision"]
    assert "git_commit" in env   # None only outside a git checkout
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
    assert config["wall_time_s"] > 0
    assert set(config) == {"config", "device", "device_name", "environment", "wall_time_s"}

    history = read_history(out / "history.csv")
    assert list(history[0]) == HISTORY_FIELDS
    assert [int(row["epoch"]) for row in history] == [1, 2]
    assert all(math.isfinite(float(v)) for row in history for v in row.values())

    metrics = json.loads((out / "metrics.json").read_text())
    assert {"params", "best_epoch", "val", "test"} <= set(metrics)
    assert metrics["params"] == 784 * 64 + 64 + 2 * (64 * 2 + 2) + 2 * 64 + 64 + 64 * 784 + 784
    assert metrics["best_epoch"] in (1, 2) and metrics["train_examples"] == 256
    epoch_times = [float(row["epoch_time_s"]) for row in history]
    assert metrics["first_epoch_time_s"] == pytest.approx(epoch_times[0])
    assert metrics["epoch_time_median_s"] == pytest.approx(sum(epoch_times) / 2)       # the median of two
    for split in ("val", "test"):
        assert set(metrics[split]) >= {"elbo", "recon", "kl", "elbo_per_pixel"}
        terms = metrics[split]
        assert terms["elbo"] == pytest.approx(terms["recon"] + terms["kl"])
        assert terms["elbo_per_pixel"] == pytest.approx(terms["elbo"] / 784)
    best_row = history[metrics["best_epoch"] - 1]
    assert float(best_row["val_elbo"]) == min(float(row["val_elbo"]) for row in history)

    best, last = load_checkpoint(out / "best.pt"), load_checkpoint(out / "last.pt")
    assert best["epoch"] == metrics["best_epoch"] and last["epoch"] == 2
    model, saved_config = load_model(out / "best.pt")
    assert saved_config.arch == "mlp" and saved_config.hidden == (64,)
    assert model(torch.rand(2, 1, 28, 28))[0].shape == (2, 1, 28, 28)
    assert "best epoch" in capsys.readouterr().out


def test_resuming_after_one_epoch_gives_exactly_the_metrics_of_two_straight_epochs(tmp_path, data_dir):
    straight = train(tiny_config(data_dir, epochs=2), tmp_path / "straight", log=lambda m: None,
                     progress=False)
    train(tiny_config(data_dir, epochs=1), tmp_path / "resumed", log=lambda m: None, progress=False)
    resumed = train(tiny_config(data_dir, epochs=2), tmp_path / "resumed", resume=True,
                    log=lambda m: None, progress=False)

    assert without_timings(resumed.metrics) == without_timings(straight.metrics)
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert {k: v for k, v in a.items() if k != "epoch_time_s"} == \
               {k: v for k, v in b.items() if k != "epoch_time_s"}
    for name in ("best.pt", "last.pt"):
        a = load_checkpoint(tmp_path / "straight" / name)["model"]
        b = load_checkpoint(tmp_path / "resumed" / name)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_runs_with_the_same_seed_are_identical_and_another_seed_differs(tmp_path, data_dir):
    a = train(tiny_config(data_dir, epochs=1), tmp_path / "a", log=lambda m: None, progress=False)
    b = train(tiny_config(data_dir, epochs=1), tmp_path / "b", log=lambda m: None, progress=False)
    c = train(tiny_config(data_dir, epochs=1, seed=7), tmp_path / "c", log=lambda m: None, progress=False)
    assert a.metrics["test"] == b.metrics["test"]
    assert a.metrics["test"] != c.metrics["test"]


def test_fashion_mnist_trains_on_its_own_files(tmp_path, data_dir):
    result = train(tiny_config(data_dir, dataset="fashion-mnist", epochs=1), tmp_path / "fashion",
                   log=lambda m: None, progress=False)
    assert result.splits.classes[0] == "T-shirt/top"
    assert math.isfinite(result.metrics["test"]["elbo"])
    mnist = train(tiny_config(data_dir, epochs=1), tmp_path / "mnist", log=lambda m: None, progress=False)
    assert not torch.equal(result.splits.test_x[:10], mnist.splits.test_x[:10])
    saved = json.loads((tmp_path / "fashion" / "config.json").read_text())
    assert saved["config"]["dataset"] == "fashion-mnist"


def test_binarize_trains_and_evaluates_on_zero_one_pixels(tmp_path, data_dir):
    result = train(tiny_config(data_dir, epochs=1, binarize=True), tmp_path / "bin",
                   log=lambda m: None, progress=False)
    for x in (result.splits.val_x, result.splits.test_x):
        assert set(torch.unique(x).tolist()) == {0.0, 1.0}
    assert math.isfinite(result.metrics["test"]["elbo"])
    assert json.loads((tmp_path / "bin" / "config.json").read_text())["config"]["binarize"] is True


def test_on_epoch_callback_sees_epoch_zero_and_every_trained_epoch(tmp_path, data_dir):
    seen = []
    train(tiny_config(data_dir, epochs=2), tmp_path / "cb", log=lambda m: None, progress=False,
          on_epoch=lambda epoch, model, splits: seen.append(epoch))
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("changes,hint", [({}, "--lr"), ({"beta": 500.0}, "--beta (it is 500)"),
                                          ({"weight_decay": 5.0}, "--weight-decay (it is 5)"),
                                          ({"beta": 4.0, "weight_decay": 0.01}, "--lr")])
def test_the_non_finite_loss_hint_names_an_extreme_beta_or_weight_decay_before_the_lr(changes, hint):
    from vae.training import _likely_cause

    assert _likely_cause(TrainConfig(**changes)) == f"a lower {hint}"


def test_preloaded_splits_train_exactly_like_splits_read_from_disk(tmp_path, data_dir, monkeypatch):
    config = tiny_config(data_dir, epochs=1)
    read = train(config, tmp_path / "read", log=lambda m: None, progress=False)
    splits = load_splits(config.dataset, data_dir, config.val_split, config.seed, config.train_limit)
    monkeypatch.setattr("vae.training.load_splits", lambda *args, **kwargs: pytest.fail("read the data again"))
    given = train(config, tmp_path / "given", log=lambda m: None, progress=False, splits=splits)
    assert without_timings(given.metrics) == without_timings(read.metrics)


def test_checkpoints_go_to_their_own_folder_and_measures_into_metrics_json(tmp_path, data_dir):
    seen = []

    def measure(result):
        seen.append(result.metrics["best_epoch"])
        return {"extra_measure": 3.5}

    result = train(tiny_config(data_dir, epochs=1), tmp_path / "run", log=lambda m: None, progress=False,
                   checkpoint_dir=tmp_path / "checkpoints", measure=measure)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "history.csv", "metrics.json"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert seen == [1] and written["extra_measure"] == 3.5 and written == json.loads(json.dumps(result.metrics))


# ---------------------------------------------------------------------------------------------
# The stopping rule

def _history(values):
    return [{"epoch": e + 1, "val_elbo": v} for e, v in enumerate(values)]


@pytest.mark.parametrize("values,window,min_gain,stops", [
    ([10, 9, 8, 7], 2, 0.3, False),             # still gaining 1 nat an epoch
    ([10, 9, 8.9, 8.85], 2, 0.3, True),         # 9 -> 8.85 over the last two epochs: less than 0.3
    ([10, 9, 9.5, 9.6], 2, 0.3, True),          # worse than the best before the window
    ([10, 9], 2, 0.3, False),                   # not yet a whole window after a first epoch
    ([10, 10, 10, 10], 0, 0.3, False),          # window 0: the rule is off
])
def test_the_stopping_rule_compares_the_best_before_and_within_the_window(values, window, min_gain, stops):
    config = TrainConfig(stop_window=window, stop_min_gain=min_gain)
    assert stopped(_history(values), config) is stops
    record = stop_record(_history(values), config)
    assert record["stopped_early"] is stops and record["hit_cap"] is (window > 0 and not stops)


def test_a_run_stops_at_the_rule_and_records_how_it_ended(tmp_path, data_dir):
    # A gain of 1e9 nats is never reached: the rule stops as soon as one whole window has passed.
    result = train(tiny_config(data_dir, epochs=5, stop_window=1, stop_min_gain=1e9), tmp_path / "stop",
                   log=lambda m: None, progress=False)
    assert len(result.history) == 2 and result.metrics["epochs_trained"] == 2
    assert result.metrics["stopped_early"] and not result.metrics["hit_cap"]
    capped = train(tiny_config(data_dir, epochs=2, stop_window=1, stop_min_gain=0.0), tmp_path / "cap",
                   log=lambda m: None, progress=False)
    assert capped.metrics["epochs_trained"] == 2                 # a gain is never below 0 nats: the cap ends it
    assert capped.metrics["hit_cap"] and not capped.metrics["stopped_early"]


@pytest.mark.parametrize("changes,field", [({"stop_window": -1}, "stop_window"),
                                           ({"stop_min_gain": -0.1}, "stop_min_gain"),
                                           ({"stop_min_gain": float("nan")}, "stop_min_gain")])
def test_the_stopping_rule_settings_are_validated(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**changes).validate()
    assert err.value.option == field
