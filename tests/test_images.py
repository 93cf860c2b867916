"""Images as a photo app shows them (issue 31): EXIF orientation applied, 16-bit pixels scaled, not
clipped, animated images refused; a download that never answers ends."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionlab import data
from fashionlab.errors import DataError

FASHION = (28, 28)  # Fashion-MNIST's image size: what load_image fits a file into


def _shirt() -> np.ndarray:
    """A light, tall, asymmetric shape on black (so a turn shows)."""
    arr = np.zeros((80, 40), dtype=np.uint8)
    arr[5:75, 5:35] = 200
    arr[5:20, 5:12] = 255  # a mark in one corner
    return arr


def test_a_phone_photo_is_turned_by_its_exif_orientation(tmp_path: Path) -> None:
    upright = Image.fromarray(_shirt())
    upright.save(tmp_path / "upright.png")
    # a phone stores the sensor's pixels turned and says "rotate 90 CW to show" (orientation 6)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.png", exif=exif)
    want, _ = data.load_image(tmp_path / "upright.png", FASHION)
    got, _ = data.load_image(tmp_path / "phone.png", FASHION)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, data.load_image(tmp_path / "phone.png", FASHION)[0].T)  # a turn would show


def test_16_bit_pixels_are_scaled_not_clipped(tmp_path: Path) -> None:
    eight = _shirt()
    Image.fromarray(eight).save(tmp_path / "eight.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # mode I;16
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    want, _ = data.load_image(tmp_path / "eight.png", FASHION)
    got, _ = data.load_image(tmp_path / "sixteen.png", FASHION)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1 and got.max() > 100


def test_an_animated_image_is_refused(tmp_path: Path) -> None:
    frames = [Image.new("L", (28, 28), 0), Image.fromarray(_shirt()).resize((28, 28))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(DataError) as caught:
        data.load_image(tmp_path / "a.gif", FASHION)
    assert str(caught.value) == (
        f"image {tmp_path / 'a.gif'} is animated (2 frames); give a still PNG or JPEG (one frame of it)"
    )


def test_a_png_with_a_huge_text_chunk_is_one_line(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 20_000_000, zip=True)
    Image.fromarray(_shirt()).save(tmp_path / "big-text.png", pnginfo=info)
    with pytest.raises(DataError, match=r"cannot read image \S+big-text.png: it is damaged or cut short \(.+\); "):
        data.load_image(tmp_path / "big-text.png", FASHION)


def test_a_download_that_never_answers_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # accepts connections (the kernel does) and never answers
    monkeypatch.setattr(data, "DOWNLOAD_URL", f"http://127.0.0.1:{server.getsockname()[1]}/")
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 1)
    try:
        with pytest.raises(DataError, match=r"download of train-images-idx3-ubyte.gz failed \(no answer in 1 s\)"):
            data.download(tmp_path)
    finally:
        server.close()
    assert not list(tmp_path.iterdir())  # no .part left
