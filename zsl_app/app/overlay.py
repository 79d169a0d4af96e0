"""Classes beside a frozen model: their classifier rows, and the fit of a new row against every existing one."""

import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zsl_app.core.model import ZSLModel

from .classes import ClassError, UserClass

SEED = 0  # of every synthetic set drawn for a fit: the same classes always give the same rows
NEGATIVE_SAMPLES = 100  # synthetic examples per other unseen/user class in a fit, weighted up
REFIT_STEPS = 60  # most L-BFGS iterations for a new class row (the fit is convex)
# Ridge on the new row. Unregularised, the row grows ~50x the trained rows' norm and its class is
# over-predicted; on CUB, 1e-4 gives a re-added unseen class about its trained row's recall (0.64 vs
# 0.55 on 8 classes) at ~1.4% false positives among other unseen photos (trained row: 0.5%).
REFIT_L2 = 1e-4
# Share of a photo-added class's example mass its photos carry (the rest: the synthetic set of the attributes read
# in them). On CUB validation fold 1, 50 validation classes re-added from 1, 3, 5 photos (research/photo-classes.md),
# 0.75 had the best mean H for both heads (VAE-cFlow 60.2, fine-tuned Disentangled-VAE 64.9; 0.5: 57.0 / 64.6,
# 1.0: 53.4 / 63.9, the attributes read alone: 51.4 / 61.2).
EXAMPLE_SHARE = 0.75


@dataclass(frozen=True)
class ClassOverlay:
    """Classes added beside a model: one classifier row each, scored after the model's own classes."""

    names: tuple[str, ...]  # (K,)
    attributes: np.ndarray  # (K, A) L2-normalised
    weight: torch.Tensor  # (K, E)
    bias: torch.Tensor  # (K,)
    examples: tuple[list, ...] = ()  # (K,) each class's photo features (k, D), [] when it has none

    @classmethod
    def empty(cls, model: ZSLModel) -> "ClassOverlay":
        linear = model.classifier.linear
        return cls((), np.zeros((0, model.attributes.shape[1]), np.float32),
                   linear.weight.new_zeros((0, linear.in_features)), linear.bias.new_zeros(0))

    def __len__(self) -> int:
        return len(self.names)

    @torch.no_grad()
    def logits(self, embedded: torch.Tensor) -> torch.Tensor:
        """Logits (N, K) of classifier-space examples (N, E)."""
        return F.linear(embedded, self.weight, self.bias)

    def plus(self, user_class: UserClass, weight: torch.Tensor, bias: torch.Tensor) -> "ClassOverlay":
        """This overlay with one more class after the others."""
        attributes = np.asarray(user_class.attributes, dtype=np.float32)[None]
        return ClassOverlay(self.names + (user_class.name,), np.vstack([self.attributes, attributes]),
                            torch.cat([self.weight, weight.view(1, -1)]), torch.cat([self.bias, bias.view(1)]),
                            self.examples + (user_class.examples,))

    def first(self, k: int) -> "ClassOverlay":
        """The overlay of the first k classes only."""
        return ClassOverlay(self.names[:k], self.attributes[:k], self.weight[:k], self.bias[:k], self.examples[:k])


