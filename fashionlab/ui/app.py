"""The dashboard's web application (Starlette): its pages, its JSON endpoints and its live streams.

Read-only: every endpoint but POST /api/predict is a GET, and none writes into the runs folder (a dropped
image goes to a temporary file, bounded in size, decoded by the same reader as `predict --image`). A run or
sweep is found by its name among the folder's entries, never by a path made from the request; every page is
escaped by Jinja2 and served with a Content-Security-Policy that allows no inline script.

    GET  /                                   the runs (sort, order, status, sweep, q, page)
    GET  /sweep, /sweep/{id}                sweeps and searches; one with its verdicts, curves, findings
    GET  /run/{id}                           one run
    GET  /predict                            drop an image, or pick a test image
    GET  /api                                this list, as JSON
    GET  /api/runs?sort=&order=&status=&sweep=&q=&page=&per_page=    one page of runs (as `runs --json`)
    GET  /api/runs/{id}                      a run: its row, config, history, summary and test metrics
    GET  /api/runs/{id}/confusion            its confusion matrix and per-class metrics (kept model)
    GET  /api/runs/{id}/cell?true=T&predicted=P   the test images of one confusion cell, surest first
    GET  /api/runs/{id}/test-image/{n}.png   test image n as the run saw it
    GET  /api/runs/{id}/network.png          its network drawn
    GET  /api/runs/{id}/predictions.png      the tutorial's grid of its first test images (loads the model)
    GET  /api/runs/{id}/inside/image.png?index=N&epoch=E    test image N's way through it at epoch E
    GET  /api/runs/{id}/inside/weights.png?epoch=E    its first layer's units (E: last, best, a kept one)
    GET  /api/sweep/{id}                    a sweep's comparison, as `compare --sweep ID --json`
    GET  /api/sweep/{id}/calibration.png    its reliability diagram
    POST /api/predict?run=ID[&index=N]       the run's prediction for test image N, or the image in the body
    GET  /api/live/run/{id}, /api/live/sweep/{id}, /api/live/runs    server-sent events while they change
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fashionlab.errors import FashionlabError
from fashionlab.i18n import _
from fashionlab.store import Run, RunStatus, RunStore, read_run
from fashionlab.ui import pages, readers

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_UPLOAD = 8 * 1024 * 1024  # bytes: a phone's photo fits, a flood does not
PICTURES = 64  # pictures from inside networks kept drawn (about 15 MB at most)
POLL = 0.5  # seconds between looks at the runs folder while a page is live


def create_app(runs_dir: Path | str, warm: bool = True) -> Starlette:
    """The dashboard over the runs folder `runs_dir` (read-only); `warm`: make every sweep's page in the
    background from the start."""
    board = Dashboard(RunStore(Path(runs_dir)))
    handlers = {HTTPException: board.not_found, FashionlabError: board.failed, Exception: board.failed}
    app = Starlette(routes=board.routes(), exception_handlers=handlers)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)
    if warm:
        threading.Thread(target=board.warm, name="warm sweep pages", daemon=True).start()
    return app


class Dashboard:
    """The pages and endpoints over one runs folder."""

    def __init__(self, store: RunStore) -> None:
        self.store, self.index, self.env = store, readers.RunIndex(store), pages.environment()
        self.pages: dict[str, tuple[tuple[Any, ...], HTMLResponse]] = {}  # sweep pages, while their files stay
        self.pictures: dict[tuple[Any, ...], bytes] = {}  # the last pictures from inside a network, by run state
        self.pictures_lock = threading.Lock()  # requests are answered on several threads

    def html(self, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(template).render(**context), status_code=status)

    def run_or_404(self, name: str) -> Run:
        run = self.index.run_named(name)
        if run is None:
            raise HTTPException(404, _("no run '{run}' in this runs folder").format(run=name))
        return run

    def runs(self, request: Request) -> HTMLResponse:
        return self.html("runs.html.j2", pages.runs_page(self.index, _query(request)))

    def sweeps(self, request: Request) -> HTMLResponse:
        return self.html("sweeps.html.j2", pages.sweeps_page(self.index))

    def sweep(self, request: Request) -> HTMLResponse:
        return self.sweep_page(request.path_params["name"])

    def sweep_page(self, name: str) -> HTMLResponse:
        record, runs = self.sweep_runs(name)
        stamps = (self.store.run_stamp(i) for i in record.run_ids)
        key = (record.id, record.updated, record.state, len(record.trials), *stamps)
        if (page := self.pages.get(record.id)) is None or page[0] != key:  # a finished sweep's page, made once
            page = (key, self.html("sweep.html.j2", pages.sweep_page(self.index, record, runs)))
            self.pages[record.id] = page
        return page[1]

    def run(self, request: Request) -> HTMLResponse:
        return self.html("run.html.j2", pages.run_page(self.index, self.run_or_404(request.path_params["name"])))

    def predict(self, request: Request) -> HTMLResponse:
        chosen = request.query_params.get("run")
        return self.html(
            "predict.html.j2", pages.predict_page(self.index, chosen, _int(request.query_params.get("index"), 0))
        )

    def api(self, request: Request) -> JSONResponse:
        lines = [line.strip() for line in (__doc__ or "").splitlines() if line.strip().startswith(("GET", "POST"))]
        return JSONResponse({"endpoints": lines})

    def api_runs(self, request: Request) -> JSONResponse:
        query = _query(request)
        record = self.index.record_named(query["sweep"]) if query["sweep"] else None
        only = set(record.run_ids) if record is not None else None
        per_page = min(max(_int(request.query_params.get("per_page"), readers.PER_PAGE), 1), 1000)
        found = readers.page_of(self.index.rows(), query["sort"], query["order"] == "desc", query["status"], query["q"],
                                only, query["page"], per_page)  # fmt: skip
        return JSONResponse({"runs": found.rows, "total": found.total, "page": found.page, "pages": found.pages})

    def api_run(self, request: Request) -> JSONResponse:
        found = self.run_or_404(request.path_params["name"])
        data: dict[str, Any] = {"run": readers.row_of(found)}
        try:
            data.update(config=found.config(), history=found.history(), metrics=found.metrics())
        except Exception as exc:
            data["problem"] = str(exc)
        return JSONResponse(data)

    def api_confusion(self, request: Request) -> JSONResponse:
        found = self.run_or_404(request.path_params["name"])
        return JSONResponse(readers.confusion(found, readers.class_names(found)))

    def api_cell(self, request: Request) -> JSONResponse:
        found = self.run_or_404(request.path_params["name"])
        true, predicted = _int(request.query_params.get("true"), -1), _int(request.query_params.get("predicted"), -1)
        return JSONResponse(readers.cell(found, true, predicted))

    def api_test_image(self, request: Request) -> Response:
        found = self.run_or_404(request.path_params["name"])
        x_test, _y = readers.test_images(found)
        n = _int(request.path_params["n"], -1)
        if not 0 <= n < len(x_test):
            raise HTTPException(404, f"no test image {n}")
        return Response(readers.png(x_test[n]), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    def api_network(self, request: Request) -> Response:
        from fashionlab.config import run_config
        from fashionlab.views import plots

        found = self.run_or_404(request.path_params["name"])
        return Response(plots.network_png(run_config(found)), media_type="image/png")

    def api_predictions(self, request: Request) -> Response:
        from fashionlab import usecases
        from fashionlab.views import plots

        found = self.run_or_404(request.path_params["name"])
        many = usecases.predict_many(found, "0:15", pixels=True)
        return Response(plots.prediction_grid_png(many.result["predictions"]), media_type="image/png")

    def api_inside(self, request: Request) -> Response:
        """A picture from inside the run's network: one test image's way (`index`), or its weights."""
        from fashionlab import usecases

        found = self.run_or_404(request.path_params["name"])
        epoch = request.query_params.get("epoch", "last")
        if epoch not in dict(found.weight_epochs()):
            raise HTTPException(404, _("run {run} kept no weights for epoch {epoch}").format(run=found.id, epoch=epoch))
        what, index = request.path_params["what"], _int(request.query_params.get("index"), 0)
        key = (found.id, self.store.run_stamp(found.id), what, epoch, index if what == "image" else None)
        with self.pictures_lock:
            png = self.pictures.get(key)
        if png is None:  # drawing one takes a second: a slider moved back is answered at once
            if what == "weights":
                png = usecases.inside(found, epoch=epoch, weights=True, one_scale=True).weights or b""
            else:
                png = usecases.inside(found, index, epoch=epoch, picture=True).picture or b""
            with self.pictures_lock:
                while len(self.pictures) >= PICTURES:
                    self.pictures.pop(next(iter(self.pictures)))
                self.pictures[key] = png
        return Response(png, media_type="image/png")

    def api_sweep(self, request: Request) -> JSONResponse:
        from fashionlab.results import collect
        from fashionlab.views import compare

        record, chosen = self.sweep_runs(request.path_params["name"])
        res = collect(chosen, "test_accuracy", list(record.axes))
        return JSONResponse(compare.comparison_json(res, compare.compare_columns(res.runs, False, list(record.axes))))

    def sweep_runs(self, name: str) -> tuple[Any, list[Run]]:
        """A sweep's or search's record and its trials' runs (404 where there is no such record)."""
        record = self.index.record_named(name)
        if record is None:
            raise HTTPException(404, _("no sweep or search '{id}' here").format(id=name))
        return record, [r for r in (self.index.run_named(i) for i in dict.fromkeys(record.run_ids)) if r is not None]

    def warm(self) -> None:
        """Every sweep's page made once, in the background, so that the first look at one is as fast as the next
        (1,000 trials: a second and a half to make; BENCHMARKS.md)."""
        for sweep_id in self.store.sweep_ids():
            with contextlib.suppress(Exception):  # a broken record shows its error when asked for
                self.sweep_page(sweep_id)

    def api_calibration(self, request: Request) -> Response:
        from fashionlab.results import collect
        from fashionlab.views import plots, report

        record, chosen = self.sweep_runs(request.path_params["name"])
        _said, models = report.calibration_words(collect(chosen, "test_accuracy", list(record.axes)))
        if not models:
            raise HTTPException(404, "no run of this sweep keeps per-image answers")
        return Response(plots.reliability_png(models), media_type="image/png")

    async def api_predict(self, request: Request) -> JSONResponse:
        found = self.run_or_404(request.query_params.get("run", ""))
        if "index" in request.query_params:
            return JSONResponse(await _predict(found, index=_int(request.query_params["index"], -1)))
        body = await _bounded_body(request)
        return JSONResponse(await _predict(found, image=body))

    async def live_run(self, request: Request) -> StreamingResponse:
        return _stream(request, _watch_run(self.run_or_404(request.path_params["name"])))

    async def live_sweep(self, request: Request) -> StreamingResponse:
        record = self.index.record_named(request.path_params["name"])
        if record is None:
            raise HTTPException(404, "no such sweep")
        return _stream(request, _watch_sweep(self.index, record.id))

    async def live_runs(self, request: Request) -> StreamingResponse:
        return _stream(request, _watch_folder(self.index))

    def not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", str(exc))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=status)
        return self.html(
            "message.html.j2", pages.message_page(str(self.store.root), _("Not found"), str(detail)), status
        )

    def failed(self, request: Request, exc: Exception) -> Response:
        message = str(exc) if isinstance(exc, FashionlabError) else f"{exc.__class__.__name__}: {exc}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=422 if isinstance(exc, FashionlabError) else 500)
        return self.html("message.html.j2", pages.message_page(str(self.store.root), _("Error"), message), 500)

    def routes(self) -> list[Any]:
        api = "/api/runs/{name}"
        return [
            Route("/", self.runs), Route("/sweep", self.sweeps), Route("/sweep/{name}", self.sweep),
            Route("/run/{name}", self.run), Route("/predict", self.predict), Route("/api", self.api),
            Route("/api/runs", self.api_runs), Route(api, self.api_run), Route(f"{api}/confusion", self.api_confusion),
            Route(f"{api}/cell", self.api_cell), Route(f"{api}/test-image/{{n}}.png", self.api_test_image),
            Route(f"{api}/network.png", self.api_network), Route(f"{api}/predictions.png", self.api_predictions),
            Route(f"{api}/inside/{{what}}.png", self.api_inside),
            Route("/api/sweep/{name}", self.api_sweep), Route("/api/predict", self.api_predict, methods=["POST"]),
            Route("/api/sweep/{name}/calibration.png", self.api_calibration),
            Route("/api/live/run/{name}", self.live_run), Route("/api/live/sweep/{name}", self.live_sweep),
            Route("/api/live/runs", self.live_runs), Route("/favicon.ico", lambda request: Response(status_code=204)),
            Mount("/static", StaticFiles(packages=[("fashionlab.ui", "static")]), name="static"),
        ]  # fmt: skip


