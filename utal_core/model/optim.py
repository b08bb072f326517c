"""AdamW for per-video refinement, without ``torch.optim``.

Building any ``torch.optim`` optimizer imports ``torch._dynamo`` (about 5 s of CPU on a small machine),
and every ``analyze`` refines the model for a few dozen steps. This is torch's single-tensor AdamW
update (the one it uses on the CPU), step for step.
"""

from __future__ import annotations

import math
from typing import Iterable, Protocol

import torch


class Optimizer(Protocol):
    """What a training step needs of an optimizer (``torch.optim`` ones and :class:`AdamW`)."""

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> object: ...


class AdamW:
    """AdamW with decoupled weight decay and bias correction, as ``torch.optim.AdamW`` (no amsgrad)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (to None, or to zeros)."""
        for param in self.params:
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1 - beta1 ** self.steps)
        correction2_sqrt = math.sqrt(1 - beta2 ** self.steps)
        for param, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if param.grad is None:
                continue
            grad = param.grad
            param.mul_(1 - self.lr * self.weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)
