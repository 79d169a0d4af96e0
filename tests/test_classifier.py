"""The GZSL softmax classifier: it learns separable data and reports every epoch to its caller."""

import torch

from zsl_app.core.classifier import ClassifierConfig, predict_logits, train_classifier


def blobs(n_classes=4, per_class=50, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=g)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + 0.3 * torch.randn(len(y), dim, generator=g), y


def test_classifier_learns_separable_classes():
    x, y = blobs()
    model = train_classifier(x, y, 4, ClassifierConfig(epochs=20, batch_size=32, lr=0.05),
                             generator=torch.Generator().manual_seed(0))
    assert (predict_logits(model, x).argmax(1) == y).float().mean() > 0.95


def test_on_epoch_sees_every_epoch_in_eval_mode_and_the_returned_model_is_the_last():
    x, y = blobs()
    seen = []

    def on_epoch(epoch, model):
        seen.append((epoch, model.training, model.linear.weight.detach().clone()))

    model = train_classifier(x, y, 4, ClassifierConfig(epochs=3, batch_size=64), generator=torch.Generator(),
                             on_epoch=on_epoch)
    assert [(e, training) for e, training, _ in seen] == [(1, False), (2, False), (3, False)]
    assert not torch.equal(seen[0][2], seen[2][2]) and torch.equal(seen[2][2], model.linear.weight)
    assert not model.training
