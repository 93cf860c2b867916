"""`fashionlab ui` (issue 36), as its users see it: the real command serving a real runs folder (the stored lab,
runs trained here), driven in Debian's Chromium by Playwright: the runs page, a confusion cell's images, a
live curve, a hostile folder name, Spanish, and the server's safety rules."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SMALL, Cli
from tests.test_i18n import STOP_LIST

LAB = ROOT / "tests" / "data" / "lab"
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make browsers; required in CI)",
)
HOSTILE = "<img src=x onerror=alert(1)>"


class Server:
    """`fashionlab ui --port 0` in its own process, and the address it says it serves."""

    def __init__(self, runs: Path, *extra: str) -> None:
        self.runs = runs
        env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "PYTHONUNBUFFERED": "1"}
        env.pop("FASHIONLAB_LANG", None)
        command = [sys.executable, "-m", "fashionlab", *extra, "ui", "--port", "0"]
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=runs.parent)
        assert self.process.stderr is not None
        deadline = time.time() + 60
        self.said = ""
        while time.time() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], max(0.0, deadline - time.time()))
            line = self.process.stderr.readline() if ready else ""
            self.said += line
            if found := re.search(r"(http://127\.0\.0\.1:\d+)/", self.said):
                self.url = found.group(1)
                return
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"fashionlab ui did not say where it serves: {self.said}")

    def get(self, path: str, method: str = "GET", data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The stored lab (two sweeps, a repeats sweep, a search: real run files), plus a run folder whose name
    is an HTML tag, served in English."""
    runs = tmp_path_factory.mktemp("ui") / "runs"
    shutil.copytree(LAB, runs)
    first = sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "sweeps")[0]
    shutil.copytree(first, runs / HOSTILE)
    server = Server(runs)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM or "chromium", args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    return page


# Playwright's wait_for_function evaluates a string, which the pages' Content-Security-Policy forbids (no
# eval): conditions are asked as functions (page.evaluate) and polled from here.
ALL_LOADED = "(selector) => [...document.querySelectorAll(selector)].every(i => i.complete && i.naturalWidth > 0)"


def _until(condition: Any, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "the page did not get there in time"
        time.sleep(0.2)


def _records() -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in (LAB / "sweeps").glob("*.json")}