class RowFitter:
    """Fits a new class's classifier row against a model and an overlay, every existing row fixed."""

    def __init__(self, model: ZSLModel, example_share: float = EXAMPLE_SHARE):
        self.model, self.example_share = model, example_share
        self._synthetic: dict[tuple[str, bytes], torch.Tensor] = {}  # NEGATIVE_SAMPLES per (name, attributes)

    def fit(self, overlay: ClassOverlay, user_class: UserClass) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (E,), bias ()): softmax cross-entropy over the real seen replay and the examples of every
        unseen and overlay class (synthetic, and a user class's photos), with every existing row fixed
        (convex; L-BFGS)."""
        m, device = self.model, self.model.head.device
        n_syn = m.head.config.unseen_samples
        xs, ys, ws = [], [], []
        if m.replay_x is not None:
            xs.append(torch.as_tensor(m.replay_x, device=device))
            ys.append(torch.as_tensor(m.replay_y, device=device))
            ws.append(torch.ones(len(m.replay_x), device=device))
        c = len(m.class_names)
        others = [(i, n, a, []) for i, (n, k, a) in enumerate(zip(m.class_names, m.class_kinds, m.attributes))
                  if k != "seen"]
        others += [(c + j, *entry) for j, entry in enumerate(zip(overlay.names, overlay.attributes, overlay.examples))]
        for i, name, attributes, photos in others:
            x, w = self._examples(self._negatives(name, attributes), photos, n_syn)
            xs.append(x)
            ys.append(torch.full((len(x),), i, device=device))
            ws.append(w)
        synthetic = self._draw(user_class.attributes, n_syn, zlib.crc32(user_class.name.encode()) + 1)
        x, w = self._examples(synthetic, user_class.examples, n_syn)
        xs.append(x)
        ys.append(torch.full((len(x),), c + len(overlay), device=device))
        ws.append(w)
        x, y, w = torch.cat(xs), torch.cat(ys), torch.cat(ws)
        w = w / w.sum()
        linear = m.classifier.linear
        # (N, C + K) logits of every existing row as one product: L-BFGS amplifies last-bit differences, and
        # this keeps each row bit-equal to the one fit when user rows were stacked into the model's classifier
        with torch.no_grad():
            fixed = F.linear(x, torch.cat([linear.weight, overlay.weight]), torch.cat([linear.bias, overlay.bias]))
        weight, bias = _fit_row(fixed, x, y, w)
        if not (torch.isfinite(weight).all() and torch.isfinite(bias)):
            raise ClassError(f"fitting a classifier row for {user_class.name!r} gave non-finite values; "
                             f"check that its attribute values are ordinary numbers on the dataset's scale")
        return weight, bias

    def _examples(self, synthetic: torch.Tensor, photos, mass: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One class's examples and their weights, `mass` in all: its synthetic set alone, or with photos of
        it, which then carry `example_share` of the mass."""
        if not len(photos):
            return synthetic, torch.full((len(synthetic),), mass / len(synthetic), device=synthetic.device)
        real = self.model.embed(np.asarray(photos, dtype=np.float32))
        share = self.example_share
        w = torch.cat([torch.full((len(synthetic),), (1 - share) * mass / len(synthetic)),
                       torch.full((len(real),), share * mass / len(real))])
        return torch.cat([synthetic, real]), w.to(synthetic.device)

    def _draw(self, attributes, n: int, seed: int) -> torch.Tensor:
        att = torch.as_tensor(np.asarray(attributes, dtype=np.float32), device=self.model.head.device)[None]
        return self.model.head.synthesize(att, n, torch.Generator().manual_seed(SEED + seed))

    def _negatives(self, name: str, attributes) -> torch.Tensor:
        """NEGATIVE_SAMPLES synthetic examples of an unseen or user class, drawn once per name and vector."""
        key = (name, np.asarray(attributes, dtype=np.float32).tobytes())
        if key not in self._synthetic:
            self._synthetic[key] = self._draw(attributes, NEGATIVE_SAMPLES, zlib.crc32(name.encode()))
        return self._synthetic[key]


def _fit_row(fixed: torch.Tensor, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor):
    """The row (weight, bias) appended to the fixed logits that minimises weighted cross-entropy + ridge."""
    weight = torch.zeros(x.shape[1], device=x.device, requires_grad=True)
    bias = torch.zeros((), device=x.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=REFIT_STEPS, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = torch.cat([fixed, (x @ weight + bias)[:, None]], dim=1)
        loss = (F.cross_entropy(logits, y, reduction="none") * w).sum() + REFIT_L2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()
