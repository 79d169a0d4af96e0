"""One split as tensors: a head sized for it, the classifier's training set, U/S/H/ZSL on its evaluation sets."""

import copy
from dataclasses import dataclass

import numpy as np
import torch

from zsl_app.core.classifier import SyntheticRows, predict_logits
from zsl_app.core.heads import Head, create_head
from zsl_app.core.metrics import gzsl_report
from zsl_app.storage.data import Benchmark, MinMaxScaler, Split

# Above this many bytes (float32) the classifier's synthetic examples are made per batch instead of held:
# ImageNet-21K's ~20K unseen classes x 600 samples x 2048-d would take 98 GB. CUB's 50 x 600 x 1280 (154 MB)
# is held, as it always was.
HOLD_BYTES = 4 * 2**30


@dataclass
class Prepared:
    """One split as tensors, with labels mapped to the split's own label space."""

    classes: np.ndarray  # global class ids of the label space, sorted
    x_train: torch.Tensor
    y_train: torch.Tensor  # index into `classes`
    seen_local: torch.Tensor  # positions of seen classes in `classes`
    unseen_local: torch.Tensor
    att: torch.Tensor  # (C, A) attributes of `classes`
    x_seen: np.ndarray  # evaluation features, scaled
    y_seen: np.ndarray
    x_unseen: np.ndarray
    y_unseen: np.ndarray
    scaler: MinMaxScaler


def prepare(bench: Benchmark, split: Split, device: str) -> Prepared:
    """Scale with training statistics and map labels to the split's label space."""
    classes = np.union1d(split.seen_classes, split.unseen_classes)
    local = np.full(len(bench.class_names), -1)
    local[classes] = np.arange(len(classes))
    scaler = MinMaxScaler.fit(bench.features[split.train])
    as_tensor = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return Prepared(
        classes=classes, x_train=as_tensor(scaler.transform(bench.features[split.train])),
        y_train=as_tensor(local[bench.labels[split.train]]),
        seen_local=as_tensor(local[split.seen_classes]), unseen_local=as_tensor(local[split.unseen_classes]),
        att=as_tensor(bench.attributes[classes]),
        x_seen=scaler.transform(bench.features[split.eval_seen]), y_seen=local[bench.labels[split.eval_seen]],
        x_unseen=scaler.transform(bench.features[split.eval_unseen]),
        y_unseen=local[bench.labels[split.eval_unseen]], scaler=scaler,
    )


def seen_relabel(data: Prepared) -> torch.Tensor:
    """Training labels as indices into the seen classes (the head's latent classifier)."""
    position = torch.full((len(data.classes),), -1, dtype=torch.long, device=data.y_train.device)
    position[data.seen_local] = torch.arange(len(data.seen_local), device=position.device)
    return position[data.y_train]


def new_head(spec, data: Prepared) -> Head:
    """A fresh head of `spec` (a RunSpec) sized for `data`, its initial weights drawn from spec.seed."""
    torch.manual_seed(spec.seed)
    head = create_head(spec.method, copy.deepcopy(spec.head), feature_dim=data.x_train.shape[1],
                       attribute_dim=data.att.shape[1], n_classes=len(data.seen_local))
    return head.to(spec.device)


def classifier_set(head, data: Prepared, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """embed(real seen) + synthesize(unseen): the classifier's training set, labels in label space."""
    x_seen, y_seen = head.embed_train(data.x_train, data.y_train, generator)
    n = head.config.unseen_samples
    x_fake = head.synthesize(data.att[data.unseen_local], n, generator)
    y_fake = data.unseen_local.repeat_interleave(n)
    return torch.cat([x_seen, x_fake]), torch.cat([y_seen, y_fake])


def classifier_data(head, data: Prepared, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor, SyntheticRows | None]:
    """The training set as train_classifier takes it: classifier_set held in memory (x, y, None), or, when its
    synthetic part would take more than HOLD_BYTES, the real rows and the synthetic ones made per batch."""
    n = head.config.unseen_samples
    if len(data.unseen_local) * n * head.embed_dim * 4 <= HOLD_BYTES:
        return (*classifier_set(head, data, generator), None)
    x_seen, y_seen = head.embed_train(data.x_train, data.y_train, generator)
    return x_seen, y_seen, SyntheticRows(head, data.att[data.unseen_local], data.unseen_local, n)


def logits(head, classifier, x: np.ndarray) -> np.ndarray:
    """Classifier logits (N, C) of scaled features (N, D)."""
    with torch.no_grad():
        emb = head.embed(torch.as_tensor(x, device=head.device))
        return predict_logits(classifier, emb).cpu().numpy()


def evaluate(head, classifier, data: Prepared, gamma: float = 0.0) -> dict:
    """U, S, H, ZSL of a head + classifier on the prepared evaluation sets."""
    scores = [logits(head, classifier, x) for x in (data.x_seen, data.x_unseen)]
    return gzsl_report(scores[0], data.y_seen, scores[1], data.y_unseen, data.unseen_local.cpu().numpy(), gamma)
