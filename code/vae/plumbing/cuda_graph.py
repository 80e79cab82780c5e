"""The training step captured in CUDA graphs: one replay runs several steps with no host sync.

On a GPU the eager step is launch-bound (issue 11: about 3.4 ms per step for a model that
needs a fraction of that). A graph records every kernel of `steps` consecutive training steps
once and replays them with one launch. What changes from one replay to the next lives in
static device buffers filled before each replay: the batch indices, the KL weight and the
learning rate of each step, and the step numbers used to name a non-finite loss. The random
draws (reparameterisation noise, dynamic binarisation) come from the CUDA generator, which
PyTorch advances per replay, so every replay draws fresh noise.

The step function is passed in (`training.train_step`), so the graph runs the same step as
the eager loop and the benchmark.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch


class StepTerms(Protocol):
    """What a step returns (`losses.ELBOTerms`): the loss it minimised and all its terms stacked."""
    loss: torch.Tensor

    def stacked(self) -> torch.Tensor: ...


# step(x, beta) -> terms: one optimizer step on the batch x with KL weight beta.
Step = Callable[[torch.Tensor, torch.Tensor], StepTerms]
WARMUP_STEPS = 3        # eager steps on a side stream before capture (allocator, cuDNN/cuBLAS plans)


class Accumulator:
    """Device-side sums of the step terms and the first step whose loss was not finite."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(4, device=device)            # loss, elbo, recon, kl, summed over examples
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def reset(self) -> None:
        self.sums.zero_()
        self.first_bad_step.fill_(-1)

    def add(self, terms: StepTerms, examples: int, step: torch.Tensor | int) -> None:
        self.sums.add_(terms.stacked() * examples)
        self.first_bad_step.copy_(torch.where((self.first_bad_step < 0) & ~torch.isfinite(terms.loss.detach()),
                                              step, self.first_bad_step))


def _snapshot(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(tensor, copy of its value) for every weight, buffer and optimizer state tensor; None: no state yet."""
    pairs: list[tuple[torch.Tensor, torch.Tensor | None]] = [
        (t, t.detach().clone()) for t in [*model.parameters(), *model.buffers()]]
    for p in model.parameters():
        state = optimizer.state.get(p, {})
        pairs += [(v, v.detach().clone()) for v in state.values() if torch.is_tensor(v)]
    return pairs


def _restore(pairs: list[tuple[torch.Tensor, torch.Tensor | None]], model: torch.nn.Module,
             optimizer: torch.optim.Optimizer) -> None:
    """Undo the warm-up steps in place (the graph keeps the same addresses): weights and Adam
    moments as they were; state the warm-up created (a fresh optimizer) goes back to zero."""
    known = {id(t) for t, _ in pairs}
    with torch.no_grad():
        for tensor, value in pairs:
            tensor.copy_(value)
        for p in model.parameters():
            for v in optimizer.state.get(p, {}).values():
                if torch.is_tensor(v) and id(v) not in known:
                    v.zero_()


class GraphedSteps:
    """`steps` training steps of `batch_size` examples each, captured in one CUDA graph.

    Off CUDA nothing is captured and a replay runs the same steps eagerly, so the replay
    bookkeeping (indices, schedules, sums) is tested on the CPU against the eager loop.
    """

    def __init__(self, step: Step, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 train_x: torch.Tensor, batch_size: int, steps: int, accumulator: Accumulator):
        device = train_x.device
        self.steps, self.batch_size = steps, batch_size
        self.indices = torch.zeros(steps, batch_size, dtype=torch.long, device=device)
        self.betas = torch.zeros(steps, device=device)
        self.lrs = torch.zeros(steps, device=device)
        self.step_numbers = torch.zeros(steps, dtype=torch.long, device=device)
        lr_tensors = [group["lr"] for group in optimizer.param_groups]
        if not all(torch.is_tensor(lr) for lr in lr_tensors):
            raise ValueError("a captured step needs an optimizer with a tensor lr and capturable=True")

        def body() -> None:
            for j in range(steps):
                for lr in lr_tensors:
                    lr.copy_(self.lrs[j])
                terms = step(train_x[self.indices[j]], self.betas[j])
                accumulator.add(terms, batch_size, self.step_numbers[j])

        self.body, self.graph = body, None
        if device.type != "cuda":   # nothing to capture: replays run the same steps eagerly (tests)
            return
        self.indices.copy_(torch.arange(batch_size, device=device).expand(steps, -1) % len(train_x))
        self.lrs.fill_(0.0)
        saved = _snapshot(model, optimizer)
        self.graph = capture(body, device, lambda: (_restore(saved, model, optimizer),
                                                    optimizer.zero_grad(set_to_none=True)))

    def replay(self, indices: torch.Tensor, betas: torch.Tensor, lrs: torch.Tensor,
               step_numbers: torch.Tensor) -> None:
        """Run the captured steps on these batch indices (steps x batch_size), all on the device."""
        self.indices.copy_(indices)
        self.betas.copy_(betas)
        self.lrs.copy_(lrs)
        self.step_numbers.copy_(step_numbers)
        if self.graph is None:
            self.body()
        else:
            self.graph.replay()


def capture(body: Callable[[], None], device: torch.device, after_warmup: Callable[[], Any]) -> "torch.cuda.CUDAGraph":
    """`body` captured in a CUDA graph on `device`, after WARMUP_STEPS eager runs on a side stream.

    The device is made current first (`cuda:1` would otherwise capture on a stream of `cuda:0`, and
    the graph would be empty or the capture fail), and the graph is captured on the same side stream
    the warm-up ran on, never on the legacy default stream, as torch.cuda.graphs asks.
    `after_warmup` undoes the warm-up's updates, so that capturing does not train the model.
    """
    torch.cuda.set_device(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(WARMUP_STEPS):
            body()
    side.synchronize()
    after_warmup()
    side.wait_stream(torch.cuda.current_stream(device))     # the undo, on the current stream, comes first
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):
        body()
    torch.cuda.current_stream(device).wait_stream(side)
    return graph


def epoch_plan(steps_per_epoch: int, n_train: int, batch_size: int, steps_per_replay: int) -> list[tuple[int, int]]:
    """(steps, batch size) of each replay in an epoch: whole chunks, the rest of the full
    batches, then the last, smaller batch if the training split does not divide evenly."""
    full_steps, remainder = divmod(n_train, batch_size)
    plan = [(steps_per_replay, batch_size)] * (full_steps // steps_per_replay)
    if full_steps % steps_per_replay:
        plan.append((full_steps % steps_per_replay, batch_size))
    if remainder:
        plan.append((1, remainder))
    assert sum(steps for steps, _ in plan) == steps_per_epoch
    return plan
