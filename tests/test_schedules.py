"""KL warm-up and learning-rate schedules: values at their boundaries, and a resumed run that continues them."""

import math

import pytest
import torch

from support.configs import tiny_config
from vae.checkpoints import load_checkpoint
from vae.schedules import burda_stage, kl_weight, learning_rate
from vae.training import TrainConfig, train

pytestmark = pytest.mark.usefixtures("single_thread")

STEPS = 10      # steps per epoch in the unit tests below


# ---- KL warm-up -------------------------------------------------------------------------------

def test_warm_up_starts_at_zero_rises_linearly_and_reaches_beta_after_its_epochs():
    config = TrainConfig(beta=2.0, kl_warmup_epochs=3)
    assert kl_weight(config, 0, STEPS) == 0.0
    assert kl_weight(config, 15, STEPS) == pytest.approx(1.0)          # half of 30 warm-up steps
    assert kl_weight(config, 29, STEPS) == pytest.approx(2.0 * 29 / 30)
    assert kl_weight(config, 30, STEPS) == 2.0
    assert kl_weight(config, 10_000, STEPS) == 2.0


def test_no_warm_up_is_beta_from_the_first_step():
    assert kl_weight(TrainConfig(beta=0.5), 0, STEPS) == 0.5


# ---- learning-rate schedules ------------------------------------------------------------------

def test_constant_schedule_is_lr_everywhere():
    config = TrainConfig(lr=3e-4)
    assert {learning_rate(config, s, STEPS) for s in (0, 5, 99, 10_000)} == {3e-4}


def test_cosine_goes_from_lr_at_the_first_step_to_min_lr_at_the_last():
    config = TrainConfig(lr=1e-3, min_lr=1e-5, lr_schedule="cosine", epochs=4)
    last = 4 * STEPS - 1
    assert learning_rate(config, 0, STEPS) == pytest.approx(1e-3)
    assert learning_rate(config, last, STEPS) == pytest.approx(1e-5)
    assert learning_rate(config, last / 2, STEPS) == pytest.approx((1e-3 + 1e-5) / 2)
    values = [learning_rate(config, s, STEPS) for s in range(last + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("epoch,stage", [(0, 0), (1, 1), (3, 1), (4, 2), (12, 2), (13, 3), (39, 3), (40, 4),
                                         (120, 4), (121, 5), (363, 5), (364, 6), (1092, 6), (1093, 7),
                                         (3279, 7), (5000, 7)])
def test_burda_stages_last_3_to_the_i_epochs(epoch, stage):
    assert burda_stage(epoch) == stage


def test_burda_learning_rate_is_lr_times_10_to_minus_i_over_7_per_stage():
    config = TrainConfig(lr=2e-3, lr_schedule="burda")
    assert learning_rate(config, 0, STEPS) == 2e-3
    assert learning_rate(config, STEPS - 1, STEPS) == 2e-3              # the last step of epoch 0
    assert learning_rate(config, STEPS, STEPS) == pytest.approx(2e-3 * 10 ** (-1 / 7))
    assert learning_rate(config, 3279 * STEPS, STEPS) == pytest.approx(2e-3 * 10 ** (-1))
    assert sum(3 ** i for i in range(8)) == 3280


# ---- runs -------------------------------------------------------------------------------------

def tiny(data_dir, **changes) -> TrainConfig:
    return tiny_config(data_dir, **{**dict(epochs=3, lr_schedule="cosine", kl_warmup_epochs=2, min_lr=1e-4),
                                    **changes})


class Interrupted(Exception):
    pass


def test_an_interrupted_run_with_schedules_resumes_to_exactly_the_uninterrupted_result(tmp_path, data_dir):
    straight = train(tiny(data_dir), tmp_path / "straight", log=lambda m: None, progress=False)

    def stop_after_first_epoch(epoch, model, splits):
        if epoch == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(tiny(data_dir), tmp_path / "resumed", log=lambda m: None, progress=False,
              on_epoch=stop_after_first_epoch)
    resumed = train(tiny(data_dir), tmp_path / "resumed", resume=True, log=lambda m: None, progress=False)

    drop = lambda row: {k: v for k, v in row.items() if k != "epoch_time_s"}  # noqa: E731
    assert [drop(r) for r in resumed.history] == [drop(r) for r in straight.history]
    assert resumed.metrics["test"] == straight.metrics["test"]
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_warm_up_changes_training_but_the_reported_elbo_is_still_recon_plus_kl(tmp_path, data_dir):
    plain = train(tiny(data_dir, epochs=1, lr_schedule="constant", kl_warmup_epochs=0), tmp_path / "a",
                  log=lambda m: None, progress=False)
    warm = train(tiny(data_dir, epochs=1, lr_schedule="constant", kl_warmup_epochs=1), tmp_path / "b",
                 log=lambda m: None, progress=False)
    assert warm.history[0]["train_loss"] < warm.history[0]["train_elbo"]    # β < 1 during the epoch
    assert plain.history[0]["train_loss"] == plain.history[0]["train_elbo"]
    for result in (plain, warm):
        test = result.metrics["test"]
        assert test["elbo"] == pytest.approx(test["recon"] + test["kl"])


def test_iwae_objective_trains_burdas_tanh_model_and_reports_the_elbo(tmp_path, data_dir):
    config = tiny(data_dir, epochs=1, hidden=(32, 32), activation="tanh", latent_dim=5, objective="iwae", k=5,
                  binarize=True, init_output_bias=True, lr_schedule="burda", kl_warmup_epochs=0)
    result = train(config, tmp_path / "iwae", log=lambda m: None, progress=False)
    row = result.history[0]
    assert row["train_loss"] <= row["train_elbo"]          # -L_5 is below the -ELBO (up to sampling noise)
    assert math.isfinite(result.metrics["test"]["elbo"])
    assert sum(isinstance(m, torch.nn.Tanh) for m in result.model.modules()) == 4
