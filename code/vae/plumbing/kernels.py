"""What the speed policy changes inside the model and the loss, from outside them, so that
`models.py` and `losses.py` keep the plain forms the Architecture and Training pages teach:

- `keep_in_fp32`: under bf16 autocast, the latent heads and the decoder's first and output
  layers still compute in fp32 (hooks on those layers; the weights and their state_dict names
  are untouched, and without autocast the hooks change nothing);
- `bernoulli_nll`: the reconstruction term's per-pixel loss as a hand-written kernel, in fp32.
"""

from __future__ import annotations

import torch
from torch import nn


# Under bf16 autocast (the speed policy's `bf16`) these layers carry few of the FLOPs but decide
# mu, logvar and the logits, which bf16 (8 bits of mantissa) rounds coarsely: device.py has the
# measurements (+0.40 nat of test -ELBO with every layer in bf16, +0.07 with these in fp32).
def fp32_layers(model: nn.Module) -> list[nn.Module]:
    """The latent heads and the decoder's first and last layers with weights, of a `models.VAE`."""
    weighted = [layer for layer in model.decoder if any(True for _ in layer.parameters())]
    return [model.fc_mu, model.fc_logvar, weighted[0], weighted[-1]]


def compute_in_fp32(layer: nn.Module) -> None:
    """Run `layer` with autocast off on fp32 input, whatever autocast its caller is under.

    Hooks rather than a wrapper module, so that the parameters keep their names (checkpoints,
    the explorer's weight export). The forward hook runs even when the forward raises, so the
    autocast state is always restored."""
    if getattr(layer, "computes_in_fp32", False):
        return
    blocks: list[torch.autocast] = []

    def enter(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        block = torch.autocast(args[0].device.type, enabled=False)
        block.__enter__()
        blocks.append(block)
        return tuple(a.float() for a in args)

    def leave(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        blocks.pop().__exit__(None, None, None)

    layer.register_forward_pre_hook(enter)
    layer.register_forward_hook(leave, always_call=True)
    layer.computes_in_fp32 = True


def keep_in_fp32(model: nn.Module) -> nn.Module:
    """The model with `fp32_layers` computing in fp32 under bf16 autocast (in place)."""
    # The encoder's features are cast to fp32 once, for both heads: were each head to cast its own
    # copy, backward would round the two heads' gradients to bf16 apart before adding them.
    if not getattr(model.encoder, "computes_in_fp32", False):
        model.encoder.register_forward_hook(lambda module, args, output: output.float())
        model.encoder.computes_in_fp32 = True
    for layer in fp32_layers(model):
        compute_in_fp32(layer)
    return model


class BernoulliNLL(torch.autograd.Function):
    """-log p(x|l) per pixel for Bernoulli logits l, in the overflow-free form
    max(l, 0) - x*l + log(1 + exp(-|l|)), with the gradient sigmoid(l) - x.

    The same loss as F.binary_cross_entropy_with_logits (within 2e-6 per pixel) and the same
    gradient formula, so training follows the same weights; written out because that function
    goes through log1p, which this CPU build of PyTorch does not vectorize: forward and backward
    together ran about 1.9x faster here (a few percent of an MLP step). The backward is written
    by hand: three element-wise kernels where autograd would differentiate each of the forward's."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        return logits.clamp(min=0) - x * logits + torch.log(1 + torch.exp(-logits.abs()))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        logits, x = ctx.saved_tensors
        grad_logits = (torch.sigmoid(logits) - x) * grad if ctx.needs_input_grad[0] else None
        grad_x = -logits * grad if ctx.needs_input_grad[1] else None
        return grad_logits, grad_x


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per pixel with `BernoulliNLL`, in fp32 even when the step runs in bf16
    autocast: bf16 logits would lose the loss's small differences."""
    return BernoulliNLL.apply(logits.float(), x.float())
