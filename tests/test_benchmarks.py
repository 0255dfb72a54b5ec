"""The inversion benchmark at toy scale: its reference loop agrees with the batched one, and the random
networks it saves load through the project's loaders (so check-inversion can time the paper's settings)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch

from conftest import ROOT, run_script

sys.path.insert(0, str(ROOT / "benchmarks"))
from peaks import peak_tflops, share_text  # noqa: E402

from bigprior.generators import load_pggan
from bigprior.inversion.losses import vgg16_features

BENCHMARK = str(ROOT / "benchmarks" / "inversion.py")
TOY = ["--device", "cpu", "--resolution", "32", "--fmaps_max", "32", "--threads", "1"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_inversion_benchmark_reference_matches_batched_loop(tmp_path: Path) -> None:
    """Strict fp32 on a CPU: the batched loop and mGANprior's reference agree after 1 and after 4 steps (on a
    CPU a batch equals single images bit for bit, so even the 4-step images agree to rounding), with verdicts."""
    result = run_script([BENCHMARK, *TOY, "--batch_size", "3", "--steps", "1", "--warmup", "1", "--reference_steps", "1",
                         "--check_steps", "1,4", "--check_images", "2", "--precision", "fp32", "--stylegan2", "",
                         "--record", str(tmp_path / "rec.jsonl")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kept = records(tmp_path / "rec.jsonl")
    assert [r["kind"] for r in kept] == ["reference", "rate", "check", "check"] * 2, kept
    rates = [r for r in kept if r["kind"] == "rate"]
    assert all(r["rate"] > 0 and r["gflop"] > 0 and r["share"] is None for r in rates), rates
    checks = [r for r in kept if r["kind"] == "check"]
    assert [(r["steps"], r["images"]) for r in checks] == [(1, 2), (4, 2)] * 2
    assert all(r["agree"] and r["max_difference"] < 1e-4 for r in checks), checks
    assert result.stdout.count("agree to rounding") == 2 and result.stdout.count("same quality") == 2, result.stdout


def test_inversion_benchmark_compares_the_timed_priors_with_another_precision(tmp_path: Path) -> None:
    """--compare fp32 scores the timed bf16 priors (not a second bf16 run) against an fp32 run of the first
    --compare_images images; --reference_steps 0 leaves the reference loop out."""
    result = run_script([BENCHMARK, *TOY, "--settings", "col", "--stylegan2", "", "--batch_size", "3", "--steps", "1",
                         "--warmup", "1", "--reference_steps", "0", "--check_steps", "", "--precision", "bf16",
                         "--compare", "fp32", "--compare_images", "2", "--record", str(tmp_path / "rec.jsonl")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rate, compare = records(tmp_path / "rec.jsonl")
    assert rate["kind"] == "rate" and rate["precision"] == "bf16" and compare["kind"] == "compare"
    assert compare["images"] == 2 and compare["steps"] == 2 and compare["against"] == "fp32"
    assert abs(compare["gap"] - (compare["psnr"] - compare["psnr_against"])) < 1e-9 and compare["mutual_psnr"] > 20


def test_peaks_are_read_by_the_gpus_name_and_unknown_ones_are_not_guessed() -> None:
    assert peak_tflops("NVIDIA H200", "bf16") == 989.4 and peak_tflops("NVIDIA H200 NVL", "bf16") == 835.5
    assert peak_tflops("NVIDIA H100 80GB HBM3", "fp32") == 66.9 and peak_tflops("NVIDIA H100 PCIe", "default") == 378.0
    assert peak_tflops("NVIDIA GeForce RTX 4090", "bf16") is None
    assert share_text(49.47, "NVIDIA H100 80GB HBM3", "default") == (
        "10% of the NVIDIA H100 80GB HBM3's dense TF32 peak (495 TFLOP/s)")
    assert "n/a" in share_text(1.0, "NVIDIA GeForce RTX 4090", "fp32")


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
    rates = re.findall(r"StyleGAN2 (z|w|w\+|multi)[:,].* batched \([^)]*\) ([0-9.]+) image-steps/s", result.stdout)
    assert [space for space, _ in rates] == ["z", "w", "w+", "multi"] and all(float(r) > 0 for _, r in rates), result.stdout
    refused = run_script([BENCHMARK, *TOY, "--stylegan2", "w++"], cwd=tmp_path)
    assert refused.returncode == 2 and "--stylegan2: unknown latent space(s) w++" in refused.stderr


def test_fusion_epoch_benchmark_strict_mode_equals_the_reference_loop(tmp_path: Path) -> None:
    result = run_script([str(ROOT / "benchmarks" / "fusion_epoch.py"), "--device", "cpu", "--images", "6", "--size", "16",
                         "--epochs", "2", "--layers", "3", "--batch_size", "2", "--threads", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"fp32 vs release-style TF32-off loop 0\.00e\+00;", result.stdout), result.stdout
    assert len(re.findall(r"s/epoch", result.stdout)) == 5


def test_restore_speed_counts_a_nested_stage_once_and_threads_each() -> None:
    """benchmarks/restore_speed.py's stage clock: a timed call inside another (scores inside the writer) counts
    for its own stage only; calls in other threads add up (stages that overlap can sum to more than the wall)."""
    import threading
    import time as clock_time

    import restore_speed

    clock = restore_speed.StageClock()
    score = clock.wrap("score", lambda: clock_time.sleep(0.2))
    write = clock.wrap("write", lambda: (clock_time.sleep(0.02), score()))
    write()
    threads = [threading.Thread(target=score) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0.02 <= clock.seconds["write"] < 0.15 and 0.6 <= clock.seconds["score"] < 1.5, clock.seconds
