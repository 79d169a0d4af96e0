"""The one training loop: model-agnostic, reporting through a progress callback."""

from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch


@dataclass
class Progress:
    """One report from a running loop: which stage, how far, the latest losses."""

    stage: str  # e.g. "select/head", "final/classifier"
    step: int
    total: int
    losses: dict[str, float] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], None]
INIT_BATCH = 1024  # examples seen by data-dependent initialisation (ActNorm)


class Cancelled(Exception):
    """Raised inside a loop when its callback asks to stop (the UI's cancel button)."""


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index batches over n examples, reshuffled every epoch, forever (last partial batch dropped
    unless the data is smaller than one batch)."""
    size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - size + 1, size):
            yield order[start:start + size]


def train_loop(step_fn: Callable[[torch.Tensor, int], dict], optimizer: torch.optim.Optimizer,
               batches: Iterator[torch.Tensor], total: int, *, stage: str,
               callback: ProgressCallback | None = None, report_every: int = 10,
               on_step: Callable[[int], None] | None = None) -> dict[str, float]:
    """Run `total` optimisation steps of `step_fn(batch_indices, step) -> {"loss": ...}`.

    Reports averaged losses to `callback` every `report_every` steps; calls `on_step(step)` after
    each step (used to snapshot or evaluate). Returns the last averaged losses."""
    running: dict[str, float] = {}
    last: dict[str, float] = {}
    for step in range(total):
        losses = step_fn(next(batches), step)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        for key, value in losses.items():
            running[key] = running.get(key, 0.0) + float(value.detach())
        if (step + 1) % report_every == 0 or step + 1 == total:
            count = (step % report_every) + 1
            last = {k: v / count for k, v in running.items()}
            running = {}
            if callback is not None:
                callback(Progress(stage, step + 1, total, last))
        if on_step is not None:
            on_step(step + 1)
    return last


def fit_head(head, x: torch.Tensor, y: torch.Tensor, class_att: torch.Tensor, *, generator: torch.Generator,
             stage: str = "head", callback: ProgressCallback | None = None,
             on_step: Callable[[int], None] | None = None) -> dict[str, float]:
    """Fit a generative head on features x (N, D) of training classes y (N,) with attributes class_att."""
    total = head.num_steps(len(x))
    batches = epoch_batches(len(x), head.config.batch_size, generator)
    head.train()
    # A larger first batch for data-dependent init: sparse features leave 64-row batches degenerate.
    first = next(epoch_batches(len(x), INIT_BATCH, torch.Generator().manual_seed(0)))
    head.prepare(x[first], y[first], class_att)

    def step_fn(idx, step):
        return head.training_step(x[idx], y[idx], class_att, step, total)

    losses = train_loop(step_fn, head.make_optimizer(), batches, total, stage=stage,
                        callback=callback, on_step=on_step)
    head.eval()
    return losses