class SecurityHeaders:
    """Every response says what the page may load (CSP), that it is not to be framed or sniffed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]  # fmt: skip
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _query(request: Request) -> dict[str, Any]:
    params = request.query_params
    return {
        "sort": params.get("sort") if params.get("sort") in readers.SORTS else "started",
        "order": "asc" if params.get("order") == "asc" else "desc",
        "status": params.get("status", "") if params.get("status", "") in pages.STATUSES else "",
        "sweep": params.get("sweep", ""), "q": params.get("q", "")[:200], "page": max(1, _int(params.get("page"), 1)),
    }  # fmt: skip


async def _bounded_body(request: Request) -> bytes:
    """The request's body, refused past MAX_UPLOAD bytes (before it is all read)."""
    declared = _int(request.headers.get("content-length"), 0)
    if declared > MAX_UPLOAD:
        raise HTTPException(413, _("the image is larger than {mb} MB").format(mb=MAX_UPLOAD // (1024 * 1024)))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise HTTPException(413, _("the image is larger than {mb} MB").format(mb=MAX_UPLOAD // (1024 * 1024)))
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, _("no image in the request; drop a PNG or JPEG"))
    return b"".join(chunks)


async def _predict(run: Run, index: int | None = None, image: bytes | None = None) -> dict[str, Any]:
    """usecases.predict in a worker thread (it loads the model); an image through a temporary file."""
    from starlette.concurrency import run_in_threadpool

    from fashionlab import usecases

    if image is None:
        found = await run_in_threadpool(usecases.predict, run, index)
        return found.to_json() | {"pixels": found.result.get("pixels"), "class_words": readers.class_names(run)}
    handle, name = tempfile.mkstemp(prefix="fashionlab-ui-", suffix=".img")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(image)
        found = await run_in_threadpool(usecases.predict, run, None, name)
        return found.to_json() | {"pixels": found.result.get("pixels"), "class_words": readers.class_names(run),
                                  "image_file": None}  # fmt: skip
    finally:
        os.unlink(name)


def _stream(request: Request, events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        async for event in events:
            if await request.is_disconnected():
                return
            yield f"event: {event.pop('event', 'update')}\ndata: {json.dumps(event)}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _watch_run(run: Run) -> AsyncIterator[dict[str, Any]]:
    """A run's new epochs as they are written, then its end (the page reloads to its final form)."""
    sent = 0
    while True:
        now = read_run(run.path)
        history = now.history() if now.problem is None else []
        if len(history) > sent:
            yield {"event": "epochs", "run": run.id, "rows": history[sent:]}
            sent = len(history)
        if now.status != RunStatus.RUNNING:
            yield {"event": "end", "status": str(now.status)}
            return
        await asyncio.sleep(POLL)


async def _watch_sweep(index: readers.RunIndex, sweep_id: str) -> AsyncIterator[dict[str, Any]]:
    """The epochs of a running sweep's trials as they are written, then its end."""
    sent: dict[str, int] = {}
    while True:
        record = index.store.find_record(sweep_id)
        if record is None:
            return
        hashes = {t.hash for t in record.trials if t.hash}
        for run in index.store.runs_with_hash(hashes):
            history = run.history() if run.problem is None else []
            if len(history) > sent.get(run.id, 0):
                yield {"event": "epochs", "run": run.id, "rows": history[sent.get(run.id, 0) :]}
                sent[run.id] = len(history)
        if record.state != "running":
            yield {"event": "end", "status": record.state}
            return
        await asyncio.sleep(POLL)


async def _watch_folder(index: readers.RunIndex) -> AsyncIterator[dict[str, Any]]:
    """A change in the runs folder (a run added, one that ends, a new epoch): the runs page reloads."""
    last = None
    while True:
        rows = index.rows()
        now = [(r["id"], r.get("status"), r.get("epochs")) for r in rows]
        if last is not None and now != last:
            yield {"event": "changed"}
        last = now
        await asyncio.sleep(1.0)
