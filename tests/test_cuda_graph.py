"""The captured training step: its bookkeeping on the CPU, and on CUDA the same loss as the eager step."""

import pytest
import torch

from vae.plumbing.cuda_graph import Accumulator, GraphedSteps, _restore, _snapshot, epoch_plan
from vae.plumbing.device import SpeedPolicy
from vae.losses import ELBOTerms
from vae.models import build_model
from support.configs import tiny_config
from vae.training import TrainConfig, build_optimizer, train_step

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")


@pytest.mark.parametrize("n_train,batch,per_replay,plan", [
    (1024, 128, 8, [(8, 128)]),
    (1000, 100, 4, [(4, 100), (4, 100), (2, 100)]),
    (54_000, 128, 8, [(8, 128)] * 52 + [(5, 128), (1, 112)]),
    (100, 128, 8, [(1, 100)]),
])
def test_an_epoch_plan_covers_every_example_once_in_whole_batches_then_the_remainder(n_train, batch, per_replay, plan):
    steps = -(-n_train // batch)
    assert epoch_plan(steps, n_train, batch, per_replay) == plan
    assert sum(n * b for n, b in plan) == n_train


def test_the_accumulator_sums_weighted_terms_and_keeps_the_first_bad_step():
    acc = Accumulator(torch.device("cpu"))
    good = ELBOTerms(*(torch.tensor(v) for v in (1.0, 2.0, 1.5, 0.5)))
    bad = good._replace(loss=torch.tensor(float("nan")))
    acc.add(good, 10, 1)
    acc.add(bad, 10, 2)
    acc.add(bad, 10, 3)
    assert acc.sums[1:].tolist() == [60.0, 45.0, 15.0] and acc.first_bad_step.item() == 2
    acc.reset()
    assert acc.sums.tolist() == [0.0] * 4 and acc.first_bad_step.item() == -1


def test_undoing_warm_up_steps_restores_weights_and_a_fresh_optimizers_state_in_place():
    torch.manual_seed(0)
    model = build_model("mlp", 2, (16,))
    optimizer = build_optimizer(model, TrainConfig(arch="mlp"), SpeedPolicy.for_model("mlp", "cpu"),
                                torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    weight = model.fc_mu.weight
    saved = _snapshot(model, optimizer)
    for _ in range(2):
        train_step(model, optimizer, torch.rand(8, 1, 28, 28), 1.0)
    assert not torch.equal(model.fc_mu.weight, before["fc_mu.weight"])
    _restore(saved, model, optimizer)
    assert model.fc_mu.weight is weight
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    state = optimizer.state[weight]
    assert float(state["step"]) == 0 and not state["exp_avg"].any() and not state["exp_avg_sq"].any()


def test_a_graphed_step_refuses_an_optimizer_without_a_tensor_learning_rate():
    model = build_model("mlp", 2, (16,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="tensor lr"):
        GraphedSteps(lambda x, beta: None, model, optimizer, torch.rand(8, 1, 28, 28), 4, 1,
                     Accumulator(torch.device("cpu")))


@needs_cuda
@pytest.mark.parametrize("arch,binarize", [("mlp", False), ("conv", True)])
def test_the_captured_step_gives_the_same_loss_and_weights_as_the_eager_step(arch, binarize):
    device = torch.device("cuda")
    train_x = torch.rand(512, 1, 28, 28, device=device)
    order = torch.randperm(512, device=device)[:2 * 64].view(2, 64)

    def setup(cuda_graph: bool):
        torch.manual_seed(0)
        policy = SpeedPolicy.for_model(arch, device, cuda_graph=cuda_graph)
        model = build_model(arch, 2).to(device).train()
        return model, build_optimizer(model, TrainConfig(arch=arch), policy, device)

    model, optimizer = setup(cuda_graph=False)
    torch.cuda.manual_seed(1)
    eager = [train_step(model, optimizer, train_x[order[j]], 1.0, binarize=binarize).loss.item() for j in range(2)]

    captured_model, captured_opt = setup(cuda_graph=True)
    acc = Accumulator(device)
    graph = GraphedSteps(lambda x, beta: train_step(captured_model, captured_opt, x, beta, binarize=binarize),
                         captured_model, captured_opt, train_x, 64, 2, acc)
    acc.reset()
    torch.cuda.manual_seed(1)
    graph.replay(order, torch.ones(2, device=device), torch.full((2,), 1e-3, device=device),
                 torch.arange(1, 3, device=device))
    captured_sum = acc.sums[0].item() / 64
    assert captured_sum == pytest.approx(sum(eager), rel=1e-4)
    for a, b in zip(model.parameters(), captured_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_an_epoch_of_replays_trains_like_the_eager_epoch_on_the_same_batches_and_schedules(tmp_path, data_dir):
    """On the CPU a replay runs its steps eagerly: this checks the replay plan, the batch indices,
    the per-step KL weight and learning rate and the sums against the eager loop (train_limit 300,
    batch 64: replays of 2 steps, then 2 more full batches and a remainder of 44)."""
    from vae.training import start_run, train_epoch

    config = tiny_config(data_dir, hidden=(32,), latent_dim=4, train_limit=300, kl_warmup_epochs=1,
                         lr_schedule="cosine", binarize=True)
    results = []
    for replayed in (False, True):
        run = start_run(config, tmp_path / str(replayed), resume=False, log=lambda m: None, progress=False)
        if replayed:
            run.policy = run.policy.replace(cuda_graph=True, steps_per_replay=2)
            run.optimizer = build_optimizer(run.model, config, run.policy, run.device)
        acc = Accumulator(run.device)
        terms = [train_epoch(run, epoch, acc) for epoch in (1, 2)]
        results.append((terms, [p.detach().clone() for p in run.model.parameters()], run))
    (eager_terms, eager_weights, eager_run), (replay_terms, replay_weights, replay_run) = results
    assert replay_run.graphs and all(g.graph is None for g in replay_run.graphs.values())
    assert sorted(replay_run.graphs) == [(1, 44), (2, 64)]
    for a, b in zip(eager_terms, replay_terms):
        assert a == pytest.approx(b, rel=1e-5)
    for a, b in zip(eager_weights, replay_weights):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
