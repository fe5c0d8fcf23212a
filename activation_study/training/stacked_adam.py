"""Adam over stacked models, with a learning rate per model inside the update.

Every parameter has the model axis first (``model.BatchedMLP``). Model ``k`` is updated with
``lr * lr_scale[k]``, so the candidates of a learning-rate search train side by side in one
step; Adam's update is the learning rate times a quantity that does not depend on it, so
this is each model trained alone at its own rate. The arithmetic is torch's Adam
(``torch.optim.Adam``, no weight decay, no amsgrad):

    m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
    p -= lr_k / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

All state lives on the parameters' device, the step counts and the learning rate included,
and ``step`` reads nothing from the host: the step can be captured in a CUDA graph and
replayed (``train_step.GraphedEpoch``). The learning rate of the param group is a float
(``ExponentialLR`` changes it as for any optimiser); ``sync_lr`` copies it to the device,
once per epoch, outside any graph.

Why not torch's Adam: its learning rate is one number per param group, and the stacked
models of a search share their parameter tensors. With every scale 1, the engine's eager
path keeps torch's fused Adam, whose CPU results the committed study was made with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


class StackedAdam(torch.optim.Optimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float, lr_scale: Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        params = list(params)
        if not params:
            raise ValueError("StackedAdam needs parameters")
        # capturable: Optimizer.load_state_dict then keeps the step counts on the device
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "capturable": True})
        device = params[0].device
        self.lr_scale = torch.tensor(list(lr_scale), dtype=torch.float32, device=device)
        self.lr_tensor = torch.zeros((), dtype=torch.float32, device=device)
        for p in params:
            if p.shape[0] != len(self.lr_scale):
                raise ValueError(f"a parameter of shape {tuple(p.shape)} has no model axis of "
                                 f"{len(self.lr_scale)} models first")
            self.state[p] = {"step": torch.zeros((), dtype=torch.float32, device=device),
                             "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                             "exp_avg_sq": torch.zeros_like(p,
                                                            memory_format=torch.preserve_format)}
        self.sync_lr()

    def sync_lr(self) -> None:
        """The param group's learning rate (a float the scheduler sets) onto the device."""
        self.lr_tensor.fill_(self.param_groups[0]["lr"])

    def load_state_dict(self, state_dict: dict) -> None:
        """Load in place: a captured graph holds the addresses of the state tensors."""
        current = [(p, dict(self.state[p])) for group in self.param_groups
                   for p in group["params"]]
        super().load_state_dict(state_dict)
        for p, tensors in current:
            for name, tensor in tensors.items():
                tensor.copy_(self.state[p][name])
            self.state[p] = tensors
        self.sync_lr()

    def state_tensors(self) -> list[torch.Tensor]:
        """Every tensor of the optimiser's state (saved and restored around a graph's warm-up)."""
        return [tensor for group in self.param_groups for p in group["params"]
                for tensor in self.state[p].values()] + [self.lr_tensor]

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # noqa: D102 - see the module docstring
        if closure is not None:
            raise ValueError("StackedAdam takes no closure")
        per_model = self.lr_tensor * self.lr_scale
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                step.add_(1)
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                bias1 = 1 - torch.pow(beta1, step)
                bias2_sqrt = (1 - torch.pow(beta2, step)).sqrt()
                denom = (v.sqrt() / bias2_sqrt).add_(group["eps"])
                size = (per_model / bias1).view(-1, *[1] * (p.dim() - 1))
                p.addcdiv_(m * size, denom, value=-1.0)
