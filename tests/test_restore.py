"""`bigprior restore`, the built-in default models and the one-command demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data

from bigprior.defaults import task_defaults
from bigprior.demo import TaskResult, format_table
from bigprior.generators import load_pggan
from bigprior.zoo import DEFAULT_GENERATOR
from bigprior.restore import main as restore_main
from bigprior.runtime import run_cli
from conftest import ROOT, run_script

OUTPUT_KINDS = ("input", "prior", "restored", "phi", "phi_overlay", "figure")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(skimage_data.chelsea()).save(path)  # 451x300: restored at 64x64, written back at 451x300
    return path


def test_committed_models_load_and_run():
    generator = load_pggan(DEFAULT_GENERATOR)  # the loader of the published checkpoints
    with torch.no_grad():
        samples = generator(torch.randn(8, generator.z_dim, generator=torch.Generator().manual_seed(0)))
    assert samples.shape == (8, 3, generator.resolution, generator.resolution)
    assert torch.isfinite(samples).all() and (samples.abs() <= 1.5).float().mean() > 0.99
    defaults = task_defaults()
    assert set(defaults) == {"col", "inpcrop", "inpvar", "denblind"}
    for task, default in defaults.items():
        channels = 1 if task == "col" else 3
        model = default.fusion_model(channels, torch.device("cpu"))
        x, prior = torch.rand(1, channels, 32, 32), torch.rand(1, 3, 32, 32)
        with torch.no_grad():
            out, phi = model(x, prior)
        assert out.shape == phi.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    total = sum(p.stat().st_size for p in DEFAULT_GENERATOR.parent.glob("*.pth"))
    assert total < 20e6  # all committed weights together


@pytest.mark.parametrize("task, extra", [("colorize", []), ("inpaint", []), ("inpaint", ["--random_mask", "True"]),
                                         ("denoise", [])])
def test_restore_with_degrade_beats_the_degraded_input(tmp_path, photo, task, extra):
    out = tmp_path / "out"
    assert run_cli(restore_main, ["--task", task, "--input", str(photo), "--out", str(out), "--degrade", "True",
                                  "--device", "cpu", *extra]) == 0
    for kind in OUTPUT_KINDS:
        image = Image.open(out / f"chelsea_{kind}.png")
        if kind != "figure":  # written back at the photo's own size
            assert image.size == (451, 300)
    scores = json.loads((out / "chelsea_metrics.json").read_text())
    assert scores["bigprior_psnr"] > scores["degraded_psnr"], scores
    assert 0 <= scores["phi_mean"] <= 1


def test_restore_a_degraded_photo_and_rgba_input(tmp_path, photo):
    rgba = tmp_path / "noisy.png"
    noisy = np.clip(skimage_data.coffee() + np.random.default_rng(0).normal(0, 20, (400, 600, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).convert("RGBA").save(rgba)
    out = tmp_path / "out"
    assert run_cli(restore_main, ["--task", "denoise", "--input", str(rgba), "--out", str(out), "--device", "cpu"]) == 0
    assert Image.open(out / "noisy_restored.png").mode == "RGB"
    scores = json.loads((out / "noisy_metrics.json").read_text())
    assert "bigprior_psnr" not in scores and np.isfinite(scores["phi_mean"])


def test_restore_inpaints_with_a_given_mask(tmp_path, photo):
    mask = np.zeros((300, 451), np.uint8)
    mask[100:180, 250:400] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    assert run_cli(restore_main, ["--task", "inpaint", "--input", str(photo), "--mask", str(tmp_path / "mask.png"),
                                  "--out", str(out), "--degrade", "True", "--device", "cpu"]) == 0
    observed = np.asarray(Image.open(out / "chelsea_input.png"))
    assert observed[120:160, 280:370].max() < 40  # the hole is what was removed


@pytest.mark.parametrize("case", ["unreadable", "mask_size", "unknown_task", "gray_denoise"])
def test_restore_bad_input(tmp_path, photo, capsys, case):
    args = ["--task", "denoise", "--input", str(photo)]
    if case == "unreadable":
        bad = tmp_path / "broken.png"
        bad.write_bytes(b"not an image")
        args = ["--task", "denoise", "--input", str(bad)]
        expected = "broken.png: not a readable image"
    elif case == "mask_size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
        args = ["--task", "inpaint", "--input", str(photo), "--mask", str(tmp_path / "small.png")]
        expected = "--mask: the mask is 10x10"
    elif case == "unknown_task":
        args = ["--task", "deblur", "--input", str(photo)]
        expected = "--task 'deblur'"
    else:
        gray = tmp_path / "gray.png"
        Image.fromarray(skimage_data.camera()).save(gray)
        args = ["--task", "denoise", "--input", str(gray)]
        expected = "grayscale image; denoising expects an RGB photo"
    out = tmp_path / "out"
    assert run_cli(restore_main, [*args, "--out", str(out), "--device", "cpu"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and expected in err[0], err
    assert not out.exists() or not any(out.iterdir())


def test_demo_quick_writes_its_table_and_figure(tmp_path):
    out = tmp_path / "demo"
    result = run_script([str(ROOT / "code" / "demo.py"), "--quick", "--out", str(out), "--device", "cpu"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"figure: {out / 'demo_grid.png'}" in result.stdout
    table = (out / "demo_table.txt").read_text()
    for task in ("colorization", "inpainting (centre)", "inpainting (random)", "denoising"):
        assert task in table and task in result.stdout
    rows = json.loads((out / "demo_results.json").read_text())
    assert len(rows) == 8 and all(np.isfinite(r["bigprior_psnr"]) for r in rows)
    assert Image.open(out / "demo_grid.png").size[1] > 1000  # 8 rows of panels


class _Scored:
    def __init__(self, prior_psnr: float, bigprior_psnr: float) -> None:
        self._scores = {"prior_psnr": prior_psnr, "bigprior_psnr": bigprior_psnr, "prior_ssim": 0.5,
                        "bigprior_ssim": 0.5, "phi_mean": 0.2}

    def scores(self) -> dict[str, float]:
        return self._scores


def test_demo_table_names_the_tasks_where_fusion_loses_to_the_prior():
    results = [TaskResult("colorization", [_Scored(20.0, 19.0), _Scored(18.0, 18.5)], 1.0),
               TaskResult("denoising", [_Scored(18.0, 23.0)], 1.0)]
    table = format_table(results)
    assert table.splitlines()[1].split()[:3] == ["colorization", "19.00", "18.75"]
    assert table.splitlines()[-1].startswith("note: BIGPrior is below its prior on colorization:")
    assert "note" not in format_table(results[1:])
