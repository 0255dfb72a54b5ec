"""Issue 23: `bigprior restore` over folders and batches: which photos and names, results independent of
batching and of the CPU workers, resume, a bad photo among good ones, mask folders, summary.csv, progress
off a terminal, and the pipeline's fast paths against its strict one. Small photos and 2 inversion steps:
the built-in networks do the work, these tests check what the run does with it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigprior import metrics, progress
from bigprior.commandline import run_cli
from bigprior.defaults import load_defaults
from bigprior.fusion.inference import inference_copy
from bigprior.pipeline import Pipeline, fuse_photo, fuse_tiled
from bigprior.restore import main as restore_main
from bigprior.restore_folder import SETTINGS_FILE, SUMMARY_FILE
from bigprior.workers import CpuWorkers

STEPS = ["--iterations", "2", "--device", "cpu"]


def photo(path: Path, width: int = 40, height: int = 30, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 3))
    pixels = np.clip(base + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def restore(out: Path, inputs: list[Path], *extra: str, task: str = "denoise") -> int:
    return run_cli(restore_main, ["--task", task, "--input", *map(str, inputs), "--out", str(out), *STEPS, *extra])


def summary(out: Path) -> dict[str, dict]:
    with open(out / SUMMARY_FILE) as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def outputs(out: Path) -> dict[str, bytes]:
    """Every restored image and phi array, by file name: what must not depend on how the run was cut up."""
    return {p.name: (np.asarray(Image.open(p)).tobytes() if p.suffix == ".png" else p.read_bytes())
            for p in sorted(out.iterdir()) if p.name.endswith(("_restored.png", "_prior.png", "_phi.npy"))}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """a.png, b.jpg, sub/a.png, sub/c.png, and what is not a photo: a hidden file, a text file."""
    root = tmp_path / "photos"
    photo(root / "a.png", seed=1)
    photo(root / "b.jpg", 36, 28, seed=2)
    photo(root / "sub" / "a.png", 33, 41, seed=3)
    photo(root / "sub" / "c.png", seed=4)
    photo(root / ".hidden.png", seed=5)
    (root / "notes.txt").write_text("not a photo")
    return root


def test_a_folder_is_its_photos_sorted_and_recursive_adds_subfolders(folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert restore(out, [folder], "--degrade", "True") == 0
    assert sorted(summary(out)) == ["a", "b"]
    inside = folder / "restored"  # an output folder inside the input folder: its files are never input
    assert restore(inside, [folder], "--recursive") == 0
    assert "sub/a.png: its outputs are named a_2_*" in capsys.readouterr().err
    rows = summary(inside)
    assert [rows[name]["input"] for name in ("a", "b", "a_2", "c")] == [
        str(folder / "a.png"), str(folder / "b.jpg"), str(folder / "sub" / "a.png"), str(folder / "sub" / "c.png")]
    assert Image.open(inside / "a_2_restored.png").size == (33, 41)
    assert restore(inside, [folder], "--recursive") == 0  # the rerun sees the same 4 photos, all complete
    assert {row["status"] for row in summary(inside).values()} == {"complete before"}


@pytest.mark.parametrize("precision", ["default", "fp32"])
def test_results_do_not_depend_on_the_batch_size(tmp_path: Path, precision: str) -> None:
    """Each photo keeps its random streams (seed, position) and, in the default mode on a CPU, is inverted
    alone whatever the batch: batches of 1 and of 3 give the same files bit for bit."""
    photos = [photo(tmp_path / "in" / f"p{k}.png", 40 + 3 * k, 30 + k, seed=k) for k in range(3)]
    runs = {}
    for batch in ("1", "3"):
        out = tmp_path / f"out{batch}"
        assert restore(out, photos, "--degrade", "True", "--batch_size", batch, "--precision", precision) == 0
        runs[batch] = outputs(out)
    assert len(runs["1"]) == 9 and runs["1"] == runs["3"]


def test_a_rerun_skips_complete_photos_and_refuses_other_settings(tmp_path: Path, capsys) -> None:
    photos = [photo(tmp_path / "in" / f"p{k}.png", seed=k) for k in range(3)]
    out = tmp_path / "out"
    assert restore(out, photos) == 0
    first = outputs(out)
    (out / "p1_metrics.json").unlink()  # as if the run had stopped while writing p1
    (out / "p1_restored.png").write_bytes(b"half")
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(("p0", "p2"))}
    assert restore(out, photos) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(("p0", "p2"))} == kept
    assert outputs(out) == first
    assert [row["status"] for row in summary(out).values()] == ["complete before", "restored", "complete before"]
    assert json.loads((out / SETTINGS_FILE).read_text())["iterations"] == 2
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert run_cli(restore_main, ["--task", "denoise", "--input", *map(str, photos), "--out", str(out), "--iterations", "3",
                                  "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --iterations:") and "--iterations 2" in err[-1] and "another --out" in err[-1]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_bad_photo_is_reported_and_the_others_are_restored(tmp_path: Path, capsys) -> None:
    good = [photo(tmp_path / "in" / "a.png", seed=1), photo(tmp_path / "in" / "d.png", seed=2)]
    truncated = tmp_path / "in" / "b.png"
    truncated.write_bytes(photo(tmp_path / "whole.png", 64, 64).read_bytes()[:300])  # a header, then nothing
    (tmp_path / "in" / "c.png").write_text("not an image")
    gray = photo(tmp_path / "in" / "e.png", mode="L")
    out = tmp_path / "out"
    assert restore(out, [tmp_path / "in"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    skipped = [line for line in err if line.startswith("skipped:")]
    assert len(skipped) == 3 and all(any(name in line for line in skipped) for name in ("b.png", "c.png", "e.png"))
    assert err[-1].startswith("error: 3 of 5 photos failed")
    rows = summary(out)
    assert {name: row["status"] for name, row in rows.items()} == {"a": "restored", "b": "failed", "c": "failed",
                                                                   "d": "restored", "e": "failed"}
    assert "not a readable image" in rows["c"]["error"] and "grayscale" in rows["e"]["error"] and rows["b"]["error"]
    assert float(rows["a"]["seconds"]) > 0 and 0 <= float(rows["a"]["phi_mean"]) <= 1
    for path in good:
        assert (out / f"{path.stem}_metrics.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(("b_", "c_", "e_", "."))]  # nothing half-written
    assert gray.exists()


def test_only_bad_photos_stop_before_any_model_with_their_reason(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "in").mkdir()
    for name in ("x.png", "y.png"):
        (tmp_path / "in" / name).write_text("not an image")
    monkeypatch.setattr(Pipeline, "from_defaults", lambda *a, **k: pytest.fail("a model was loaded"))
    assert restore(tmp_path / "out", [tmp_path / "in"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: none of the 2 photos can be restored") and "y.png" in err[-1]
    assert any("x.png" in line for line in err[:-1]) and not (tmp_path / "out").exists()


def test_a_mask_folder_gives_each_photo_its_mask_and_a_missing_one_stops_the_run(tmp_path: Path, capsys, monkeypatch) -> None:
    photos = [photo(tmp_path / "in" / "p.jpg", seed=1), photo(tmp_path / "in" / "q.png", 36, 28, seed=2)]
    masks = tmp_path / "masks"
    masks.mkdir()
    for path, (top, left) in zip(photos, ((2, 3), (10, 20))):
        width, height = Image.open(path).size
        mask = np.zeros((height, width), np.uint8)
        mask[top : top + 8, left : left + 9] = 255
        Image.fromarray(mask).save(masks / f"{path.stem}.png")
    out = tmp_path / "out"
    assert restore(out, [tmp_path / "in"], "--mask", str(masks), "--degrade", "True", task="inpaint") == 0
    observed = np.asarray(Image.open(out / "q_input.png")).astype(int)
    assert observed[10:18, 20:29].max() == 0 and observed[2:10, 3:12].max() > 0  # q's own hole, not p's
    (masks / "q.png").unlink()
    monkeypatch.setattr(Pipeline, "from_defaults", lambda *a, **k: pytest.fail("a model was loaded"))
    capsys.readouterr()
    assert restore(tmp_path / "out2", [tmp_path / "in"], "--mask", str(masks), task="inpaint") == 2
    assert f"--mask {masks}: no mask for the photo q.png" in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_summary_has_a_row_per_photo_with_scores_and_one_line_at_the_end(tmp_path: Path, capsys) -> None:
    photos = [photo(tmp_path / "in" / f"p{k}.png", seed=k) for k in range(2)]
    out = tmp_path / "out"
    assert restore(out, photos, "--degrade", "True") == 0
    printed = capsys.readouterr()
    rows = summary(out)
    for name in ("p0", "p1"):
        metrics_file = json.loads((out / f"{name}_metrics.json").read_text())
        row = rows[name]
        assert (int(row["width"]), int(row["height"])) == (40, 30) and row["status"] == "restored" and not row["error"]
        for key in ("phi_mean", "degraded_psnr", "prior_psnr", "bigprior_psnr", "bigprior_ssim"):
            assert float(row[key]) == pytest.approx(metrics_file[key], abs=1e-12)
    last = printed.out.strip().splitlines()[-1]
    assert last.startswith("restored 2 photos (0 complete before, 0 failed) in ") and last.endswith(str(out / SUMMARY_FILE))
    assert "\r" not in printed.err  # not a terminal: whole lines only


def test_progress_off_a_terminal_writes_a_few_whole_lines() -> None:
    log = io.StringIO()
    bar = progress.progress_bar(total=10_000, desc="steps", file=log, mininterval=3600)
    for _ in range(10_000):
        bar.update(1)
    bar.close()
    assert "\r" not in log.getvalue() and log.getvalue().splitlines() == [log.getvalue().strip()]
    assert "10000/10000" in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert type(progress.progress_bar(total=1, file=Terminal())) is progress.tqdm


def test_the_fast_fusion_agrees_with_the_trained_network_and_the_tiles_with_one_pass() -> None:
    """fuse_photo of the trained network equals fuse_tiled (one thread) bit for bit, on 1 or 2 workers (each
    tile is computed alone); the inference copy (batch norms folded, channels-last) agrees to float rounding."""
    default = load_defaults().task("denblind")  # a multi-source network: the prior and NL-means
    fusion = default.fusion_model(torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 150, 131, generator=generator)
    sources = [(torch.rand(150, 131, 3, generator=generator) * 255).round().to(torch.uint8).numpy()
               for _ in range(max(1, len(default.spec.sources) - 1))]  # the paper's fusion: the prior alone
    from bigprior.degradations import Observation
    from bigprior.imageio import float_from_uint8, hwc_to_chw

    stacked = torch.stack([hwc_to_chw(float_from_uint8(source)) for source in sources])
    with CpuWorkers(1):  # one torch thread, as each worker computes
        tiled_out, tiled_shares = fuse_tiled(fusion, x, stacked, tile=64)
    for count in (1, 2):
        with CpuWorkers(count) as workers:
            out, shares = fuse_photo(fusion, Observation(x), sources, 64, torch.device("cpu"), workers)
        assert np.array_equal(out, tiled_out.permute(1, 2, 0).numpy())
        assert np.array_equal(shares, tiled_shares.permute(0, 2, 3, 1).numpy())
    fast_out, fast_shares = fuse_photo(inference_copy(fusion), Observation(x), sources, 64, torch.device("cpu"))
    assert 0 < np.abs(fast_shares - shares).max() < 1e-5 and np.abs(fast_out - out).max() < 1e-5
    assert all(not isinstance(m, torch.nn.BatchNorm2d) for m in inference_copy(fusion).modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in fusion.modules())  # the trained network is left as it is


@pytest.mark.parametrize("task", ["col", "inpvar", "denblind"])
def test_the_bfloat16_fusion_stays_within_one_level_of_float32(task: str) -> None:
    """The inference copy computing in bfloat16 (the default mode on a CPU with native bf16) keeps its last
    convolution, softmax and blend in float32, and its 8-bit result is within 1/255 of the float32
    network's on a real photo's sources (the built-in network, scikit-image's astronaut degraded)."""
    from skimage import data

    from bigprior import imageio
    from bigprior.fusion.inference import Float32Layer
    from bigprior.fusion.spec import GENERATIVE_PRIOR
    from bigprior.pipeline import simulate

    pipeline = Pipeline.from_defaults(task, iterations=5)
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320), Image.BICUBIC)).astype(np.float32) / 255
    observation = simulate(pipeline.degradation, photo, 0, 0, pipeline.reference_side)
    item = pipeline.invert([observation], [0])[0]
    images = [item.prior if name == GENERATIVE_PRIOR else pipeline.classical_image(name, observation) for name in pipeline.source_names]
    results = {}
    for dtype in (None, torch.bfloat16):
        network = inference_copy(pipeline.fusion, compute_dtype=dtype)
        out, shares = fuse_photo(network, observation, images, 128, torch.device("cpu"))
        results[dtype] = (imageio.uint8_from_float(np.clip(out, 0, 1)), shares)
    reduced = inference_copy(pipeline.fusion, compute_dtype=torch.bfloat16)
    assert sum(isinstance(m, Float32Layer) for m in reduced.modules()) == 1
    assert results[torch.bfloat16][1].dtype == np.float32
    difference = np.abs(results[torch.bfloat16][0].astype(int) - results[None][0].astype(int))
    assert difference.max() <= 1
    assert 0 < np.abs(results[torch.bfloat16][1] - results[None][1]).max() < 0.05  # it did compute in bf16