def test_the_runs_page_lists_a_sweep_and_filters_it(lab: Server, browser: Any) -> None:
    page = _page(browser)
    page.goto(lab.url + "/")
    ids = page.locator("table.runs td.id a").all_inner_texts()
    assert len(ids) == len(list(LAB.glob("2*"))) + 1  # and the hostile name
    sweep = next(k for k, r in _records().items() if r["kind"] == "sweep" and "epochs" in r["axes"])
    trials = {t["run_id"] for t in _records()[sweep]["trials"]}
    page.select_option("select[name=sweep]", sweep)
    page.click("form.filters button")
    page.wait_for_load_state()
    assert set(page.locator("table.runs td.id a").all_inner_texts()) == trials
    page.click("table.runs th a:has-text('test acc')")  # sorted by test accuracy, best first
    page.wait_for_load_state()
    shown = [float(t) for t in page.locator("table.runs tbody tr td:nth-child(6)").all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    assert page.problems == []


def test_a_confusion_cell_opens_its_images(lab: Server, browser: Any) -> None:
    """Teachable Machine's #164: a click on a cell shows the test images of that cell, with their answers."""
    run = next(p.name for p in sorted(LAB.iterdir()) if "adam-epochs=2" in p.name)
    page = _page(browser)
    page.goto(f"{lab.url}/run/{run}")
    cells = page.locator("td.cell")
    counts = [(int(c.get_attribute("data-true")), int(c.get_attribute("data-predicted")), int(c.inner_text()))
              for c in cells.all()]  # fmt: skip
    true, predicted, n = max((c for c in counts if c[0] != c[1]), key=lambda c: c[2])  # the most common error
    assert n > 0
    page.click(f"td.cell[data-true='{true}'][data-predicted='{predicted}']")
    page.wait_for_selector("#cell-gallery figure")
    tiles = page.locator("#cell-gallery figure.tile")
    assert tiles.count() == min(n, 60)
    for tile in tiles.all():
        assert (tile.get_attribute("data-true"), tile.get_attribute("data-predicted")) == (str(true), str(predicted))
    _until(lambda: page.evaluate(ALL_LOADED, "#cell-gallery img"))
    # the same cell from the JSON endpoint, against the run's own evidence
    status, _, body = lab.get(f"/api/runs/{run}/cell?true={true}&predicted={predicted}")
    assert status == 200 and json.loads(body)["count"] == n
    # the pictures of the page render: the network drawing, the tutorial grid's images
    _until(lambda: page.evaluate(ALL_LOADED, "img"))
    assert page.locator("img[alt]").count() > 20
    assert page.problems == []


def test_a_hostile_run_name_stays_text(lab: Server, browser: Any) -> None:
    page = _page(browser)
    page.goto(lab.url + "/")
    assert HOSTILE in page.locator("table.runs").inner_text()  # shown as the text it is
    assert page.locator("table.runs img").count() == 0  # not an element
    page.click(f"text={HOSTILE}")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == HOSTILE
    page.wait_for_timeout(300)
    assert page.problems == []  # no alert(1), no script error
    _, headers, _ = lab.get("/")
    csp = {k.lower(): v for k, v in headers.items()}["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_the_server_is_read_only_and_checks_what_it_is_sent(lab: Server) -> None:
    before = sorted(str(p.relative_to(lab.runs)) for p in lab.runs.rglob("*"))
    assert lab.get("/api/runs/..%2F..%2Fetc")[0] == 404  # a name, not a path
    assert lab.get("/run/nosuchrun")[0] == 404
    for path in ("/api/runs", "/", "/api/sweep/x"):
        assert lab.get(path, method="DELETE")[0] == 405
    run = sorted(p.name for p in LAB.glob("2*"))[0]
    host, port = lab.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", f"/api/predict?run={run}")
    connection.putheader("Content-Length", str(9 * 1024 * 1024))  # refused before the body is read
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "larger than 8 MB" in json.loads(response.read())["error"]
    connection.close()
    status, _, body = lab.get(f"/api/predict?run={run}", "POST", b"not an image")
    assert status in (422, 500) and json.loads(body)["error"]
    listed = json.loads(lab.get("/api/runs?per_page=5&sort=test_accuracy")[2])
    assert len(listed["runs"]) == 5 and listed["pages"] == 3
    assert json.loads(lab.get("/api")[2])["endpoints"]
    assert sorted(str(p.relative_to(lab.runs)) for p in lab.runs.rglob("*")) == before


def test_a_running_training_gains_points_while_its_page_is_open(browser: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    server = Server(runs)
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
    training = subprocess.Popen(
        [sys.executable, "-m", "fashionlab", "train", "train_samples=30000", "test_samples=200", "epochs=300",
         "batch_size=32"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(p.is_dir() and (p / "history.csv").exists() for p in runs.glob("2*")):
            time.sleep(0.2)
        (run,) = [p.name for p in runs.glob("2*")]
        page = _page(browser)
        page.goto(f"{server.url}/run/{run}")
        first = int(page.locator("#chart-loss").get_attribute("data-points"))
        _until(lambda: int(page.locator("#chart-loss").get_attribute("data-points")) > first + 2, 90)
        assert page.locator("#live").is_visible()
        assert page.problems == []
    finally:
        training.send_signal(signal.SIGINT)
        training.wait(timeout=60)
        server.stop()


def test_the_spanish_pages_say_no_english_from_the_stop_list(tmp_path: Path, browser: Any) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(LAB, runs)
    server = Server(runs, "--lang", "es")
    try:
        page = _page(browser)
        run = next(p.name for p in sorted(LAB.iterdir()) if "adam-epochs=2" in p.name)
        sweep = next(k for k, r in _records().items() if r["kind"] == "sweep")
        for path in ("/", "/sweep", f"/sweep/{sweep}", f"/run/{run}", "/predict"):
            page.goto(server.url + path)
            said = page.locator("body").inner_text()
            left = [phrase for phrase in STOP_LIST if phrase in said]
            assert not left, (path, left)
            assert page.locator("html").get_attribute("lang") == "es"
        assert page.problems == []
    finally:
        server.stop()


@pytest.fixture(scope="module")
def with_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    runs = tmp_path_factory.mktemp("ui-model") / "runs"
    result = Cli(runs)("train", *SMALL)
    assert result.exit_code == 0, result.output
    server = Server(runs)
    yield server, next(p.name for p in runs.glob("2*"))
    server.stop()


def test_predict_a_dropped_image_and_a_test_index(with_model: tuple[Server, str], browser: Any, tmp_path: Path) -> None:
    from PIL import Image

    server, run = with_model
    Image.new("L", (60, 80), 255).save(tmp_path / "blank.png")
    page = _page(browser)
    page.goto(server.url + "/predict")
    page.fill("#predict-index", "10")
    page.click("#predict-go")
    page.wait_for_selector("#prediction:not([hidden])")
    assert page.locator("#prediction-bars tr").count() == 10
    status, _, body = server.get(f"/api/predict?run={run}&index=10", "POST")
    found = json.loads(body)
    assert status == 200 and found["index"] == 10 and abs(sum(found["probabilities"].values()) - 1) < 1e-4
    chosen = page.locator("#prediction-bars tr.chosen")
    assert int(chosen.get_attribute("data-class")) == found["predicted"]
    page.set_input_files("#file", str(tmp_path / "blank.png"))
    _until(lambda: "inverted" in page.locator("#prediction-answer").inner_text())
    page.goto(f"{server.url}/run/{run}")  # inside its network (issue 37): both pictures render
    _until(lambda: page.evaluate(ALL_LOADED, "#inside-weights, #inside-image"), 120)
    width = page.evaluate("() => document.querySelector('#inside-weights').naturalWidth")
    assert width > 400
    slider = page.locator("#inside-epoch")  # epochs=2: the kept epoch 1 and the last, one slider step apart
    assert slider.get_attribute("max") == "1" and slider.get_attribute("value") == "1"
    slider.fill("0")  # as a drag does: input, then change
    _until(lambda: "epoch=1" in (page.locator("#inside-weights").get_attribute("src") or ""))
    assert page.locator("#inside-epoch-label").inner_text() == "epoch 1"
    page.fill("#inside-index", "4")
    page.press("#inside-index", "Enter")
    _until(lambda: "index=4&epoch=1" in (page.locator("#inside-image").get_attribute("src") or ""))
    _until(lambda: page.evaluate(ALL_LOADED, "#inside-weights, #inside-image"), 120)
    assert server.get(f"/api/runs/{run}/inside/weights.png?epoch=7")[0] == 404
    assert page.problems == []


def test_a_port_in_use_another_host_and_a_file_for_a_folder_are_said_in_one_line(lab: Server, tmp_path: Path) -> None:
    port = lab.url.rsplit(":", 1)[1]
    env = {**os.environ, "FASHIONLAB_RUNS": str(lab.runs)}
    taken = subprocess.run([sys.executable, "-m", "fashionlab", "ui", "--port", port], env=env, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert taken.returncode != 0 and "Traceback" not in taken.stderr
    assert taken.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); choose another --port"
    ]
    (tmp_path / "file").write_text("not a folder")
    refused = subprocess.run([sys.executable, "-m", "fashionlab", "ui", "--runs-dir", str(tmp_path / "file")],
                             env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "is not a folder; give a folder with --runs-dir" in refused.stderr
    wide = subprocess.Popen([sys.executable, "-m", "fashionlab", "ui", "--host", "0.0.0.0", "--port", "0"], env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        said = ""
        deadline = time.time() + 60
        while "Serving" not in said and time.time() < deadline and wide.stderr is not None:
            said += wide.stderr.readline()
        assert "Warning: --host 0.0.0.0 lets anyone who can reach this machine read" in " ".join(said.split())
    finally:
        wide.send_signal(signal.SIGINT)
        wide.wait(timeout=30)
