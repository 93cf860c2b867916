"""The dashboard at scale: server time of the runs page over 20,000 runs and of a sweep page of 1,000 trials.

    python bench/ui_scale.py [--runs 20000] [--sweep 1000] [--times 5]

A runs folder of N runs (bench/scaling.py's copies of one real run of the stored lab, each with its own
learning rate, seed and test numbers, 5 seeds a setting) and a sweep record naming the first S of them.
Each page is asked through the real application (Starlette, the ASGI call a browser's request makes,
without the network), first cold (a fresh server that did not make the sweep pages in the background, as
`fashionlab ui` does from its start: every run read) then warm (the runs index kept, read again only where
a run's files changed; a sweep's page kept while its files stay the same); the median of `--times` warm
answers is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def ask(app: Any, path: str) -> tuple[int, float, int]:
    """One GET through the ASGI application: its status, seconds and body size."""
    query = path.split("?", 1)[1].encode() if "?" in path else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path.split("?", 1)[0], "raw_path": path.encode(), "query_string": query, "headers": [],
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1), "root_path": ""}  # fmt: skip
    sent: dict[str, Any] = {"status": 0, "size": 0}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["size"] += len(message.get("body", b""))

    start = time.perf_counter()
    asyncio.run(app(scope, receive, send))
    return sent["status"], time.perf_counter() - start, sent["size"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--sweep", type=int, default=1000)
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    from scaling import make_runs

    from fashionlab.ui.app import create_app

    template = next(p for p in sorted((ROOT / "tests/data/lab").iterdir()) if "adam-epochs=2" in p.name)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        start = time.perf_counter()
        make_runs(template, runs, args.runs)
        ids = sorted(p.name for p in runs.iterdir())[: args.sweep]
        (runs / "sweeps").mkdir()
        trials = [{"hash": i.rsplit("-", 1)[1], "status": "completed", "run_id": i, "values": {"seed": n % 5},
                   "epochs": 2} for n, i in enumerate(ids)]  # fmt: skip
        record = {"id": "sweep-bench", "kind": "sweep", "state": "completed", "updated": "2026-12-06T12:00:00+00:00",
                  "command": "bench", "config_files": [], "items": ["lr=..."], "axes": {"optimizer.learning_rate": []},
                  "trials": trials}  # fmt: skip
        (runs / "sweeps" / "sweep-bench.json").write_text(json.dumps(record))
        print(f"made {args.runs} runs and a sweep of {args.sweep} in {time.perf_counter() - start:.0f} s")
        pages = {
            f"runs page 1 of {args.runs}": "/",
            f"runs page 400, sorted by test acc ({args.runs})": "/?sort=test_accuracy&page=400",
            f"/api/runs page 200 ({args.runs})": "/api/runs?page=200",
            f"sweep page ({args.sweep} trials)": "/sweep/sweep-bench",
        }
        for name, path in pages.items():
            app = create_app(runs, warm=False)
            status, cold, size = ask(app, path)
            assert status == 200, (name, status)
            warm = statistics.median(ask(app, path)[1] for _ in range(args.times))
            print(f"{name:48s} cold {cold * 1000:7.0f} ms   warm {warm * 1000:6.0f} ms   {size / 1024:6.0f} KiB")
        app = create_app(runs, warm=False)
        start = time.perf_counter()
        status, _, _ = ask(app, "/api/sweep/sweep-bench/calibration.png")
        print(f"{'its calibration picture (its own request)':48s} {(time.perf_counter() - start) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
