"""Time Disentangled-VAE training on CUB trainval and extrapolate a full fit + evaluation.

Times `--epochs` real epochs (batch 50, the loop's last partial batch dropped), then the evaluation
path: embed_train + synthesize, the GZSL classifier (25 epochs) and the test evaluation.
Usage: python bench/dvae_speed.py [--epochs 1] [--threads 1] [--ablation full]"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.classifier import train_classifier  # noqa: E402
from zsl_app.core.training import epoch_batches, train_loop  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.prepared import classifier_set, evaluate, new_head, prepare, seen_relabel  # noqa: E402
from zsl_app.storage.data import load_benchmark, proposed_split  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ablation", default="full")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(resolve_data_root(), "CUB", "effnetlite2")
    data = prepare(bench, proposed_split(bench), "cpu")
    spec = resolve_spec("CUB", "dvae", features="effnetlite2", head={"ablation": args.ablation})
    config = spec.head
    head = new_head(spec, data).train()
    y, att = seen_relabel(data), data.att[data.seen_local]
    per_epoch = head.steps_per_unit(len(data.x_train))
    total = config.epochs * per_epoch
    batches = epoch_batches(len(data.x_train), config.batch_size, torch.Generator().manual_seed(0))

    def step_fn(idx, step):  # offset into epoch 100 so every warmed-up loss term is computed
        return head.training_step(data.x_train[idx], y[idx], att, step + 100 * per_epoch, total)

    train_loop(step_fn, head.make_optimizer(), batches, 5, stage="warm-up")
    started = time.perf_counter()
    train_loop(step_fn, head.make_optimizer(), batches, args.epochs * per_epoch, stage="timed")
    epoch_s = (time.perf_counter() - started) / args.epochs
    started = time.perf_counter()
    head.eval()
    generator = torch.Generator().manual_seed(0)
    x, labels = classifier_set(head, data, generator)
    classifier = train_classifier(x, labels, len(data.classes), spec.classifier, generator=generator)
    evaluate(head, classifier, data)
    eval_s = time.perf_counter() - started
    print(f"threads {args.threads}, load average {os.getloadavg()[0]:.2f}, {per_epoch} steps/epoch")
    print(f"{1000 * epoch_s / per_epoch:.1f} ms/step, {epoch_s:.1f} s/epoch; evaluation {eval_s:.1f} s")
    print(f"extrapolated {config.epochs} epochs + evaluation: {(config.epochs * epoch_s + eval_s) / 60:.1f} min")


if __name__ == "__main__":
    main()
