"""Glow-style flow on feature vectors: ActNorm -> fixed shuffle -> additive coupling, K steps.

Built from Linear layers on (B, D) vectors: the reference code's 1x1 Conv2d layers compute the
same maps but their backward pass is several times slower on a CPU."""

import torch
from torch import nn


MIN_STD = 1e-3  # ActNorm leaves channels below this std in its first batch unscaled


class ActNorm(nn.Module):
    """Per-channel affine y = s * (x + b), initialised from the first batch to zero mean, unit variance.

    A channel (nearly) constant in that batch is only centred: sparse or near-duplicate features leave
    such channels, and scaling them by 1 / std, even floored at 1e-3, compounds over the flow's steps
    (1000^K) until z overflows."""

    def __init__(self, dim: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def initialise(self, x: torch.Tensor) -> None:
        self.bias.copy_(-x.mean(0))
        std = x.std(0)
        self.log_scale.copy_(torch.where(std > MIN_STD, -torch.log(std), torch.zeros_like(std)))
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.initialised:
            self.initialise(x)
        return (x + self.bias) * self.log_scale.exp()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias

    def log_det(self) -> torch.Tensor:
        """log|det J| of one example: sum(log|s|)."""
        return self.log_scale.sum()


class Shuffle(nn.Module):
    """A fixed random channel permutation (saved with the model)."""

    def __init__(self, dim: int, generator: torch.Generator):
        super().__init__()
        perm = torch.randperm(dim, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.perm]

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, self.inv_perm]


class AdditiveCoupling(nn.Module):
    """(xa, xb) -> (xa + t(xb), xb); t starts at zero so the flow starts as the identity."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.half = dim // 2
        out = nn.Linear(hidden, dim - self.half)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.t = nn.Sequential(
            nn.Linear(dim - self.half, hidden), ActNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), ActNorm(hidden), nn.ReLU(), out,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xa, xb = x[:, :self.half], x[:, self.half:]
        return torch.cat([xa + self.t(xb), xb], dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        ya, yb = y[:, :self.half], y[:, self.half:]
        return torch.cat([ya - self.t(yb), yb], dim=1)


class FlowStep(nn.Module):
    """One step of the flow: ActNorm -> Shuffle -> AdditiveCoupling."""

    def __init__(self, dim: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.norm = ActNorm(dim)
        self.shuffle = Shuffle(dim, generator)
        self.coupling = AdditiveCoupling(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coupling(self.shuffle(self.norm(x)))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self.norm.inverse(self.shuffle.inverse(self.coupling.inverse(z)))


class Flow(nn.Module):
    """f: x -> z, invertible, with log|det df/dx| from the ActNorm scales alone."""

    def __init__(self, dim: int, *, steps: int = 4, hidden: int = 512, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.steps = nn.ModuleList(FlowStep(dim, hidden, generator) for _ in range(steps))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns z (B, D) and log|det J| (a scalar, the same for every example)."""
        for step in self.steps:
            x = step(x)
        return x, sum(step.norm.log_det() for step in self.steps)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for step in reversed(self.steps):
            z = step.inverse(z)
        return z
