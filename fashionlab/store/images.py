"""A run's per-image test evidence (images.npz): for the model it kept and its best epoch's model, each
test image's predicted class, that class's probability and the log-probability of the true class.

About 9 bytes an image and model (150 KB for the 10,000 test images): enough for accuracy, per-image loss
(-log p(true)), confidence on wrong answers, calibration and paired tests of two models on the same
images, without loading a model again (EVIDENCE.md). Read through the bounded reader, checked from the
array headers before any data is read.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fashionlab.errors import RunError
from fashionlab.store import files

if TYPE_CHECKING:
    import numpy as np

    from fashionlab.store.run import Run

MAX_IMAGES = 1_000_000  # more test images than any config can select: the file is not this run's
MODELS = ("kept", "best")
FIELDS = {"predicted": "iu", "confidence": "f", "log_p_true": "f"}  # name: allowed dtype kinds


@dataclass(frozen=True)
class ModelImages:
    """One model on the test images: its epoch, and per image its answer, the answer's probability (NaN for a
    model that gives scores, not probabilities) and the log-probability it gave the true class."""

    epoch: int
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    log_p_true: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.true

    @property
    def loss(self) -> np.ndarray:
        """Per-image cross-entropy, -log p(true class) (as Keras clips it: at most -log 1e-7 for probabilities)."""
        return -self.log_p_true.astype("float64")

    @property
    def has_probabilities(self) -> bool:
        import numpy as np

        return bool(np.isfinite(self.confidence).all())


@dataclass(frozen=True)
class ImageEvidence:
    """The kept model's images, and the best epoch's where it is another model (else None)."""

    kept: ModelImages
    best: ModelImages | None = None

    def model(self, which: str) -> ModelImages | None:
        return self.kept if which == "kept" else self.best


def write(run: Run, evidence: ImageEvidence) -> None:
    """images.npz of the run, written atomically (compressed: about 150 KB for 10,000 images)."""
    import numpy as np

    arrays: dict[str, np.ndarray] = {"true": evidence.kept.true.astype(np.uint16)}
    for which in MODELS:
        found = evidence.model(which)
        if found is None:
            continue
        arrays[f"{which}_epoch"] = np.array(found.epoch)
        arrays[f"{which}_predicted"] = found.predicted.astype(np.uint16)
        arrays[f"{which}_confidence"] = found.confidence.astype(np.float32)
        arrays[f"{which}_log_p_true"] = found.log_p_true.astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy types **kwds as allow_pickle too
    files.write_atomic(run.path / files.IMAGES, buf.getvalue())


def exists(run: Run) -> bool:
    return (run.path / files.IMAGES).is_file()


def read(run: Run) -> ImageEvidence | None:
    """The run's per-image evidence; None where it has none (trained before it was kept: `fashionlab
    evaluate` adds it). A file that is not this run's evidence is a RunError."""
    import numpy as np

    from fashionlab.store.run import npz_headers

    path = run.path / files.IMAGES
    name = files.IMAGES
    try:
        headers = npz_headers(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise RunError(
            f"run {run.id}: {name} is unreadable ({exc}); `fashionlab evaluate {run.id}` writes it again"
        ) from None
    _check(run, headers)
    try:
        with (
            files.open_regular(path, files.MAX_IMAGES, follow=False) as fh,
            np.load(fh, allow_pickle=False) as data,
        ):
            loaded = {key: data[key] for key in headers}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise RunError(
            f"run {run.id}: {name} is unreadable ({exc}); `fashionlab evaluate {run.id}` writes it again"
        ) from None
    true = loaded["true"].astype(np.int64)
    models = {
        which: ModelImages(
            int(loaded[f"{which}_epoch"]),
            true,
            loaded[f"{which}_predicted"].astype(np.int64),
            loaded[f"{which}_confidence"],
            loaded[f"{which}_log_p_true"],
        )
        for which in MODELS
        if f"{which}_epoch" in loaded
    }
    return ImageEvidence(models["kept"], models.get("best"))


def _check(run: Run, headers: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Every array one per image, of the expected kinds, and the kept model's present, from the headers."""
    n = headers.get("true", ((-1,), ""))[0]
    wrong = len(n) != 1 or not 0 < n[0] <= MAX_IMAGES or "kept_epoch" not in headers
    expected = {"true"}
    for which in MODELS:
        if f"{which}_epoch" not in headers:
            continue
        expected.add(f"{which}_epoch")
        wrong = wrong or headers[f"{which}_epoch"] != ((), "i")
        for field, kinds in FIELDS.items():
            key = f"{which}_{field}"
            expected.add(key)
            shape, kind = headers.get(key, ((), ""))
            wrong = wrong or shape != n or kind not in kinds
    if wrong or set(headers) != expected:
        raise RunError(
            f"run {run.id}: {files.IMAGES} does not hold one answer per test image; it was not made by this run: "
            f"`fashionlab evaluate {run.id}` writes it again"
        )
