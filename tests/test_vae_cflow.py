"""VAE-cFlow head: generation temperature, and a short real fit. The contract every head keeps is in
test_heads_contract.py."""

import dataclasses

import numpy as np
import torch

from conftest import require_real_cub
from zsl_app.core.heads import create_head, head_config, head_names
from zsl_app.protocol import resolve_spec
from zsl_app.protocol.run import run_protocol
from zsl_app.storage.data import load_benchmark

TINY = {"encoder_hidden": 16, "decoder_hidden": 8, "coupling_hidden": 8}


def test_registered():
    assert "vae-cflow" in head_names()


def test_temperature_is_a_config_field_that_scales_the_spread():
    torch.manual_seed(0)
    head = create_head("vae-cflow", head_config("vae-cflow", TINY), feature_dim=12, attribute_dim=5, n_classes=3)
    head.prepare(torch.rand(20, 12), torch.arange(20) % 3, torch.rand(3, 5))
    att = torch.rand(1, 5)
    spread = []
    for t in (0.5, 2.0):
        head.config = dataclasses.replace(head.config, temperature=t)
        spread.append(head.synthesize(att, 2000, torch.Generator().manual_seed(1)).std(0).mean())
    assert spread[1] / spread[0] > 1.8  # std grows with sqrt(T): ratio 2


def test_short_real_training_beats_chance():
    bench = load_benchmark(require_real_cub(), "CUB", "effnetlite2")
    torch.set_num_threads(2)
    spec = resolve_spec("CUB", "vae-cflow", features="effnetlite2", head={"iters": 150, "unseen_samples": 60},
                        protocol={"select": False, "calibrate": False})
    result = run_protocol(spec, bench)
    # chance: 2% ZSL (1 of 50 unseen classes), 0.5% per-class in the joint 200-class space
    assert result.test["ZSL"] > 15
    assert result.test["S"] > 30
    assert np.isfinite(list(result.test.values())).all()
