"""Finding, verifying and loading the real Fashion-MNIST.

`load_data()` returns exactly what `keras.datasets.fashion_mnist.load_data()` returns, read from the
four original IDX .gz files, without importing Keras and without touching the network.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.errors import DataError
from fashionlab.store.files import UnsafeFile, cache_dir, open_regular, write_atomic
from fashionlab.text import visible

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

KERAS_CACHE = Path("~/.keras/datasets/fashion-mnist")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MAX_GZ_BYTES = 64 * 1024 * 1024  # the largest of the four .gz files is 26 MB
MAX_IMAGE_BYTES = 64 * 1024 * 1024  # predict --image: no photo of one garment is bigger as a file
MAX_IMAGE_PIXELS = 25_000_000  # predict --image: a 25-megapixel photo is plenty; bigger ones are refused
DOWNLOAD_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass(frozen=True)
class IdxFile:
    name: str
    magic: int  # 0x803: uint8 images (3 dims), 0x801: uint8 labels (1 dim)
    shape: tuple[int, ...]
    sha256: str  # of the decoded array's bytes, so a re-compressed but identical file still verifies


FILES = {
    "x_train": IdxFile(
        "train-images-idx3-ubyte.gz",
        0x803,
        (60000, 28, 28),
        "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    ),
    "y_train": IdxFile(
        "train-labels-idx1-ubyte.gz",
        0x801,
        (60000,),
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    ),
    "x_test": IdxFile(
        "t10k-images-idx3-ubyte.gz",
        0x803,
        (10000, 28, 28),
        "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    ),
    "y_test": IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        0x801,
        (10000,),
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    ),
}

HOW_TO_GET = (
    "get it with 'apt-get install dataset-fashion-mnist' (Debian, puts it in "
    f"{DEBIAN_DIR}), or 'fashionlab data --download' (into {KERAS_CACHE}), or point "
    "$FASHIONLAB_DATA at a folder holding the four original .gz files"
)

Dataset = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def search_dirs() -> list[Path]:
    """Where the data is looked for, in order. An explicit $FASHIONLAB_DATA is the only place looked."""
    explicit = os.environ.get("FASHIONLAB_DATA")
    if explicit:
        return [Path(explicit).expanduser()]
    return [KERAS_CACHE.expanduser(), DEBIAN_DIR]


def find_data_dir() -> Path:
    """The first directory that holds all four files, or a DataError naming every way to get them."""
    dirs = search_dirs()
    for d in dirs:
        if all((d / f.name).is_file() for f in FILES.values()):
            return d
    looked = ", ".join(str(d) for d in dirs)
    raise DataError(f"Fashion-MNIST not found (looked in {looked}); {HOW_TO_GET}")


def read_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Decode one gzipped IDX file and check its magic number, shape and checksum. Never decodes more than
    the data set's known size (plus one byte): a gzip bomb is refused after that much, not after GBs."""
    ndim = len(spec.shape)
    header = 4 + 4 * ndim
    expected = header + int(np.prod(spec.shape))
    try:
        with open_regular(path, MAX_GZ_BYTES) as raw_file, gzip.GzipFile(fileobj=raw_file) as fh:
            raw = fh.read(expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); {HOW_TO_GET}") from None
    if len(raw) > expected:
        raise DataError(
            f"{path} expands to more than the {expected:,} bytes of {spec.name}; it is not Fashion-MNIST; {HOW_TO_GET}"
        )
    if len(raw) < header or int.from_bytes(raw[:4], "big") != spec.magic:
        raise DataError(f"{path} is not an IDX file of the expected kind (bad magic number); {HOW_TO_GET}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims != spec.shape or len(raw) - header != int(np.prod(spec.shape)):
        raise DataError(
            f"{path} holds shape {dims} with {len(raw) - header} bytes, expected {spec.shape}; "
            f"the file is truncated or not Fashion-MNIST; {HOW_TO_GET}"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(spec.shape)
    if ndim == 1 and array.max() > 9:
        raise DataError(f"{path} has label {int(array.max())}, outside 0-9; {HOW_TO_GET}")
    if _digest(array) != spec.sha256:
        raise DataError(f"{path} does not match the Fashion-MNIST checksum (corrupt or altered); {HOW_TO_GET}")
    return array


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


@functools.cache
def _read(directory: Path, key: str) -> np.ndarray:
    """One file's array: from fashionlab's cache when this exact file was decoded and verified before
    (0.02 s instead of 0.3 s for the training images), else decoded, checked and cached. A cached array
    is checked against the data set's checksum at every load (a flipped byte or zeroed labels in the
    cache are caught, and the cache entry rebuilt from the .gz file)."""
    spec, path = FILES[key], directory / FILES[key].name
    cached = _cache_file(path, spec)
    if cached is not None:
        with contextlib.suppress(OSError, ValueError):
            with open_regular(cached, 128 + int(np.prod(spec.shape))) as fh:
                array = np.load(fh, allow_pickle=False)
            if array.shape == spec.shape and array.dtype == np.uint8 and _digest(array) == spec.sha256:
                return array
    array = read_idx(path, spec)
    if cached is not None:
        with contextlib.suppress(OSError):
            buf = io.BytesIO()
            np.save(buf, array, allow_pickle=False)
            write_atomic(cached, buf.getvalue())
    return array


def _cache_file(path: Path, spec: IdxFile) -> Path | None:
    """Where the decoded array of this very file (path, size and modification time) is cached."""
    folder = cache_dir("data")
    try:
        stat = path.stat()
    except OSError:
        return None
    if folder is None:
        return None
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{spec.sha256}".encode()).hexdigest()
    return folder / f"{spec.name.removesuffix('.gz')}-{key[:16]}.npy"


def _load(directory: Path) -> Dataset:
    return (_read(directory, "x_train"), _read(directory, "y_train")), (
        _read(directory, "x_test"),
        _read(directory, "y_test"),
    )


_provided: list[Dataset] = []  # arrays handed over by another process (a Ray worker's launcher)


def provide(dataset: Dataset) -> None:
    """Use these arrays instead of reading the files (a Ray worker gets them from the launching machine,
    so a node needs no copy of the data)."""
    _provided[:] = [dataset]


def load_data() -> Dataset:
    """((x_train, y_train), (x_test, y_test)) as uint8 arrays, like keras.datasets.fashion_mnist."""
    if _provided:
        return _provided[0]
    return _load(find_data_dir())


def load_test() -> tuple[np.ndarray, np.ndarray]:
    """(x_test, y_test) only: what evaluate and predict need, without decoding the 60,000 training images."""
    if _provided:
        return _provided[0][1]
    directory = find_data_dir()
    return _read(directory, "x_test"), _read(directory, "y_test")


def download(target: Path | None = None) -> Path:
    """Fetch the four files into Keras's cache (what keras.datasets would do), then verify them."""
    target = (target or KERAS_CACHE).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    for spec in FILES.values():
        dest = target / spec.name
        if dest.is_file():
            continue
        tmp = dest.with_suffix(".part")
        try:
            _fetch(DOWNLOAD_URL + spec.name, tmp)
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            tmp.unlink(missing_ok=True)
            why = f"no answer in {DOWNLOAD_TIMEOUT_S} s" if isinstance(exc, TimeoutError) else str(exc)
            raise DataError(f"download of {spec.name} failed ({why}); {HOW_TO_GET}") from None
        tmp.replace(dest)
    _load(target)
    return target


DOWNLOAD_TIMEOUT_S = 30  # per connection and per read: a server that accepts and never answers ends here
MAX_DOWNLOAD = 64 * 1024 * 1024  # the largest file is 26 MB


def _fetch(url: str, target: Path) -> None:
    """`url` into `target`, each read bounded in time and the whole in size."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as answer, open(target, "wb") as fh:
        got = 0
        while chunk := answer.read(1 << 20):
            got += len(chunk)
            if got > MAX_DOWNLOAD:
                raise ValueError(f"the server sent more than {MAX_DOWNLOAD:,} bytes")
            fh.write(chunk)


@dataclass
class DataSummary:
    directory: str
    splits: dict[str, dict[str, Any]]
    class_names: list[str]
    title: str = "Fashion-MNIST"


TRAIN_PER_CLASS, TEST_PER_CLASS = 6000, 1000  # Fashion-MNIST: balanced, 60,000 training and 10,000 test images


def about() -> list[str]:
    """What Fashion-MNIST is, in three lines (in the chosen language)."""
    from fashionlab.i18n import _, grouped

    return [
        _("Fashion-MNIST: {n} photos of Zalando's articles of clothing (Xiao, Rasul and Vollgraf, 2017), "
          "28x28 grey pixels (0-255) each.").format(n=grouped(70_000)),
        _("10 classes, balanced: {train} training and {test} test images of each.").format(
            train=grouped(6_000), test=grouped(1_000)),
        _("Made as a drop-in replacement for MNIST's handwritten digits (same sizes and file format), and harder."),
    ]  # fmt: skip


@dataclass(frozen=True)
class SplitCounts:
    """How many images a config trains, validates and tests on, and where each part comes from."""

    available: int  # training images of the config's classes (capped by train_samples)
    train: int
    validation: int
    test: int
    validation_split: float
    title: str = "Fashion-MNIST"  # the data set's

    def sentence(self) -> str:
        from fashionlab.i18n import _, grouped

        val = (
            _("{n} validate (the last {percent} of the {available} training images, set aside before training: "
              "part of the training set, not the test set)").format(
                n=grouped(self.validation), percent=f"{100 * self.validation_split:g}%",
                available=grouped(self.available))
            if self.validation
            else _("none validate (validation_split is 0)")
        )  # fmt: skip
        return _(
            "Data: {train} images train, {validation}, and {test} test (the separate test set of {title}, "
            "never trained on)."
        ).format(train=grouped(self.train), validation=val, test=grouped(self.test), title=self.title)


def split_counts(config: Any) -> SplitCounts:
    """The counts engine.inputs.prepare_data gives `config`, without loading Fashion-MNIST's images."""
    dataset = config.dataset
    in_train, in_test = dataset.split_counts_of(config.class_ids)
    available = min(in_train, config.train_samples or in_train)
    train = int(available * (1 - config.validation_split)) if config.validation_split > 0 else available
    test = min(in_test, config.test_samples or in_test)
    return SplitCounts(available, train, available - train, test, config.validation_split, dataset.title)


def summarize(dataset: Any, select: Any = None, names: list[str] | None = None) -> DataSummary:
    """Shapes, dtypes and per-class counts of both splits of `dataset` (a datasets.DataSet); `select(x, y)`
    picks a config's classes and relabels them (engine.inputs.select), `names` are then their names."""
    directory = dataset.where()
    (x_train, y_train), (x_test, y_test) = dataset.load()
    if select is not None:
        (x_train, y_train), (x_test, y_test) = select(x_train, y_train), select(x_test, y_test)
    names = names or list(dataset.class_names)
    splits: dict[str, dict[str, Any]] = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        splits[split] = {
            "x_shape": list(x.shape),
            "x_dtype": str(x.dtype),
            "y_shape": list(y.shape),
            "y_dtype": str(y.dtype),
            "pixel_range": [int(x.min()), int(x.max())],
            "counts": np.bincount(y, minlength=len(names)).tolist(),
        }
    return DataSummary(str(directory), splits, names, dataset.title)


def _gray(img: Any) -> Any:
    """An opened image as 8-bit grayscale, as a photo app shows it (see load_image)."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        else:
            top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(arr / top * 255), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return img.convert("L")


def load_image(path: str | Path, hw: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """A PNG/JPEG of any size as an `hw` uint8 image like the training data (its data set's image size),
    and whether it was inverted.

    As a photo app shows it: turned by its EXIF orientation (a phone's portrait photo), 16-bit and
    floating-point pixels scaled to 0-255 (not clipped), transparency over white; an animated image is
    refused (which frame would be meant?). Then grayscale, fitted into `hw` keeping its aspect ratio,
    centred; a light background is inverted to the dark background Fashion-MNIST has.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    shown = visible(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_regular(Path(path), MAX_IMAGE_BYTES) as fh, Image.open(fh) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"image {path} is {img.width}x{img.height} pixels, more than a photo of clothing needs "
                        f"(at most {MAX_IMAGE_PIXELS:,}); shrink it first"
                    )
                frames = getattr(img, "n_frames", 1)
                if frames > 1:
                    raise DataError(
                        f"image {shown} is animated ({frames} frames); give a still PNG or JPEG (one frame of it)"
                    )
                gray = _gray(img)
    except FileNotFoundError:
        raise DataError(f"image {shown} not found") from None
    except UnsafeFile as exc:
        raise DataError(f"cannot read image {shown}: {visible(str(exc))}; give a PNG or JPEG file") from None
    except UnidentifiedImageError:
        raise DataError(f"cannot read image {shown} (UnidentifiedImageError); give a PNG or JPEG file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"cannot read image {shown}: it is damaged or cut short ({visible(str(exc)) or exc.__class__.__name__}); "
            "give a PNG or JPEG file"
        ) from None
    arr = np.asarray(gray)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    inverted = bool(border.mean() > 127)
    if inverted:
        gray = Image.fromarray(255 - arr)
    height, width = hw
    gray.thumbnail((width, height), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(gray, ((width - gray.width) // 2, (height - gray.height) // 2))
    return np.asarray(canvas, dtype=np.uint8), inverted
