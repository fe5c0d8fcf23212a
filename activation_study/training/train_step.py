"""One epoch of optimiser steps over the stacked models: eager, or replayed CUDA graphs.

Each seed's mini-batch order is drawn by the engine on its own CPU generator, once per
epoch, as an (S, n_train) index table; step ``i`` trains model ``k`` on columns
``i*B .. i*B+B-1`` of row ``k``, and the last, smaller batch holds the remainder.

``EagerEpoch`` slices that table on the host, step by step. ``CounterEpoch`` copies it to a
static device buffer once per epoch, and a device counter advances the batch position;
``GraphedEpoch`` captures that step as two CUDA graphs (one for the full batches, one for
the last batch when the batch size does not divide the training set), so a step is one
``graph.replay()`` and no other host work. The optimiser must keep its state on the device
and read nothing from the host in ``step`` (``stacked_adam.StackedAdam``).
"""

from __future__ import annotations

import torch

from activation_study.network.model import BatchedMLP, per_sample_loss

WARMUP_STEPS = 3  # eager steps on a side stream before capture (cuBLAS and allocator set-up)


def train_on(model: BatchedMLP, optimiser: torch.optim.Optimizer, x: torch.Tensor,
             y: torch.Tensor, idx: torch.Tensor) -> None:
    """One optimiser step: model ``k`` on samples ``idx[k]`` (its own mini-batch); the summed
    loss gives every model exactly the gradient of its own mean loss."""
    loss = per_sample_loss(model(x[idx]), y[idx])
    optimiser.zero_grad(set_to_none=True)
    loss.mean(dim=1).sum().backward()
    optimiser.step()


class EagerEpoch:
    def __init__(self, model: BatchedMLP, optimiser: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, batch_size: int) -> None:
        self.model, self.optimiser, self.x, self.y = model, optimiser, x, y
        self.batch_size = batch_size

    def run(self, perms: torch.Tensor) -> None:
        """Train one epoch on the (S, n_train) batch order ``perms`` (a CPU table)."""
        perms = perms.to(self.x.device)
        for lo in range(0, perms.shape[1], self.batch_size):
            train_on(self.model, self.optimiser, self.x, self.y,
                     perms[:, lo:lo + self.batch_size])


class CounterEpoch:
    """The steps of an epoch with no host work of their own: the batch order sits in a static
    device buffer and a device counter advances the batch position. Run eagerly here (the
    same arithmetic as ``EagerEpoch``); ``GraphedEpoch`` captures and replays it."""

    def __init__(self, model: BatchedMLP, optimiser: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, batch_size: int) -> None:
        self.model, self.optimiser, self.x, self.y = model, optimiser, x, y
        n_train = len(x)
        self.perms = torch.zeros(model.num_models, n_train, dtype=torch.long, device=x.device)
        self.position = torch.zeros((), dtype=torch.long, device=x.device)
        self.offsets = torch.arange(batch_size, device=x.device)
        full, last = divmod(n_train, batch_size)
        # (batch size, steps): the full batches, then the last, smaller one
        self.batches = [(size, count) for size, count in ((batch_size, full), (last, 1))
                        if size and count]

    def _step(self, size: int) -> None:
        idx = self.perms.index_select(1, self.position + self.offsets[:size])
        train_on(self.model, self.optimiser, self.x, self.y, idx)
        self.position.add_(size)

    def run(self, perms: torch.Tensor) -> None:
        """Train one epoch on the (S, n_train) batch order ``perms`` (a CPU table)."""
        self.perms.copy_(perms)
        self.position.zero_()
        for size, count in self.batches:
            for _ in range(count):
                self._step(size)


class GraphedEpoch(CounterEpoch):
    """``CounterEpoch``'s steps as CUDA graphs, captured at construction: the model and
    optimiser must already hold the state training goes on from (a resumed checkpoint
    loaded), and the optimiser must keep its state and rate on the device."""

    def __init__(self, model: BatchedMLP, optimiser: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, batch_size: int) -> None:
        if x.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {x.device}")
        super().__init__(model, optimiser, x, y, batch_size)
        self.graphs = [(self._capture(size), count) for size, count in self.batches]

    def _state(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers(),
                *self.optimiser.state_tensors(), self.position]

    def _capture(self, size: int) -> torch.cuda.CUDAGraph:
        """Warm up on a side stream (torch's recipe), put every state tensor back as it was,
        and capture one step of batch ``size``."""
        device = self.x.device
        saved = [t.clone() for t in self._state()]
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_STEPS):
                self.position.zero_()
                self._step(size)
        torch.cuda.current_stream(device).wait_stream(stream)
        with torch.no_grad():
            for tensor, value in zip(self._state(), saved, strict=True):
                tensor.copy_(value)
        self.optimiser.zero_grad(set_to_none=True)  # the graph's backward allocates its own
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step(size)
        self.optimiser.zero_grad(set_to_none=True)
        return graph

    def run(self, perms: torch.Tensor) -> None:
        """Train one epoch on the (S, n_train) batch order ``perms`` (a CPU table)."""
        self.perms.copy_(perms)
        self.position.zero_()
        for graph, count in self.graphs:
            for _ in range(count):
                graph.replay()
