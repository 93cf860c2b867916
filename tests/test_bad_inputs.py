"""The catalogue of bad inputs: each gives one clear line on stderr, a non-zero exit, and writes nothing.

Every case runs the real CLI in-process against its own runs directory (holding one real, small,
completed run when the case needs one) and compares the directory before and after.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fashionlab.data import FILES, find_data_dir
from tests.conftest import CONFIGS, Cli

Setup = Callable[[Path, Path], None]  # (tmp folder, runs dir)


@dataclass
class Case:
    args: list[str]
    code: int
    message: str  # a regular expression matched against the whole error line, after "Error: "
    setup: Setup | None = None
    needs_run: bool = False
    env: dict[str, str] = field(default_factory=dict)


def config_file(text: str) -> Setup:
    def setup(tmp: Path, runs: Path) -> None:
        (tmp / "c.yaml").write_text(text)

    return setup


def damaged_data(edit: Callable[[bytes], bytes], name: str = "t10k-labels-idx1-ubyte.gz") -> Setup:
    def setup(tmp: Path, runs: Path) -> None:
        folder = tmp / "data"
        folder.mkdir()
        for spec in FILES.values():
            (folder / spec.name).symlink_to(find_data_dir() / spec.name)
        with gzip.open(find_data_dir() / name) as fh:
            raw = fh.read()
        (folder / name).unlink()
        with gzip.open(folder / name, "wb") as fh:
            fh.write(edit(raw))

    return setup


def set_label(value: int) -> Callable[[bytes], bytes]:
    def edit(raw: bytes) -> bytes:
        out = bytearray(raw)
        out[8 + 3] = value
        return bytes(out)

    return edit


def broken_run(edit: Callable[[Path], None]) -> Setup:
    def setup(tmp: Path, runs: Path) -> None:
        (run,) = [p for p in runs.iterdir() if p.is_dir()]
        edit(run)

    return setup


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(data)


def remove(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def _not_gzip(tmp: Path, runs: Path) -> None:
    damaged_data(lambda raw: raw)(tmp, runs)
    (tmp / "data" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"plain bytes")


# ---- issue 20 helpers: files that are not what they claim to be


def fifo(name: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        (run / name).unlink()
        os.mkfifo(run / name)

    return edit


def device(name: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        (run / name).unlink()
        (run / name).symlink_to("/dev/zero")

    return edit


def info_field(**changes: object) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        info = json.loads((run / "run.json").read_text())
        info.update(changes)
        (run / "run.json").write_text(json.dumps(info))

    return edit


def _images_claiming(run: Path, n: int) -> None:
    """images.npz whose arrays' headers claim `n` test images and hold no data."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(run / "images.npz", "w") as archive:
        for name, descr, shape in (("true", "<u2", (n,)), ("kept_epoch", "<i8", ()), ("kept_predicted", "<u2", (n,)),
                                   ("kept_confidence", "<f4", (n,)), ("kept_log_p_true", "<f4", (n,))):  # fmt: skip
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", header.getvalue())


def npz_claiming(shape: tuple[int, ...]) -> Callable[[Path], None]:
    """best.weights.npz whose one array's header claims `shape` of float32 (6 GB) and holds no data."""

    def edit(run: Path) -> None:
        import zipfile

        import numpy as np

        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
        with zipfile.ZipFile(run / "best.weights.npz", "w") as archive:
            archive.writestr("arr_0.npy", header.getvalue())  # the magic and the header, no data

    return edit


