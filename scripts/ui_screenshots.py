"""The README's pictures of `fashionlab ui`, taken in Debian's Chromium from real runs: the stored lab (its
sweeps, its repeats, its search) and a run trained now (for the predict page, which needs its model).

    python scripts/ui_screenshots.py [--out docs]

Writes ui-runs.png, ui-sweep.png, ui-run.png (a confusion cell opened) and ui-predict.png.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(runs: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
    server = subprocess.Popen([sys.executable, "-m", "fashionlab", "ui", "--port", "0"], env=env,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stderr is not None
    while line := server.stderr.readline():
        if found := re.search(r"(http://127\.0\.0\.1:\d+)/", line):
            return server, found.group(1)
    raise SystemExit("fashionlab ui did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        shutil.copytree(ROOT / "tests/data/lab", runs)
        env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
        subprocess.run([sys.executable, "-m", "fashionlab", "train", "epochs=3", "train_samples=6000",
                        "test_samples=1000"], env=env, check=True, capture_output=True)  # fmt: skip
        server, url = serve(runs)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1100, "height": 800})
                page.goto(url + "/")
                page.screenshot(path=args.out / "ui-runs.png")
                repeats = next(p.stem for p in (runs / "sweeps").glob("sweep-*.json") if "seed" in p.read_text())
                page.goto(f"{url}/sweep/{repeats}")
                page.wait_for_timeout(500)
                page.screenshot(path=args.out / "ui-sweep.png", full_page=True)
                trained = max(p.name for p in runs.glob("2*-tutorial-*") if "=" not in p.name)
                page.goto(f"{url}/run/{trained}")
                cells = page.locator("td.cell:not(.diagonal)").all()
                busiest = max(cells, key=lambda c: int(c.inner_text()))
                busiest.click()
                page.wait_for_selector("#cell-gallery figure")
                page.wait_for_timeout(500)
                box = page.locator("#confusion").bounding_box()
                assert box is not None
                page.screenshot(path=args.out / "ui-run.png", full_page=True,
                                clip={"x": 0, "y": box["y"] - 60, "width": 1100, "height": 900})  # fmt: skip
                page.goto(url + "/predict")
                page.fill("#predict-index", "10")
                page.click("#predict-go")
                page.wait_for_selector("#prediction:not([hidden])")
                page.screenshot(path=args.out / "ui-predict.png")
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    print("wrote", ", ".join(f"ui-{n}.png" for n in ("runs", "sweep", "run", "predict")), "in", args.out)
    time.sleep(0)


if __name__ == "__main__":
    main()
