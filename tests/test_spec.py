"""The run specification: paper defaults -> dataset defaults -> the user's overrides, checked in one place."""

import gradio as gr
import pytest

from zsl_app.protocol import SpecError, head_defaults, resolve_spec
from zsl_app.protocol.spec import parse_overrides


def test_overrides_beat_dataset_defaults_which_beat_the_papers():
    assert head_defaults("dvae").alpha == 10.0 and head_defaults("dvae", "awa1").alpha == 14.0
    spec = resolve_spec("awa1", "dvae", head={"alpha": 3.0})
    assert spec.dataset == "AWA1" and spec.head.alpha == 3.0 and spec.head.unseen_samples == 460
    assert resolve_spec("awa1", "dvae").head == head_defaults("dvae", "AWA1")


def test_fine_tuned_features_take_the_heads_fine_tuned_defaults_under_the_users():
    assert resolve_spec("CUB", "vae-cflow", features="effnetlite2").head.flow_steps == 4  # the frozen route
    assert resolve_spec("CUB", "vae-cflow", finetune={}).head.flow_steps == 8  # fine-tuned per stage on photos
    tuned = resolve_spec("CUB", "vae-cflow", features="effnetlite2-390-ft-34668e82-mirror")  # a fine-tune's file
    assert tuned.head.flow_steps == 8 and tuned.protocol.fixed == ()  # a default, not a user's setting
    assert resolve_spec("CUB", "vae-cflow", finetune={}, head={"flow_steps": 4}).head.flow_steps == 4
    assert resolve_spec("CUB", "dvae", finetune={}).head == head_defaults("dvae", "CUB")


def test_classifier_and_protocol_take_the_heads_defaults_then_the_users():
    spec = resolve_spec("CUB", "dvae", head={"epochs": 20}, classifier={"lr": 0.01})
    assert (spec.classifier.batch_size, spec.classifier.lr) == (32, 0.01)  # the head's, then the user's
    assert spec.protocol.calibration == "rate" and spec.protocol.fixed == ("epochs",)
    assert resolve_spec("CUB", "dvae", protocol={"calibration": "gamma"}).protocol.calibration == "gamma"
    assert spec.length == 20


@pytest.mark.parametrize("section, message", [
    ({"head": {"gamma": 0.1}}, "unknown dvae options ['gamma']; valid: ["),  # the LSC weight is lsc_weight now
    ({"classifier": {"ema": 0.9}}, "classifier settings: unknown ['ema']; valid: ['batch_size', 'beta1', "),
    ({"protocol": {"fold": 2}}, "protocol settings: unknown ['fold']; valid: ['calibrate', "),
    ({"protocol": {"fixed": ["lr"]}}, "protocol 'fixed' is derived"),
])
def test_unknown_settings_name_the_valid_ones(section, message):
    with pytest.raises(SpecError) as refused:
        resolve_spec("CUB", "dvae", **section)
    assert message in str(refused.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": 2**32}, "seed must be a whole number from 0 to 4,294,967,295; got 4294967296"),
    ({"head": {"unseen_samples": 10**9}}, "vae-cflow unseen_samples must be a whole number from 1 to 10,000"),
    ({"head": {"unseen_samples": True}}, "got True"),  # a JSON boolean is not a count
    ({"head": {"iters": 2.5}}, "vae-cflow iters must be a whole number"),
    ({"classifier": {"epochs": 0}}, "classifier epochs must be a whole number from 1 to 1,000; got 0"),
    ({"dataset": "imagenet"}, "unknown dataset 'IMAGENET'; expected one of APY, AWA1, AWA2, CUB, SUN"),
    ({"method": "gan"}, "unknown head 'gan'; available: dvae, vae-cflow"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
])
def test_values_out_of_range_are_refused_with_what_was_expected(kwargs, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("[", r"\[")):
        resolve_spec(**{"dataset": "CUB", **kwargs})


def test_the_bounds_themselves_are_accepted():
    assert resolve_spec("CUB", seed=2**32 - 1, head={"iters": 200_000, "unseen_samples": 10_000},
                        classifier={"epochs": 1_000}).seed == 2**32 - 1


def test_command_line_pairs_become_typed_overrides():
    assert parse_overrides(["ablation=base", "lr=1e-3", "epochs=75", "kl_warmup=[0, 50]", "flag=true"]) == {
        "ablation": "base", "lr": 1e-3, "epochs": 75, "kl_warmup": [0, 50], "flag": True}
    assert resolve_spec("CUB", "dvae", head=parse_overrides(["kl_warmup=[0, 50]"])).head.kl_warmup == (0, 50)
    with pytest.raises(SpecError, match="expected FIELD=VALUE, got 'epochs'"):
        parse_overrides(["epochs"])


@pytest.mark.parametrize("field, value, message", [
    ("seed", -1, "seed must be a whole number from 0"),
    ("length", 10**9, "vae-cflow iters must be a whole number from 1 to 200,000"),
    ("samples", 10**9, "unseen_samples must be a whole number from 1 to 10,000"),
    ("classifier_epochs", 10**9, "classifier epochs must be a whole number from 1 to 1,000"),
])
def test_the_train_tab_refuses_out_of_range_values_before_a_training_starts(field, value, message):
    from zsl_app.app.ui.train import train_request

    fields = {"dataset": "CUB", "features": "effnetlite2", "method": "vae-cflow", "length": 100, "seed": 0,
              "temperature": 0, "samples": 10, "classifier_epochs": 2, "select": True, field: value}
    with pytest.raises(gr.Error, match=message):
        train_request(**fields)