def model_member(name: str, size: int) -> Callable[[Path], None]:
    """model.keras with one member that expands to `size` bytes (a few kB compressed)."""

    def edit(run: Path) -> None:
        import zipfile

        source = zipfile.ZipFile(run / "model.keras")
        members = {i.filename: source.read(i.filename) for i in source.infolist()}
        source.close()
        members[name] = b"\0" * size
        with zipfile.ZipFile(run / "model.keras", "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)

    return edit


def resumable_with_checkpoint_epoch(epoch: int) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        import numpy as np

        info_field(status="interrupted", metrics=None)(run)
        (run / "model.keras").unlink()
        (run / "metrics.json").unlink()
        np.savez(run / "checkpoint.npz", np.zeros(3), epoch=np.array(epoch))

    return edit


def flip_gzip_byte(tmp: Path, runs: Path) -> None:
    damaged_data(lambda raw: raw)(tmp, runs)
    name = tmp / "data" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray((find_data_dir() / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    name.write_bytes(bytes(data))


def not_our_cache(tmp: Path, runs: Path) -> None:
    (tmp / "thesis").mkdir()
    (tmp / "thesis" / "thesis.tex").write_text("four years of work")


def foreign_study(tmp: Path, runs: Path) -> None:
    import sqlite3

    from fashionlab.experiments.search import plan_search

    plan = plan_search(None, ["lr=loguniform(1e-4,1e-2)", "epochs=1"], "val_accuracy", "tpe", "none")
    (runs / "sweeps").mkdir(parents=True)
    with sqlite3.connect(runs / "sweeps" / f"{plan.search_id}.db") as db:
        db.execute("create table grades (student, mark)")


TRUNCATED_HISTORY = b"epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.5,0.5,0.5,0.5,1\n2,0.4,x\n"


def _animated(path: Path) -> None:
    from PIL import Image

    frames = [Image.new("L", (28, 28), 0), Image.new("L", (28, 28), 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _lambda_model(path: Path) -> None:
    """A model.keras with a Lambda layer (Python bytecode inside): what safe mode refuses."""
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Lambda(lambda x: x * 1.0),
                              keras.layers.Dense(10)])  # fmt: skip
    path.unlink()
    model.save(path)


C = "{tmp}/c.yaml"
TRAIN = ["train", "--config", C]
DATA = {"FASHIONLAB_DATA": "{tmp}/data"}
CASES: dict[str, Case] = {
    # configs
    "yaml syntax": Case(
        TRAIN,
        2,
        r"\S+c.yaml line \d+: not valid YAML \(.*\); check the indentation and colons",
        config_file("layers: [flatten\n"),
    ),
    "unknown key": Case(
        TRAIN,
        2,
        r"\S+ line 2: epoch: unknown key 'epoch'; did you mean 'epochs'\?",
        config_file("layers: [flatten]\nepoch: 5\n"),
    ),
    "wrong type": Case(
        TRAIN,
        2,
        r"\S+ line 2: epochs: input should be a valid integer.*\(got 'ten'\)",
        config_file("layers: [flatten]\nepochs: ten\n"),
    ),
    "epochs below 1": Case(
        TRAIN,
        2,
        r"\S+ line 2: epochs: input should be greater than 0 \(got 0\)",
        config_file("layers: [flatten]\nepochs: 0\n"),
    ),
    "validation_split 1": Case(
        TRAIN,
        2,
        r"\S+ line 2: validation_split: input should be less than 1 \(got 1\)",
        config_file("layers: [flatten]\nvalidation_split: 1\n"),
    ),
    "unknown optimizer": Case(
        TRAIN,
        2,
        r"\S+ line 2: optimizer.name: unknown optimizer 'adamm'; did you mean 'adam'\?",
        config_file("layers: [flatten]\noptimizer: adamm\n"),
    ),
    "unknown loss": Case(
        TRAIN,
        2,
        r"\S+ line 2: loss.name: unknown loss 'mean_squared'; did you mean 'mean_squared_error'\?",
        config_file("layers: [flatten]\nloss: mean_squared\n"),
    ),
    "unknown activation": Case(
        TRAIN,
        2,
        r"\S+ line 1: layers.0.dense.activation: unknown activation 'relux'; did you mean 'relu'\?",
        config_file("layers: [{dense: {units: 10, activation: relux}}]\n"),
    ),
    "unknown layer": Case(
        TRAIN,
        2,
        r"\S+ line 1: layers.0: unknown layer 'lstm'; allowed: flatten, dense, .*",
        config_file("layers: [lstm]\n"),
    ),
    "unknown optimizer argument": Case(
        TRAIN,
        2,
        r"\S+ line 2: optimizer.momentum: adam has no argument 'momentum'; .*",
        config_file("layers: [flatten]\noptimizer: {name: adam, momentum: 0.9}\n"),
    ),
    "no layers": Case(
        TRAIN,
        2,
        r"\S+ line 1: layers: list should have at least 1 item after validation, not 0 \(got \[\]\)",
        config_file("layers: []\n"),
    ),
    "missing config": Case(
        ["train", "--config", "missing.yaml"],
        2,
        r"config file missing.yaml not found; give a path, or the name of a shipped config \(adam, cnn, .*\): 'fashionlab configs' describes them",
    ),
    "config not a mapping": Case(
        TRAIN,
        2,
        r"\S+: a config must be a mapping of keys \(name:, layers:, epochs: \.\.\.\), not str",
        config_file("hello\n"),
    ),
    "input not 28x28": Case(
        ["train", "--config", str(CONFIGS / "tiny.yaml"), "image_size=null"],
        2,
        r"input_shape \[5, 5\] does not match the 28x28 images of Fashion-MNIST; .*image_size: \[5, 5\]",
    ),
    "wrong output units": Case(
        ["train", "layers.2.units=5"], 2, r"the network outputs shape \[5\] but Fashion-MNIST has 10 classes; .*"
    ),
    "conv without channels": Case(
        ["train", "--config", str(CONFIGS / "cnn.yaml"), "input_shape=[28,28]"],
        2,
        r"layers.0 \(conv2d\) needs input of shape \(height, width, channels\) but gets \[28, 28\]; .*",
    ),
    "reshape count": Case(
        ["train", "layers.0={reshape: {target_shape: [10, 10]}}"],
        2,
        r"layers.0 \(reshape\): cannot reshape \[28, 28\] \(784 values\) into \[10, 10\] \(100 values\)",
    ),
    "softmax with from_logits": Case(
        ["train", "--config", str(CONFIGS / "mse.yaml"), "loss=categorical_crossentropy", "loss.from_logits=true"],
        2,
        r"loss.from_logits is true but the last layer already applies softmax, .*",
    ),
    # overrides
    "override without =": Case(
        ["train", "epochs"], 2, r"override 'epochs' is not key=value \(e.g. epochs=5 or optimizer.learning_rate=0.01\)"
    ),
    "unknown override": Case(["train", "epoch=3"], 2, r"unknown override key 'epoch'; did you mean 'epochs'\?"),
    "ambiguous override": Case(
        ["train", "units=3"],
        2,
        r"override key 'units' is ambiguous: it could be layers.1.dense.units, layers.2.dense.units; use the full path",
    ),
    "override index": Case(
        ["train", "layers.9.units=3"],
        2,
        r"override 'layers.9.units=3': index 9 is out of range \(there are 3 entries\)",
    ),
    "override into a value": Case(
        ["train", "seed.x=1"], 2, r"override 'seed.x=\.\.\.': seed is a value, not a section"
    ),
    # sweep axes
    "empty range": Case(
        ["sweep", "epochs=range(5,2)"],
        2,
        r"sweep axis 'epochs=range\(5,2\)': range\(5, 2, 1\) is empty \(stop is excluded\)",
    ),
    "range step 0": Case(
        ["sweep", "epochs=range(1,5,0)"], 2, r"sweep axis 'epochs=range\(1,5,0\)': the step of range cannot be 0"
    ),
    "unknown grid function": Case(
        ["sweep", "lr=normal(0,1)"],
        2,
        r"sweep axis 'lr=normal\(0,1\)': unknown function 'normal'; use range\(...\), .*",
    ),
    "search range in a sweep": Case(
        ["sweep", "lr=loguniform(1e-4,1e-1)"],
        2,
        r"sweep axis 'lr=loguniform\(1e-4,1e-1\)': loguniform\(...\) is a range to search, not a list of values; .*",
    ),
    "search without an axis": Case(["search", "epochs=2"], 2, r"a search needs at least one axis to search, .*"),
    "search range backwards": Case(
        ["search", "lr=uniform(1,0)"], 2, r"search axis 'lr=uniform\(1,0\)': low must be below high"
    ),
    "empty grid value": Case(
        ["sweep", "epochs=1,,2"], 2, r"sweep axis 'epochs=1,,2': an empty value; write values as a,b,c or \[a,b,c\]"
    ),
    "axis twice": Case(
        ["sweep", "epochs=1,2", "epochs=3,4"],
        2,
        r"sweep axis 'epochs' is given twice; list all its values in one: epochs=a,b,c",
    ),
    "bad grid value": Case(
        ["sweep", "epochs=1,zero"], 2, r"override 'epochs=zero': epochs: input should be a valid integer.*"
    ),
    # command-line arguments
    "index out of range": Case(
        ["predict", "--index", "-10001"],
        6,
        r"--index -10001 is out of range; the test set has 10000 images \(0-9999\)",
        needs_run=True,
    ),
    "predict without input": Case(
        ["predict"],
        6,
        r"give one of --index N \(test images: N, A:B or A,B,C\), --image FILE \(or a folder\) or --errors N",
        needs_run=True,
    ),
    "predict with both": Case(
        ["predict", "--index", "1", "--image", "x.png"],
        6,
        r"give one of --index N \(test images: N, A:B or A,B,C\), --image FILE \(or a folder\) or --errors N",
        needs_run=True,
    ),
    "index range backwards": Case(
        ["predict", "--index", "5:3"],
        6,
        r"--index 5:3 selects no image; the test set has 10000 images \(0-9999\)",
        needs_run=True,
    ),
    "index range outside": Case(
        ["predict", "--index", "0:20000"],
        6,
        r"--index 0:20000 reaches outside the test set; the test set has .*",
        needs_run=True,
    ),
    "index not a number": Case(
        ["predict", "--index", "a:b"],
        6,
        r"--index a:b is not an index, a range A:B or a list A,B,C of test images",
        needs_run=True,
    ),
    "grid too big": Case(
        ["predict", "--index", "0:31", "--plot", "{tmp}/p.png"],
        6,
        r"--plot draws at most 30 images in a grid, not 31; pick fewer with --index A:B",
        needs_run=True,
    ),
    "index and errors": Case(
        ["predict", "--index", "1", "--errors", "4"],
        6,
        r"give one of --index N \(test images: N, A:B or A,B,C\), --image FILE \(or a folder\) or --errors N",
        needs_run=True,
    ),
    "data split": Case(
        ["data", "--grid", "{tmp}/g.png", "--split", "val"], 6, r"--split val is not known; use train or test"
    ),
    "predict format": Case(
        ["predict", "--index", "0:3", "--format", "xml"],
        6,
        r"--format xml is not known; use table, csv or json",
        needs_run=True,
    ),
    "empty image folder": Case(
        ["predict", "--image", "{tmp}"],
        6,
        r"folder \S+ holds no PNG or JPEG files",
        needs_run=True,
    ),
    "unknown run": Case(
        ["evaluate", "nosuch"], 4, r"no run 'nosuch' in \S+/; 'fashionlab runs' lists them", needs_run=True
    ),
    "no runs yet": Case(
        ["predict", "--index", "3"], 4, r"no completed runs yet in \S+/; train one with 'fashionlab train'"
    ),
    "bad sort": Case(
        ["compare", "--sort", "fastest"], 6, r"--sort fastest is not a metric; use one of .*", needs_run=True
    ),
    "bad format": Case(
        ["compare", "--format", "xlsx"], 6, r"--format xlsx is not known; use table, csv, md or json", needs_run=True
    ),
    "resume with overrides": Case(
        ["train", "--resume", "x", "epochs=3"],
        6,
        r"--resume takes the run's own config; leave out --config and overrides",
    ),
    "resume a completed run": Case(
        ["train", "--resume", "tutorial"],
        5,
        r"run \S+ is completed; only interrupted or failed runs can be resumed",
        needs_run=True,
    ),
    "unknown sweep": Case(
        ["compare", "--sweep", "sweep-0000"],
        1,
        r"no sweep 'sweep-0000' in \S+/sweeps/ \(recent: none yet\)",
        needs_run=True,
    ),
    # data files
    "data missing": Case(
        ["data"],
        3,
        r"Fashion-MNIST not found \(looked in \S+\); get it with .*",
        env={"FASHIONLAB_DATA": "{tmp}/nothing"},
    ),
    "data truncated": Case(
        ["data"],
        3,
        r"\S+ holds shape \(10000,\) with 992 bytes, expected \(10000,\); the file is truncated or not Fashion-MNIST; .*",
        damaged_data(lambda raw: raw[:1000]),
        env=DATA,
    ),
    "data wrong magic": Case(
        ["data"],
        3,
        r"\S+ is not an IDX file of the expected kind \(bad magic number\); .*",
        damaged_data(lambda raw: b"\x00\x00\x08\x02" + raw[4:]),
        env=DATA,
    ),
    "data wrong labels": Case(
        ["data"], 3, r"\S+ has label 200, outside 0-9; .*", damaged_data(set_label(200)), env=DATA
    ),
    "data altered": Case(
        ["data"],
        3,
        r"\S+ does not match the Fashion-MNIST checksum \(corrupt or altered\); .*",
        damaged_data(set_label(3)),
        env=DATA,
    ),
    "data not gzip": Case(["data"], 3, r"\S+ is not a readable gzip file \(.*\); .*", _not_gzip, env=DATA),
    # images
    "image not an image": Case(
        ["predict", "--image", "{tmp}/x.png"],
        3,
        r"cannot read image \S+x.png \(UnidentifiedImageError\); give a PNG or JPEG file",
        lambda tmp, runs: (tmp / "x.png").write_text("text"),
        needs_run=True,
    ),
    "image missing": Case(["predict", "--image", "{tmp}/none.jpg"], 3, r"image \S+none.jpg not found", needs_run=True),
    # run directories
    "run.json corrupt": Case(
        ["evaluate", "tutorial"],
        5,
        r"run \S+ is broken: run.json is unreadable \(.*\)",
        broken_run(write("run.json", b"{oops")),
        needs_run=True,
    ),
    "run.json missing": Case(
        ["evaluate", "tutorial"],
        5,
        r"run \S+ is broken: run.json is missing",
        broken_run(remove("run.json")),
        needs_run=True,
    ),
    "model from elsewhere": Case(
        ["predict", "--index", "0"],
        5,
        r"run \S+: model.keras cannot be loaded \(\w+\); retrain it",
        broken_run(write("model.keras", b"PK\x03\x04 not keras")),
        needs_run=True,
    ),
    "config.yaml missing": Case(
        ["predict", "--index", "0"],
        5,
        r"run \S+ has no readable config.yaml \(.*\); it cannot be used",
        broken_run(remove("config.yaml")),
        needs_run=True,
    ),
    "model.keras missing": Case(
        ["predict", "--run", "tutorial", "--index", "0"],
        5,
        r"run \S+ has no model.keras \(status completed\); pick a completed run from 'fashionlab runs'",
        broken_run(remove("model.keras")),
        needs_run=True,
    ),
    # ---- issue 13: hostile inputs that hung, ate memory or slipped through
    "yaml alias bomb": Case(
        ["show", "--config", "{tmp}/c.yaml"],
        2,
        r"\S+c.yaml line 1: YAML anchors and aliases \(&name, \*name\) are not supported in configs; write the values out",
        config_file(
            'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
            + "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
            + "layers: [flatten, {dense: {units: 10}}]\n"
        ),
    ),
    "config is a device": Case(
        ["show", "--config", "/dev/zero"], 2, r"config file /dev/zero is not a regular file; give a YAML file"
    ),
    "config is a fifo": Case(
        ["train", "--config", "{tmp}/c.fifo"],
        2,
        r"config file \S+c.fifo is not a regular file; give a YAML file",
        lambda tmp, runs: os.mkfifo(tmp / "c.fifo"),
    ),
    "config too big": Case(
        ["show", "--config", "{tmp}/c.yaml"],
        2,
        r"config file \S+c.yaml is 2,000,001 bytes; a config is at most 1,000,000",
        config_file("#" * 2_000_000 + "\n"),
    ),
    "duplicate yaml key": Case(
        ["train", "--config", "{tmp}/c.yaml"],
        2,
        r"\S+c.yaml line 2: key 'epochs' is given twice; keep one",
        config_file("epochs: 3\nepochs: 4\nlayers: [flatten, {dense: {units: 10}}]\n"),
    ),
    "logspace too long": Case(
        ["sweep", "--dry-run", "lr=logspace(-3,-1,100000000)"],
        2,
        r"sweep axis 'lr=logspace\(-3,-1,100000000\)': 100000000 values is too many \(at most 10000\)",
    ),
    "empty choice": Case(
        ["sweep", "lr=choice()"], 2, r"sweep axis 'lr=choice\(\)': choice\(\) needs at least one value"
    ),
    "endless epochs": Case(
        ["train", "epochs=99999999999999999999999999"],
        2,
        r"override 'epochs=99999999999999999999999999': epochs: input should be less than or equal to 10000 .*",
    ),
    "epochs true": Case(
        ["train", "epochs=true"], 2, r"override 'epochs=true': epochs: input should be a valid integer \(got True\)"
    ),
    "unknown executor in a dry run": Case(
        ["sweep", "--dry-run", "--executor", "foo", "epochs=1,2"], 6, r"--executor foo is not known; use local or ray"
    ),
    "runs dir is a file": Case(
        ["runs"],
        7,
        r"the runs directory \S+ is not a directory; choose another with --runs-dir",
        lambda tmp, runs: runs.write_text("not a folder"),
    ),
    "negative index": Case(
        ["predict", "--index", "-1"],
        6,
        r"--index -1 is out of range; the test set has 10000 images \(0-9999\)",
        needs_run=True,
    ),
    "curves without history": Case(
        ["curves", "--out", "{tmp}/c.png"],
        6,
        r"\S+: no epoch has finished yet, so there are no curves to draw",
        broken_run(remove("history.csv")),
        needs_run=True,
    ),
    "report into a directory": Case(
        ["report", "--out", "{tmp}"],
        6,
        r"\S+ is a folder; give a file name such as \S+report.md",
        needs_run=True,
    ),
    "image bomb": Case(
        ["predict", "--image", "{tmp}/big.png"],
        3,
        r"image \S+big.png is 6000x5000 pixels, more than a photo of clothing needs \(at most 25,000,000\); shrink it first",
        lambda tmp, runs: __import__("PIL.Image").Image.new("L", (6000, 5000)).save(tmp / "big.png"),
        needs_run=True,
    ),
    # ---- issue 20: overrides as safe as config files, limits checked before work, every error its own
    "override alias bomb": Case(
        ["show", "seed=[&a [1,2], *a]"],
        2,
        r"value '\[&a \[1,2\], \*a\]': YAML anchors and aliases \(&name, \*name\) are not supported in overrides; "
        r"write the values out",
    ),
    "grid counted before it is built": Case(
        ["sweep", "--dry-run", "seed=range(0,10000)", "lr=logspace(-4,-1,10000)"],
        2,
        r"the sweep has 100,000,000 trials, more than 10,000; narrow an axis",
    ),
    "network too big for memory": Case(
        ["train", "image_size=[10000,10000]", "input_shape=[10000,10000]"],
        2,
        r"training this network needs about [\d,.]+ TB of memory \(12,800,001,418 parameters: .*\); this machine has "
        r".* free; use fewer units or filters, a smaller image_size or batch_size",
    ),
    "conv filters too many for memory": Case(
        ["train", "--config", str(CONFIGS / "cnn.yaml"), "layers.0.filters=100000"],
        2,
        r"training this network needs about [\d,.]+ [GT]B of memory .*",
    ),
    "seed 2**32": Case(
        ["train", "seed=4294967296"],
        2,
        r"override 'seed=4294967296': seed: input should be less than or equal to 4294967295 \(got 4294967296\)",
    ),
    "validation_split leaves no training image": Case(
        ["train", "validation_split=0.999999"],
        2,
        r"override 'validation_split=0.999999': validation_split: 60,000 training images with validation_split "
        r"0.999999 leave no image to train on; use a validation_split from 1.7e-05 to 0.999983 \(or 0\), or more "
        r"train_samples",
    ),
    "one training image": Case(
        ["train", "train_samples=1"],
        2,
        r"override 'train_samples=1': train_samples: 1 training images with validation_split 0.1 leave no image to "
        r"train on; use 2 or more train_samples, or validation_split 0",
    ),
    "no metrics": Case(
        ["train", "metrics=[]"], 2, r"override 'metrics=\[\]': metrics: list should have at least 1 item .*"
    ),
    "loss axis 5": Case(
        ["train", "loss.axis=5"],
        2,
        r"override 'loss.axis=5': loss.axis: axis 5 does not exist: labels and outputs have one row per image, so "
        r"axis is -1 \(the classes\); drop it",
    ),
    "beta_1 5": Case(
        ["train", "beta_1=5"],
        2,
        r"override 'beta_1=5': optimizer.beta_1: should be at least 0 and less than 1 \(got 5\)",
    ),
    "clipnorm -1": Case(
        ["train", "clipnorm=-1"], 2, r"override 'clipnorm=-1': optimizer.clipnorm: should be greater than 0 \(got -1\)"
    ),
    "infinite learning rate": Case(
        ["train", "lr=1e400"],
        2,
        r"override 'lr=1e400': optimizer.learning_rate: input should be a finite number \(got inf\)",
    ),
    "logspace beyond floats": Case(
        ["sweep", "--dry-run", "lr=logspace(-400,400,5)"],
        2,
        r"sweep axis 'lr=logspace\(-400,400,5\)': 10\^a and 10\^b must be numbers a float holds; use a and b from "
        r"-300 to 300",
    ),
    # ---- issue 20: every file read is bounded and checked
    "data gzip bomb": Case(
        ["data"],
        3,
        r"\S+t10k-labels-idx1-ubyte.gz expands to more than the 10,008 bytes of t10k-labels-idx1-ubyte.gz; it is "
        r"not Fashion-MNIST; .*",
        damaged_data(lambda raw: raw + b"\0" * 20_000_000),
        env=DATA,
    ),
    "data gzip byte flipped": Case(
        ["data"],
        3,
        r"\S+t10k-labels-idx1-ubyte.gz (is not a readable gzip file \(.*\)|does not match the Fashion-MNIST "
        r"checksum \(corrupt or altered\)|has label \d+, outside 0-9|is not an IDX file.*|holds shape .*|expands to "
        r"more than the 10,008 bytes .*); .*",
        flip_gzip_byte,
        env=DATA,
    ),
    "run.json is a fifo": Case(
        ["evaluate", "tutorial"],
        5,
        r"run \S+ is broken: run.json is unreadable \(\S+run.json is not a regular file\)",
        broken_run(fifo("run.json")),
        needs_run=True,
    ),
    "config.yaml is /dev/zero": Case(
        ["predict", "--index", "0"],
        5,
        r"run \S+ has no readable config.yaml \(\S+config.yaml is not a regular file( \(a symbolic link\))?\); it cannot be used",
        broken_run(device("config.yaml")),
        needs_run=True,
    ),
    "run.json field of the wrong type": Case(
        ["evaluate", "tutorial"],
        5,
        r"run \S+ is broken: run.json field started is 5, not str",
        broken_run(info_field(started=5)),
        needs_run=True,
    ),
    "run.json metrics summary not an object": Case(
        ["evaluate", "tutorial"],
        5,
        r"run \S+ is broken: run.json field metrics.summary is str, not an object",
        broken_run(info_field(metrics={"summary": "x"})),
        needs_run=True,
    ),
    "history.csv truncated": Case(
        ["curves", "--out", "{tmp}/c.png"],
        5,
        r"run \S+: history.csv is unreadable \(line 3 is not a row of numbers\); it cannot be used",
        broken_run(write("history.csv", TRUNCATED_HISTORY)),
        needs_run=True,
    ),
    "best weights claiming 6 GB": Case(
        ["predict", "--epoch", "best", "--index", "0"],
        5,
        r"run \S+: best.weights.npz does not match its model",
        broken_run(npz_claiming((1_500_000_000,))),
        needs_run=True,
    ),
    "best weights corrupt": Case(
        ["predict", "--epoch", "best", "--index", "0"],
        5,
        r"run \S+: best.weights.npz is unreadable \(.*\)",
        broken_run(write("best.weights.npz", b"PK\x03\x04 not an archive")),
        needs_run=True,
    ),
    "model.keras zip bomb": Case(
        ["predict", "--index", "0"],
        5,
        r"run \S+: model.keras holds model.weights.h5 of 8,000,000 bytes, more than a model of [\d,]+ parameters "
        r"needs; it was not made by this run: retrain it",
        broken_run(model_member("model.weights.h5", 8_000_000)),
        needs_run=True,
    ),
    "images.npz is a fifo": Case(
        ["evaluate"],
        5,
        r"run \S+: images.npz is unreadable \(\S+images.npz is not a regular file( \(a symbolic link\))?\); "
        r"`fashionlab evaluate \S+` writes it again",
        broken_run(fifo("images.npz")),
        needs_run=True,
    ),
    "images.npz claiming a billion images": Case(
        ["predict", "--errors", "3"],
        5,
        r"run \S+: images.npz does not hold one answer per test image; it was not made by this run: "
        r"`fashionlab evaluate \S+` writes it again",
        broken_run(lambda run: _images_claiming(run, 1_000_000_001)),
        needs_run=True,
    ),
    "checkpoint epoch -5": Case(
        ["train", "--resume", "tutorial"],
        5,
        r"run \S+: checkpoint.npz says epoch -5, outside 0-2; it is not this run's checkpoint: delete it to start "
        r"the run over",
        broken_run(resumable_with_checkpoint_epoch(-5)),
        needs_run=True,
    ),
    "image is a fifo": Case(
        ["predict", "--image", "{tmp}/x.png"],
        3,
        r"cannot read image \S+x.png: \S+x.png is not a regular file; give a PNG or JPEG file",
        lambda tmp, runs: os.mkfifo(tmp / "x.png"),
        needs_run=True,
    ),
    "cache folder not fashionlab's": Case(
        ["cache", "--clear"],
        6,
        r"\S+thesis is not a cache fashionlab made \(it has no CACHEDIR.TAG of fashionlab's\), so fashionlab neither "
        r"uses nor clears it; point FASHIONLAB_CACHE at a new or empty folder",
        not_our_cache,
        env={"FASHIONLAB_CACHE": "{tmp}/thesis"},
    ),
    "foreign optuna database": Case(
        ["search", "--trials", "1", "lr=loguniform(1e-4,1e-2)", "epochs=1"],
        1,
        r"\S+search-\w+.db is an SQLite database but not an Optuna study; move it away to start the search afresh "
        r"\(its runs stay in the runs directory\)",
        foreign_study,
    ),
    "run config no longer validates": Case(
        ["evaluate"],
        5,
        r"\S+config.yaml: epochs: input should be greater than 0 \(got 0\); the run cannot be used with a "
        r"config.yaml that does not validate: restore the file or train it again",
        broken_run(
            lambda run: (run / "config.yaml").write_text(
                (run / "config.yaml").read_text().replace("epochs: 2", "epochs: 0")
            )
        ),
        needs_run=True,
    ),
    # ---- issue 31: every error its own message
    "draw onto a device": Case(
        ["show", "--draw", "/dev/null"],
        6,
        r"/dev/null is a device, not a regular file; fashionlab writes regular files only \(for the numbers on "
        r"stdout use --json\): give a file name",
    ),
    "draw as pdf": Case(
        ["show", "--draw", "{tmp}/net.pdf"],
        6,
        r"\S+net.pdf: fashionlab writes pictures as .png only; name the file \S+net.png",
    ),
    "draw over a user's file": Case(
        ["show", "--draw", "{tmp}/mine.png"],
        6,
        r"\S+mine.png is a file fashionlab did not make; give another name, or add --force to replace it",
        lambda tmp, runs: (tmp / "mine.png").write_text("mine"),
    ),
    "curves through a symlink": Case(
        ["curves", "--out", "{tmp}/link.png"],
        6,
        r"\S+link.png is a symbolic link; fashionlab writes regular files only and never through a link: give the "
        r"real path or another name",
        lambda tmp, runs: (tmp / "link.png").symlink_to(tmp / "elsewhere.png"),
        needs_run=True,
    ),
    "report over a user's folder": Case(
        ["report", "--out", "{tmp}/thesis.md"],
        6,
        r"\S+thesis_files is a folder fashionlab did not make; give another name, or add --force to replace it",
        lambda tmp, runs: (tmp / "thesis_files").mkdir(),
        needs_run=True,
    ),
    "export over a dangling link": Case(
        ["export", "--format", "onnx", "--out", "{tmp}/m.onnx"],
        6,
        r"\S+m.onnx is a symbolic link; remove it or give another --out",
        lambda tmp, runs: (tmp / "m.onnx").symlink_to(tmp / "outside.onnx"),
        needs_run=True,
    ),
    "sweep pattern as an id": Case(
        ["compare", "--sweep", "*"], 1, r"no sweep '\*' in \S+/sweeps/ \(recent: none yet\)"
    ),
    "config nested 30 deep": Case(
        TRAIN,
        2,
        r"\S+c.yaml line 1: nested more than 20 deep; no config key takes that",
        config_file("a: " + "[" * 30 + "]" * 30 + "\n"),
    ),
    "config file name too long": Case(
        ["train", "--config", "{tmp}/" + "a" * 300 + ".yaml"],
        2,
        r"cannot read config file \S+: \[Errno 36\] File name too long: .*",
    ),
    "image file name too long": Case(
        ["predict", "--image", "{tmp}/" + "a" * 300 + ".png"],
        6,
        r"the file name \S+\.\.\. is too long \(at most 255 bytes a name\); give a shorter one",
        needs_run=True,
    ),
    "animated image": Case(
        ["predict", "--image", "{tmp}/a.gif"],
        3,
        r"image \S+a.gif is animated \(2 frames\); give a still PNG or JPEG \(one frame of it\)",
        lambda tmp, runs: _animated(tmp / "a.gif"),
        needs_run=True,
    ),
    "model with a lambda layer": Case(
        ["predict", "--index", "0"],
        5,
        r"run \S+: model.keras holds Python code \(a Lambda layer\), which Keras runs only when told to load unsafely "
        r"and fashionlab never does; it was not made by this run: retrain it",
        broken_run(lambda run: _lambda_model(run / "model.keras")),
        needs_run=True,
    ),
    "mlflow database in /proc": Case(
        ["train", "epochs=1", "--mlflow", "--mlflow-uri", "sqlite:////proc/x.db"],
        1,
        r"cannot log to MLflow at sqlite:////proc/x.db: the database file /proc/x.db cannot be written there; check "
        r"--mlflow-uri \(or MLFLOW_TRACKING_URI\)",
    ),
}


def snapshot(path: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        if path.exists()
        else {}
    )


def test_the_catalogue_is_large() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, trained: Cli) -> None:
    case = CASES[name]
    runs = tmp_path / "runs"
    if case.needs_run:
        shutil.copytree(trained.runs_dir, runs)
    if case.setup:
        case.setup(tmp_path, runs)
    before = snapshot(runs)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in case.env.items()}
    result = Cli(runs)(*args, env=env)
    assert result.exit_code == case.code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.stderr
    assert re.fullmatch(case.message, lines[0][len("Error: ") :]), lines[0]
    assert snapshot(runs) == before  # nothing written, nothing half-written


def test_a_broken_run_never_stops_the_listing(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (run,) = list(runs.iterdir())
    for name, data in (("a", b"{"), ("b", b"[]"), ("c", None)):
        broken = runs / f"{run.name}-{name}"
        shutil.copytree(run, broken)
        if data is None:
            (broken / "run.json").unlink()
        else:
            (broken / "run.json").write_bytes(data)
    (runs / "stray-file.txt").write_text("not a run")
    (run / "metrics.json").write_text("{nope")
    info = json.loads((run / "run.json").read_text())
    info.pop("metrics", None)
    (run / "run.json").write_text(json.dumps(info))
    result = Cli(runs)("runs", "--json")
    assert result.exit_code == 0
    statuses = sorted(r["status"] for r in json.loads(result.stdout))
    assert statuses == ["broken", "broken", "broken", "completed"]
    assert Cli(runs)("compare").exit_code == 0


def test_empty_runs_dir_means_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FASHIONLAB_RUNS= or --runs-dir '' is unset, not the current folder (whose folders are not runs)."""
    from typer.testing import CliRunner

    from fashionlab.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "some-folder").mkdir()
    for args, env in (([], {"FASHIONLAB_RUNS": ""}), (["--runs-dir", ""], {})):
        result = CliRunner().invoke(app, [*args, "runs"], env={"COLUMNS": "220", **env})
        assert result.exit_code == 0 and result.stderr == "No runs yet in runs/; train one with 'fashionlab train'.\n"


def test_report_leaves_out_a_broken_run(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    broken = runs / f"{run.name[:-1]}x"
    shutil.copytree(run, broken)
    (broken / "config.yaml").write_text("layers: [unclosed\n")
    result = Cli(runs)("report", "--out", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    assert f"Warning: leaving out run {broken.name}: run {broken.name} has no readable config.yaml" in result.stderr
    assert (tmp_path / "r.md").is_file()