@pytest.mark.parametrize("native", [True, False])
def test_the_pipeline_computes_the_fusion_in_bfloat16_only_where_the_cpu_has_it_and_not_in_fp32(monkeypatch, native: bool) -> None:
    import bigprior.pipeline as pipeline_module
    from bigprior.fusion.inference import AutocastBackbone

    monkeypatch.setattr(pipeline_module, "native_bf16_cpu", lambda: native)
    default = Pipeline.from_defaults("denblind", iterations=1)
    assert isinstance(default.fusion_network.backbone, AutocastBackbone) is native
    strict = Pipeline.from_defaults("denblind", iterations=1, precision="fp32")
    assert strict.fusion_network is strict.fusion and not isinstance(strict.fusion.backbone, AutocastBackbone)


def test_ssim_of_several_outputs_is_scikit_images_bit_for_bit_on_any_number_of_workers(monkeypatch) -> None:
    from skimage.metrics import structural_similarity

    monkeypatch.setattr(metrics, "STRIP_ROWS", 16)
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (53, 37, 3), dtype=np.uint8)
    images = [rng.integers(0, 256, reference.shape, dtype=np.uint8), rng.random(reference.shape).astype(np.float32) * 1.2]
    pad = 3
    expected = []
    for image in images:  # the strip path before issue 23: scikit-image's map of each strip
        total = np.zeros(3)
        for top in range(0, 53, 16):
            lo, hi = max(0, top - pad), min(53, top + 16 + pad)
            first, last = max(top, pad) - lo, min(top + 16, 53 - pad) - lo
            a, b = metrics._as_float(np.clip(image[lo:hi], 0, 1) if image.dtype != np.uint8 else image[lo:hi]), metrics._as_float(reference[lo:hi])
            for c in range(3):
                total[c] += structural_similarity(b[..., c], a[..., c], data_range=1.0, full=True)[1][first:last, pad:37 - pad].sum()
        expected.append(float(np.mean(total / ((53 - 2 * pad) * (37 - 2 * pad)))))
    assert metrics.ssim_many(images, reference, workers=1) == expected == metrics.ssim_many(images, reference, workers=3)


