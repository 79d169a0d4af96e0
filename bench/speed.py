"""Time one generator training iteration of a head (median over many), on real CUB shapes.

    python bench/speed.py --method vae-cflow          # batch 64, D = 1280, A = 312, 150 classes
    python bench/speed.py --set flow_steps=8          # head Config overrides (8: VAE-cFlow on fine-tuned features)
Targets (2-core CPU): VAE-cFlow <= 60 ms per iteration."""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.heads import create_head, head_config, head_names  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="vae-cflow", choices=head_names())
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dim", type=int, default=1280)
    p.add_argument("--attributes", type=int, default=312)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = head_config(args.method, parse_overrides(args.set))
    head = create_head(args.method, config, feature_dim=args.dim, attribute_dim=args.attributes, n_classes=args.classes)
    x = torch.rand(4096, args.dim) * (torch.rand(4096, args.dim) > 0.4)  # sparse, like EfficientNet features
    y = torch.randint(0, args.classes, (4096,))
    att = torch.nn.functional.normalize(torch.rand(args.classes, args.attributes), dim=1)
    head.prepare(x[:1024], y[:1024], att)
    optimizer = head.make_optimizer()
    times = []
    for step in range(args.iters + 20):
        idx = torch.randint(0, len(x), (args.batch,))
        start = time.perf_counter()
        loss = head.training_step(x[idx], y[idx], att, step, args.iters)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 20:  # warm-up excluded
            times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    print(f"{args.method}: batch {args.batch}, D {args.dim}, {torch.get_num_threads()} threads: "
          f"median {statistics.median(ms):.1f} ms/iter, p90 {ms[int(0.9 * len(ms))]:.1f} ms")


if __name__ == "__main__":
    main()
