"""`bigprior prepare-lsun` on a tiny LMDB database in the official LSUN layout (key -> encoded image)."""

from __future__ import annotations

import io

import lmdb
import numpy as np
import pytest
from PIL import Image

from bigprior.lsun import main as prepare_lsun
from bigprior.commandline import run_cli


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
    return buffer.getvalue()


@pytest.fixture
def lsun_lmdb(tmp_path):
    """Three images of different sizes and formats, inserted out of key order."""
    rng = np.random.default_rng(0)
    images = {
        "ffa1": Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)),
        "0b2c": Image.fromarray(rng.integers(0, 256, (256, 341, 3), dtype=np.uint8)),
        "7d3e": Image.fromarray(rng.integers(0, 256, (200, 200), dtype=np.uint8), "L"),
    }
    blobs = {"ffa1": encoded(images["ffa1"], "WEBP"), "0b2c": encoded(images["0b2c"], "JPEG"),
             "7d3e": encoded(images["7d3e"], "PNG")}
    path = tmp_path / "bedroom_val_lmdb"
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for key, blob in blobs.items():
            txn.put(key.encode(), blob)
    env.close()
    return path, blobs


def test_prepare_lsun_writes_the_first_keys_as_256_pngs(tmp_path, lsun_lmdb, capsys):
    path, blobs = lsun_lmdb
    out = tmp_path / "data" / "lsun" / "bedroom"
    assert run_cli(prepare_lsun, [str(path), "--out", str(out), "--count", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0b2c.png", "7d3e.png"]  # LMDB key order
    for key in ("0b2c", "7d3e"):
        written = Image.open(out / f"{key}.png")
        assert written.mode == "RGB" and written.size == (256, 256)
        expected = Image.open(io.BytesIO(blobs[key])).convert("RGB").resize((256, 256), Image.BICUBIC)
        np.testing.assert_array_equal(np.asarray(written), np.asarray(expected))
    assert "wrote 2 images" in capsys.readouterr().out

    assert run_cli(prepare_lsun, [str(path), "--out", str(out), "--count", "300"]) == 0
    printed = capsys.readouterr().out
    assert "holds only 3 images" in printed and "wrote 1 images, 2 already there" in printed
    assert Image.open(out / "ffa1.png").size == (256, 256)  # the WebP one


def test_prepare_lsun_errors(tmp_path, lsun_lmdb, capsys):
    assert run_cli(prepare_lsun, [str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "not an LMDB folder" in capsys.readouterr().err
    path, _ = lsun_lmdb
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"0000", b"garbage")
    env.close()
    assert run_cli(prepare_lsun, [str(path), "--out", str(tmp_path / "out")]) == 2
    assert "key 0000: not a decodable image" in capsys.readouterr().err