def test_auc_of_several_outputs_is_the_scikit_image_lab_count_bit_for_bit(monkeypatch) -> None:
    """auc_many (a table of the sRGB decoding, no L channel, a histogram instead of a sort, strips on
    threads) gives the value of scikit-image's rgb2lab + deltaE_cie76 and a sorted count, bit for bit."""
    from skimage.color import deltaE_cie76, rgb2lab

    monkeypatch.setattr(metrics, "STRIP_ROWS", 16)
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 256, (53, 37, 3), dtype=np.uint8)
    images = [rng.integers(0, 256, reference.shape, dtype=np.uint8),
              np.clip(reference.astype(int) + rng.integers(-12, 13, reference.shape), 0, 255).astype(np.uint8),
              reference.astype(np.float32) / 255 + rng.normal(0, 0.2, reference.shape).astype(np.float32),  # unclamped
              reference.copy()]
    expected = []
    for image in images:
        lab, lab_reference = rgb2lab(metrics._as_float(image)), rgb2lab(metrics._as_float(reference))
        lab[..., 0] = lab_reference[..., 0] = 0
        distances = np.sort(deltaE_cie76(lab_reference, lab).ravel())
        fractions = np.searchsorted(distances, np.arange(metrics.AUC_MAX_THRESHOLD), side="right") / distances.size
        total = 0.0
        for fraction in fractions:
            total += float(fraction)
        expected.append(100 * total / metrics.AUC_MAX_THRESHOLD)
    assert expected[-1] == 100.0 and expected[0] < 60
    assert metrics.auc_many(images, reference, workers=1) == expected == metrics.auc_many(images, reference, workers=3)
    assert [metrics.auc(image, reference) for image in images] == expected
