"""Load on the web app: N concurrent `predict` calls through gradio_client while a training runs.

Every answer must equal the one the predictor gives alone; prints p50 / p95 latency with and without load.

    python bench/ui_load.py                      # the shipped default model, 20 requests
    python bench/ui_load.py --model weights/cub-dvae-effnetlite2-s0 --requests 40
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("ZSL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="checkpoint to serve (default: weights/default.json)")
    p.add_argument("--requests", type=int, default=20, help="concurrent predict calls (default 20)")
    p.add_argument("--data-root", default=str(SHARED / "xlsa17"), help="xlsa17 root holding CUB/effnetlite2.mat")
    p.add_argument("--photos", default=str(SHARED / "samples" / "cub"), help="folder of photos to send")
    args = p.parse_args()
    os.environ["ZSL_USER_DIR"] = tempfile.mkdtemp(prefix="zsl-load-")  # no user classes of anyone else

    from gradio_client import Client, handle_file
    from zsl_app.app.recognizer import Recognizer
    from zsl_app.app.ui.layout import build_app, launch

    photos = sorted(Path(args.photos).glob("*.jpg"))
    predictor = Recognizer.load(args.model)
    expected = {ph: answer(predictor.predict(ph, top=5).ranked) for ph in photos}
    demo = build_app(predictor, data_root=args.data_root, examples_dir=args.photos,
                     runs_dir=tempfile.mkdtemp(prefix="zsl-load-runs-"))
    _, url, _ = launch(demo, port=free_port(), block=False)
    clients = [Client(url, verbose=False) for _ in range(args.requests)]
    work = [(clients[i], photos[i % len(photos)]) for i in range(args.requests)]

    def call(item):
        client, photo = item
        started = time.perf_counter()
        ranked = client.predict(handle_file(photo), api_name="/predict")[1]
        return time.perf_counter() - started, same(ranked, expected[photo])

    idle = [call(item) for item in work[:len(photos)]]  # one at a time, nothing else running
    job = clients[0].submit("CUB", "effnetlite2", predictor.info["method"], 5000, 0, 0, 600, 25, True,
                            api_name="/train")
    while not any("step" in (out[0] or "") for out in job.outputs()):  # the head is training
        time.sleep(0.2)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.requests) as pool:
        loaded = list(pool.map(call, work))
    wall = time.perf_counter() - started
    still_training = not job.done()
    clients[0].predict(api_name="/cancel_training")
    job.result(timeout=120)
    demo.close()

    report("alone, one at a time", idle)
    report(f"{args.requests} at once, training running", loaded)
    print(f"burst wall time {wall:.2f} s; training still running at the end of the burst: {still_training}; "
          f"{os.cpu_count()} CPU cores; model {predictor.info['model']}")
    ok = all(correct for _, correct in idle + loaded) and still_training
    print("all answers correct" if ok else "FAILED: wrong answers or the training had stopped")
    return 0 if ok else 1


def answer(ranked) -> list[tuple[str, str, float]]:
    return [(r.name, r.kind, r.probability) for r in ranked]


def same(ranked: list[dict], expected: list[tuple[str, str, float]]) -> bool:
    """The same classes in the same order with the same probabilities (threads may reorder float sums)."""
    return [(r["name"], r["kind"]) for r in ranked] == [(n, k) for n, k, _ in expected] and all(
        abs(r["probability"] - p) < 1e-4 for r, (_, _, p) in zip(ranked, expected))


def report(title: str, results: list[tuple[float, bool]]) -> None:
    times = sorted(t for t, _ in results)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"{title:34} n={len(times):3}  p50 {statistics.median(times):6.2f} s  p95 {p95:6.2f} s  "
          f"max {times[-1]:6.2f} s  correct {sum(c for _, c in results)}/{len(results)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
