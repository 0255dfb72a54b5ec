"""The inversion benchmark at toy scale: its reference loop agrees with the batched one, and the random
networks it saves load through the project's loaders (so check-inversion can time the paper's settings)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from conftest import ROOT, run_script

from bigprior.generators import load_pggan
from bigprior.inversion.losses import vgg16_features

BENCHMARK = str(ROOT / "benchmarks" / "inversion.py")
TOY = ["--device", "cpu", "--resolution", "32", "--fmaps_max", "32", "--threads", "1"]


def test_inversion_benchmark_reference_matches_batched_loop(tmp_path: Path) -> None:
    result = run_script([BENCHMARK, *TOY, "--batch_size", "2", "--steps", "1", "--warmup", "1",
                         "--reference_steps", "1", "--check_steps", "4", "--precision", "fp32"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rates = re.findall(r"batched ([0-9.]+) image-steps/s: ([0-9.]+)x", result.stdout)
    assert len(rates) == 2 and all(float(rate) > 0 for rate, _ in rates), result.stdout
    differences = [float(d) for d in re.findall(r"max \|batched - reference\| = ([0-9.e+-]+)", result.stdout)]
    assert len(differences) == 2 and max(differences) < 1e-4, result.stdout


def test_saved_random_networks_load_through_the_published_loaders(tmp_path: Path) -> None:
    result = run_script([BENCHMARK, *TOY, "--save_random", str(tmp_path / "nets")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    generator = load_pggan(tmp_path / "nets" / "random_pggan32.pth")
    assert generator.resolution == 32 and max(generator.channels) == 32
    with torch.no_grad():
        image = generator(torch.randn(2, generator.z_dim))
    assert image.shape == (2, 3, 32, 32) and torch.isfinite(image).all()
    features = vgg16_features(16, tmp_path / "nets" / "random_vgg16.pth")
    assert features(torch.rand(1, 3, 32, 32)).shape[1] == 256


def test_inversion_benchmark_times_stylegan2_latent_spaces(tmp_path: Path) -> None:
    result = run_script([BENCHMARK, *TOY, "--settings", "", "--stylegan2", "z,w,w+,multi", "--batch_size", "2",
                         "--steps", "1", "--warmup", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rates = re.findall(r"StyleGAN2 (z|w|w\+|multi)[:,].* batched ([0-9.]+) image-steps/s", result.stdout)
    assert [space for space, _ in rates] == ["z", "w", "w+", "multi"] and all(float(r) > 0 for _, r in rates), result.stdout
    refused = run_script([BENCHMARK, *TOY, "--stylegan2", "w++"], cwd=tmp_path)
    assert refused.returncode == 2 and "--stylegan2: unknown latent space(s) w++" in refused.stderr


def test_fusion_epoch_benchmark_strict_mode_equals_the_reference_loop(tmp_path: Path) -> None:
    result = run_script([str(ROOT / "benchmarks" / "fusion_epoch.py"), "--device", "cpu", "--images", "6", "--size", "16",
                         "--epochs", "2", "--layers", "3", "--batch_size", "2", "--threads", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"fp32 vs release-style TF32-off loop 0\.00e\+00;", result.stdout), result.stdout
    assert len(re.findall(r"s/epoch", result.stdout)) == 5
