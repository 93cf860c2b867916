"""What the dashboard reads from the runs folder, read once and kept while the files stay the same.

A run is read again only when its run.json or metrics.json changed (their size and modification time), so
paging through 20,000 runs costs one directory listing and a stat per run. A run is named by its folder as
listed, never by a path made from the request: `run_named` looks the name up among the folder's entries.
Nothing here imports Keras: the confusion matrix, its cells and the most confident errors come from each
run's per-image evidence (images.npz), the test images from the data set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.store import Run, RunStore, images, read_run

PER_PAGE = 50
SORTS = ("started", "id", "name", "status", "test_accuracy", "test_loss", "val_accuracy", "epochs", "seconds")


class RunIndex:
    """Every run of the folder as `runs` shows it (tables.run_row), each read again only when it changed."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._rows: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def names(self) -> list[str]:
        """The run folders, oldest first (their names start with the UTC time)."""
        return self.store.run_names()

    def rows(self) -> list[dict[str, Any]]:

        names = self.names()
        found = []
        with self._lock:
            for name in names:
                folder = self.store.root / name
                stamp = self.store.run_stamp(name)
                kept = self._rows.get(name)
                if kept is None or kept[0] != stamp:
                    try:
                        row = row_of(read_run(folder))
                    except Exception as exc:  # a broken folder is shown as broken, never a broken page
                        row = {"id": name, "name": name, "status": "broken", "problem": str(exc)}
                    kept = (stamp, row)
                    self._rows[name] = kept
                found.append(kept[1])
            for gone in set(self._rows) - set(names):
                del self._rows[gone]
        return found

    def run_named(self, name: str) -> Run | None:
        """The run whose folder is called `name` (one entry of the runs folder, as `names` lists them), else
        None: a name with a slash, a dot-name, the sweeps folder, or anything not a folder there."""
        if not name or "/" in name or "\0" in name or name.startswith(".") or name not in self._listed(name):
            return None
        return read_run(self.store.root / name)

    def _listed(self, name: str) -> set[str]:
        """The listed names, taken again when `name` is not among them (a run made since)."""
        if name not in self._names:
            self._names = set(self.names())
        return self._names

    def record_named(self, name: str) -> Any:
        """The sweep or search record called `name` (exactly as listed), else None."""
        return self.store.find_record(name) if name in self.store.sweep_ids() else None


def row_of(run: Run) -> dict[str, Any]:
    """`runs`' row of a run and how long it trained (seconds, from its summary); a broken run as broken."""
    from fashionlab.views.tables import run_row

    try:
        row = run_row(run)
    except Exception as exc:
        return {"id": run.id, "name": run.id, "status": "broken", "problem": str(exc)}
    if not row.get("problem"):
        try:
            row["seconds"] = run.metrics().get("summary", {}).get("seconds_total")
        except Exception:  # the row already says what is wrong, where anything is
            row["seconds"] = None
    return row


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int  # rows that pass the filters
    page: int
    pages: int


def page_of(
    rows: list[dict[str, Any]], sort: str = "started", descending: bool = True, status: str = "", text: str = "",
    only: set[str] | None = None, page: int = 1, per_page: int = PER_PAGE,
) -> Page:  # fmt: skip
    """One page of the runs, filtered (status, a text in the id, the runs of one sweep) and sorted; runs
    without the sorted value come last either way."""
    key = sort if sort in SORTS else "started"
    chosen = [
        r for r in rows
        if (not status or r.get("status") == status) and (not text or text.lower() in str(r.get("id", "")).lower())
        and (only is None or r.get("id") in only)
    ]  # fmt: skip
    present = [r for r in chosen if r.get(key) is not None]
    missing = [r for r in chosen if r.get(key) is None]
    present.sort(key=lambda r: (r[key], r["id"]), reverse=descending)
    ordered = present + missing
    pages = max(1, -(-len(ordered) // per_page))
    page = min(max(1, page), pages)
    return Page(ordered[(page - 1) * per_page : page * per_page], len(ordered), page, pages)


_TEST_IMAGES: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # by the config's hash: a sweep shares them


def test_images(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The test images and labels the run was tested on (its config's classes and test_samples), in the
    order of its per-image evidence."""
    from fashionlab.config import run_config
    from fashionlab.engine.inputs import test_images_for

    config = run_config(run)
    key = repr((config.data, config.classes, config.test_samples))
    if key not in _TEST_IMAGES:
        if len(_TEST_IMAGES) >= 8:
            _TEST_IMAGES.pop(next(iter(_TEST_IMAGES)))
        _TEST_IMAGES[key] = test_images_for(config)
    return _TEST_IMAGES[key]


def evidence(run: Run) -> Any:
    """The kept model's per-image evidence (store.images.ModelImages), or None where the run has none."""
    found = images.read(run)
    return found.kept if found is not None else None


def confusion(run: Run, class_names: list[str]) -> dict[str, Any] | None:
    """The confusion matrix (rows: true, columns: predicted) and per-class precision, recall, F1 from the
    kept model's answers on the test images, as `fashionlab evaluate` gives them."""
    from fashionlab.metrics import classification_report

    kept = evidence(run)
    if kept is None:
        return None
    report = classification_report(kept.true, kept.predicted, len(class_names))
    return {**report, "class_names": class_names, "images": len(kept.true), "epoch": kept.epoch}


def cell(run: Run, true: int, predicted: int, limit: int = 60) -> dict[str, Any]:
    """The test images of one confusion cell (true class, predicted class), most confident first, with the
    probability the model gave its answer and the true class."""
    kept = evidence(run)
    if kept is None:
        raise FashionlabError(f"run {run.id} keeps no per-image evidence; `fashionlab evaluate {run.id}` writes it")
    where = np.flatnonzero((kept.true == true) & (kept.predicted == predicted))
    order = where[np.argsort(-np.nan_to_num(kept.confidence[where], nan=0.0), kind="stable")]
    return {
        "count": len(where),
        "images": [_image(kept, int(i)) for i in order[:limit]],
    }


def confident_errors(run: Run, n: int = 12) -> list[dict[str, Any]]:
    """The n test images the kept model gets wrong most confidently."""
    kept = evidence(run)
    if kept is None:
        return []
    wrong = np.flatnonzero(~kept.correct)
    order = wrong[np.argsort(-np.nan_to_num(kept.confidence[wrong], nan=0.0), kind="stable")]
    return [_image(kept, int(i)) for i in order[:n]]


def first_answers(run: Run, n: int = 15) -> list[dict[str, Any]]:
    """The kept model's answers on the first n test images (the tutorial's grid)."""
    kept = evidence(run)
    return [] if kept is None else [_image(kept, i) for i in range(min(n, len(kept.true)))]


def _image(kept: Any, i: int) -> dict[str, Any]:
    confidence = float(kept.confidence[i])
    p_true = float(np.exp(kept.log_p_true[i]))
    return {
        "index": i, "true": int(kept.true[i]), "predicted": int(kept.predicted[i]),
        "confidence": confidence if np.isfinite(confidence) else None,
        "p_true": p_true if np.isfinite(p_true) else None,
    }  # fmt: skip


def png(pixels: np.ndarray, scale: int = 3) -> bytes:
    """A grayscale image as a PNG, each pixel a `scale` x `scale` block (crisp in the browser)."""
    import io

    from PIL import Image

    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def class_names(run: Run) -> list[str]:
    """The names of the run's classes, in the reader's language."""
    from fashionlab.config import run_config
    from fashionlab.i18n import class_word

    return [class_word(n) for n in run_config(run).class_names]
