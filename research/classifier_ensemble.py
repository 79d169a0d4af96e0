"""A research variant of the GZSL classifier, scored on validation before it may enter the product: an ensemble
of `members` linear softmax classifiers, each trained on its own draw of the unseen classes' synthetic
features (the real seen features are the same for all), their logits averaged.

One classifier sees one sample of 600 synthetic features per unseen class, and where it puts the boundary
between two unseen classes depends on that sample; the mean of several such classifiers depends on it less.
The class balance stays that of one classifier (more samples per unseen class in a single classifier tip the
balance to unseen classes: "Synthetic features per unseen class" in `finetune-validation.md`). The mean of the
members' logits is the logit of one linear layer with the members' mean weights, so the ensemble costs
nothing when the app classifies a photo; it costs `members` times the classifier's training.

Member 1 is the protocol's own classifier (the same generator state, so the same synthetic draw and batch
order); members 2.. continue the generator. Every candidate of the protocol (snapshot, option, classifier
epoch, gamma) is scored on the ensemble's logits at that epoch.

    python research/finetune_validate.py ... --method vae-cflow --head flow_steps=8 --ensemble 5
"""

import contextlib
import copy
from unittest import mock

from zsl_app.core.classifier import train_classifier
from zsl_app.protocol import selection
from zsl_app.protocol.prepared import classifier_data


def members_averaged(models: list) -> object:
    """One linear classifier whose logits are the mean of `models`' logits."""
    mean = copy.deepcopy(models[0])
    for name, tensor in mean.state_dict().items():
        tensor.copy_(sum(m.state_dict()[name] for m in models) / len(models))
    return mean


@contextlib.contextmanager
def ensembled(members: int):
    """fold_reports with each candidate's classifier an ensemble of `members` (no change at 1)."""
    if members == 1:
        yield
        return
    made = {}

    def data_of(head, data, generator):
        made.update(head=head, data=data)  # members 2.. draw from the generator train_classifier is given
        return classifier_data(head, data, generator)

    def ensemble(x, y, n_classes, config, *, generator, synthetic=None, on_epoch=None, **kwargs):
        per_epoch = {}

        def keep(epoch, model):
            per_epoch.setdefault(epoch, []).append(copy.deepcopy(model))

        for member in range(members):
            if member:
                x, y, synthetic = classifier_data(made["head"], made["data"], generator)
            train_classifier(x, y, n_classes, config, generator=generator, synthetic=synthetic, on_epoch=keep,
                             **kwargs)
        for epoch in sorted(per_epoch):
            on_epoch(epoch, members_averaged(per_epoch[epoch]))

    with (mock.patch.object(selection, "classifier_data", data_of),
          mock.patch.object(selection, "train_classifier", ensemble)):
        yield
