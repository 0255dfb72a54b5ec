"""The classical peers (`bigprior.baselines.classical`, `bigprior peers`): known answers against the
libraries' own output, the promises of each task (observed pixels and luma kept), settings that
round-trip, and the folder stage (settings.json, resume, mixed settings refused)."""

from __future__ import annotations

import importlib.util
import json
import sys

import cv2
import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma, inpaint_biharmonic
from synthetic_workspace import TRAIN_COUNT, make_experiment, smooth_image

from bigprior import imageio, metrics
from bigprior.baselines.classical import REGISTRY, method_class, methods_for
from bigprior.baselines.classical.colorization import ChromaStatistics, LumaChroma, MeanChroma
from bigprior.baselines.classical.stage import SETTINGS_FILE, read_observation
from bigprior.cli import main as cli_main
from bigprior.degradations import LUMA_WEIGHTS, BlindAWGN, Colorization, Inpainting, RandomMaskInpainting
from bigprior.errors import BIGPriorError

HAS_BM3D = importlib.util.find_spec("bm3d") is not None
needs_bm3d = pytest.mark.skipif(not HAS_BM3D, reason="the optional bm3d package is not installed (pip install 'bigprior[bm3d]')")
OBSERVERS = {"col": Colorization(), "inpcrop": Inpainting(), "inpvar": RandomMaskInpainting(2, 3, 12, 4),
             "denblind": BlindAWGN(20, 40)}


def _clean(size: int = 32, seed: int = 0) -> torch.Tensor:
    return imageio.hwc_to_chw(imageio.float_from_uint8(smooth_image(np.random.default_rng(seed), size)))


def _hwc(observation) -> np.ndarray:
    return observation.x.numpy().transpose(1, 2, 0)


def _sigma(x: np.ndarray) -> float:
    return float(estimate_sigma(x, channel_axis=-1, average_sigmas=True))


# ---------------------------------------------------------------------------------------------
# the registry


def test_every_task_has_peers_and_bm3d_is_optional(monkeypatch):
    assert [m.name for m in methods_for("col")] == ["MeanChroma", "LumaChroma"]
    assert [m.name for m in methods_for("inpvar")] == [m.name for m in methods_for("inpcrop")] == ["Telea", "NavierStokes", "Biharmonic"]
    assert [m.name for m in methods_for("denblind", optional=False)] == ["NLMeans", "TV", "FastNLMeans"]
    assert ("BM3D" in [m.name for m in methods_for("denblind")]) == HAS_BM3D
    assert REGISTRY["BM3D"].optional == "bm3d" and all(REGISTRY[n].optional is None for n in REGISTRY if n != "BM3D")
    monkeypatch.setitem(sys.modules, "bm3d", None)  # as without the package
    assert "BM3D" not in [m.name for m in methods_for("denblind")]
    with pytest.raises(BIGPriorError, match=r"--methods BM3D: needs the optional package bm3d .*non-commercial.*pip install 'bigprior\[bm3d\]'"):
        method_class("BM3D", "denblind")
    with pytest.raises(BIGPriorError, match="--methods NLMeans: restores denblind, not inpcrop"):
        method_class("NLMeans", "inpcrop")
    with pytest.raises(BIGPriorError, match="unknown method 'PatchMatch'"):
        method_class("PatchMatch", "inpcrop")


@pytest.mark.parametrize("name", [n for n in REGISTRY if n != "BM3D"])  # BM3D (5 s a call): its own test below
def test_each_peer_restores_its_tasks_observation_deterministically(name):
    method = REGISTRY[name]()
    observation = OBSERVERS[method.tasks()[0]].observe(_clean(24), 3, 0)
    restored = method.restore(observation)
    assert restored.shape == (24, 24, 3) and restored.dtype == np.float32
    assert restored.min() >= 0 and restored.max() <= 1
    assert np.array_equal(restored, method.restore(observation))
    settings = json.loads(json.dumps(method.settings()))  # as settings.json holds them
    assert type(method).from_settings(settings) == method
    with pytest.raises(BIGPriorError, match=f"settings.json: unknown setting 'colour' of {name}"):
        type(method).from_settings({**settings, "colour": 1}, "settings.json")


# ---------------------------------------------------------------------------------------------
# known answers: the libraries' own outputs


def test_denoisers_are_the_libraries_own_with_the_estimated_sigma():
    observation = BlindAWGN(25, 25).observe(_clean(32, seed=4), 0, 0)
    x = _hwc(observation)
    s = _sigma(x)
    assert abs(s * 255 - 25) < 5  # blind: the estimate, never observation.sigma
    nlm = REGISTRY["NLMeans"](h_factor=0.7, patch_size=5, patch_distance=4)
    expected = denoise_nl_means(x, patch_size=5, patch_distance=4, h=0.7 * s, fast_mode=True, sigma=s, channel_axis=-1)
    assert np.array_equal(nlm.restore(observation), np.clip(expected, 0, 1).astype(np.float32))
    tv = REGISTRY["TV"](weight_factor=1.5)
    assert np.array_equal(tv.restore(observation), np.clip(denoise_tv_chambolle(x, weight=1.5 * s, channel_axis=-1), 0, 1).astype(np.float32))
    fast = REGISTRY["FastNLMeans"](h_factor=0.9, h_color_factor=1.1, template_size=5, search_size=11)
    noisy8 = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    expected8 = cv2.fastNlMeansDenoisingColored(noisy8, None, 0.9 * 255 * s, 1.1 * 255 * s, 5, 11)
    assert np.array_equal(fast.restore(observation), expected8.astype(np.float32) / 255)


def test_nl_means_of_a_tall_photo_in_row_bands_is_the_whole_images(monkeypatch):
    """A photo of more than BAND_ROWS rows is denoised in bands on the cores' threads: bit for bit the
    library's result on the whole image (bands of 24 rows here, so that a small image has many)."""
    from bigprior.baselines.classical import base

    monkeypatch.setattr(base, "BAND_ROWS", 24)
    monkeypatch.setattr(base, "cpu_count", lambda: 3)
    rng = np.random.default_rng(5)
    x = np.clip(0.5 + rng.normal(0, 0.1, (100, 40, 3)), 0, 1).astype(np.float32)
    nlm = REGISTRY["NLMeans"]()
    expected = denoise_nl_means(x, patch_size=5, patch_distance=6, h=0.5 * 0.1, fast_mode=True, sigma=0.1, channel_axis=-1)
    assert np.array_equal(nlm.denoise(x, 0.1), expected)
    def whole(image: np.ndarray) -> np.ndarray:
        return denoise_nl_means(image, patch_size=5, patch_distance=6, h=0.05, fast_mode=True, sigma=0.1, channel_axis=-1)

    assert not np.array_equal(base.in_row_bands(whole, x, margin=4), expected)  # the margin is what makes it exact


@needs_bm3d
def test_bm3d_is_the_packages_own_single_threaded():
    import bm3d
    from bm3d.profiles import BM3DProfile

    observation = BlindAWGN(30, 30).observe(_clean(32, seed=5), 0, 0)
    x = _hwc(observation)
    profile = BM3DProfile()
    profile.num_threads = 1
    expected = np.clip(bm3d.bm3d_rgb(x, _sigma(x), profile=profile), 0, 1).astype(np.float32)
    method = REGISTRY["BM3D"]()
    assert np.array_equal(method.restore(observation), expected)  # and so deterministic: two runs, one result
    assert type(method).from_settings(json.loads(json.dumps(method.settings()))) == method
    with pytest.raises(BIGPriorError, match="settings of BM3D refused .*profile 'fast'"):
        type(method).from_settings({"profile": "fast"})


def test_denoisers_denoise():
    clean = _clean(64, seed=2)
    observation = BlindAWGN(30, 30).observe(clean, 0, 0)
    gt = imageio.uint8_from_float(clean).transpose(1, 2, 0)
    noisy = metrics.psnr(imageio.uint8_from_float(_hwc(observation)), gt)
    for name in ("NLMeans", "TV", "FastNLMeans"):
        assert metrics.psnr(imageio.uint8_from_float(REGISTRY[name]().restore(observation)), gt) > noisy + 5, name


@pytest.mark.parametrize("name, flag", [("Telea", cv2.INPAINT_TELEA), ("NavierStokes", cv2.INPAINT_NS)])
def test_opencv_inpainting_is_cv2_inpaint_and_keeps_observed_pixels(name, flag):
    observation = RandomMaskInpainting(2, 3, 10, 3).observe(_clean(32, seed=1), 2, 0)
    observed8 = imageio.uint8_from_float_truncated(observation.x).transpose(1, 2, 0)
    observation.x = imageio.hwc_to_chw(imageio.float_from_uint8(observed8))  # as the experiment's input/{i}.png
    missing = observation.mask[0].numpy() > 0.5
    restored = REGISTRY[name](radius=4).restore(observation)
    expected = cv2.inpaint(observed8, missing.astype(np.uint8) * 255, 4, flag)
    assert np.array_equal(imageio.uint8_from_float(restored), expected)
    assert np.array_equal(restored[~missing], _hwc(observation)[~missing])


def test_biharmonic_is_scikit_images_and_keeps_observed_pixels_exactly():
    observation = Inpainting().observe(_clean(32, seed=3) * 0.999 + 0.0005, 0, 0)  # floats off the 8-bit grid
    x, missing = _hwc(observation), observation.mask[0].numpy() > 0.5
    restored = REGISTRY["Biharmonic"]().restore(observation)
    expected = np.clip(inpaint_biharmonic(x, missing, split_into_regions=True, channel_axis=-1), 0, 1).astype(np.float32)
    assert np.array_equal(restored[missing], expected[missing])
    assert np.array_equal(restored[~missing], x[~missing])


# ---------------------------------------------------------------------------------------------
# colorization


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array(LUMA_WEIGHTS)


@pytest.mark.parametrize("method", [MeanChroma(0.3, -0.35), MeanChroma(-0.02, 0.02),
                                    LumaChroma(tuple(np.linspace(-0.4, 0.4, 256)), tuple(np.linspace(0.3, -0.3, 256)), 0.0)])
def test_colorization_keeps_the_observed_luma(method):
    luma = torch.linspace(0, 1, 32 * 32).reshape(1, 32, 32)  # black to white: the strong chromas leave the cube
    luma = imageio.hwc_to_chw(imageio.float_from_uint8(imageio.uint8_from_float_truncated(luma)[0]))
    restored = method.restore(Colorization().observe_photo(luma, 0, 0, "luma"))
    assert np.abs(_luma(restored) - luma[0].numpy()).max() < 1e-6  # exactly, up to float32
    saved = imageio.uint8_from_float(restored)
    assert np.abs(_luma(saved) / 255 - luma[0].numpy()).max() <= 0.5 / 255 + 1e-9  # as far as 8 bits allow
    assert np.abs(np.rint(_luma(saved)) - np.rint(luma[0].numpy() * 255)).max() <= 1


def test_mean_chroma_and_luma_table_recomputed_independently():
    rng = np.random.default_rng(7)
    gts = [rng.integers(0, 256, (3, 4, 3), dtype=np.uint8) for _ in range(3)]
    lumas = [np.floor(_luma(gt.astype(np.float64) / 255) * 255) / 255 for gt in gts]  # truncated, as the inputs
    statistics = ChromaStatistics.of_images([(y, gt.astype(np.float64) / 255) for y, gt in zip(lumas, gts)])
    # scikit-image's studio-range YCbCr: Cb/Cr = 128 + 224 x the centred chroma on the 0..255 scale
    studio = np.concatenate([rgb2ycbcr(gt).reshape(-1, 3) for gt in gts])
    centred = (studio[:, 1:] - 128) / 224
    mean = MeanChroma.from_statistics(statistics)
    np.testing.assert_allclose([mean.cb, mean.cr], centred.mean(axis=0), atol=1e-5)
    table = LumaChroma.from_statistics(statistics, prior_count=0.0)
    levels = np.concatenate([np.rint(y * 255).astype(int).ravel() for y in lumas])
    for level in range(256):
        expected = centred[levels == level].mean(axis=0) if (levels == level).any() else centred.mean(axis=0)
        np.testing.assert_allclose([table.cb[level], table.cr[level]], expected, atol=1e-5)
    shrunk = LumaChroma.from_statistics(statistics, prior_count=1e12)
    np.testing.assert_allclose(shrunk.cb, mean.cb, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# the command


def _run(*argv: str) -> int:
    return cli_main(["peers", *argv])


def test_peers_command_writes_all_images_with_settings_and_resumes(tmp_path, capsys):
    experiment = make_experiment(tmp_path, "inpvar_synth")
    assert _run("--experiment", "inpvar_synth", "--root", str(tmp_path), "--methods", "Telea,Biharmonic", "--train_count", "4") == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("peers inpvar_synth: Telea 6 written, 0 kept; Biharmonic 6 written")
    assert experiment.baseline_methods() == ["Biharmonic", "Telea"]
    record = imageio.read_json(experiment.method_dir("Telea") / SETTINGS_FILE)
    assert record["method"] == "Telea" and record["settings"] == REGISTRY["Telea"]().settings() and record["train_indices"] is None
    assert {"bigprior", "numpy", "cv2"} <= set(record["versions"])
    for index in range(6):
        expected = imageio.uint8_from_float(REGISTRY["Biharmonic"]().restore(read_observation(experiment, index)))
        assert np.array_equal(imageio.read_rgb(experiment.method_dir("Biharmonic") / f"{index}.png"), expected)
    kept = experiment.method_dir("Telea") / "2.png"
    imageio.write_png(kept, np.zeros((32, 32, 3), np.uint8))
    assert _run("--experiment", "inpvar_synth", "--root", str(tmp_path), "--methods", "Telea", "--train_count", "4") == 0
    assert not imageio.read_rgb(kept).any()  # a finished image is never rewritten
    assert "Telea 0 written, 6 kept" in capsys.readouterr().out


def test_peers_command_takes_other_settings_and_records_them(tmp_path, capsys):
    experiment = make_experiment(tmp_path, "inpcrop_synth")
    assert _run("--experiment", "inpcrop_synth", "--root", str(tmp_path), "--methods", "Telea", "--train_count", "4",
                "--set", "Telea.radius=2") == 0
    record = imageio.read_json(experiment.method_dir("Telea") / SETTINGS_FILE)
    assert record["settings"] == {"radius": 2} and "settings_given" in record and "defaults_picked_by" not in record
    observation = read_observation(experiment, 5)
    assert np.array_equal(imageio.read_rgb(experiment.method_dir("Telea") / "5.png"),
                          imageio.uint8_from_float(REGISTRY["Telea"](radius=2).restore(observation)))
    for bad, says in (("Telea.radius", "expected METHOD.SETTING=VALUE"), ("TV.weight_factor=1", "TV is not among the methods run"),
                      ("Telea.size=3", "unknown setting 'size' of Telea")):
        assert _run("--experiment", "inpcrop_synth", "--root", str(tmp_path), "--methods", "Telea", "--train_count", "4",
                    "--set", bad) == 2
        assert says in capsys.readouterr().err.strip().splitlines()[-1]


def test_peers_command_refuses_outputs_of_other_settings(tmp_path, capsys):
    experiment = make_experiment(tmp_path, "inpcrop_synth")
    assert cli_main(["inpaint-baseline", "--experiment", "inpcrop_synth", "--root", str(tmp_path), "--train_count", "4",
                     "--methods", "Telea", "--radius", "2"]) == 0
    before = sorted(p.name for p in experiment.method_dir("Telea").iterdir())
    assert before == ["4.png", "5.png", SETTINGS_FILE]
    capsys.readouterr()
    assert _run("--experiment", "inpcrop_synth", "--root", str(tmp_path), "--methods", "Telea", "--train_count", "4") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Teleaoutput: holds outputs of other settings (settings.radius: 2 recorded" in line and "move or remove" in line
    assert sorted(p.name for p in experiment.method_dir("Telea").iterdir()) == before
    (experiment.method_dir("NavierStokes")).mkdir()
    imageio.write_png(experiment.method_dir("NavierStokes") / "0.png", np.zeros((32, 32, 3), np.uint8))
    assert _run("--experiment", "inpcrop_synth", "--root", str(tmp_path), "--methods", "NavierStokes", "--train_count", "4") == 2
    assert "NavierStokesoutput: holds images but no settings.json" in capsys.readouterr().err


def test_colorization_peers_are_fitted_on_the_training_split_only(tmp_path):
    experiment = make_experiment(tmp_path, "col_synth")
    assert _run("--experiment", "col_synth", "--root", str(tmp_path), "--train_count", str(TRAIN_COUNT), "--indices", "test") == 0
    assert sorted(p.name for p in experiment.method_dir("MeanChroma").glob("*.png")) == ["4.png", "5.png"]
    record = imageio.read_json(experiment.method_dir("LumaChroma") / SETTINGS_FILE)
    assert record["train_indices"] == list(range(TRAIN_COUNT))
    fitted = LumaChroma.from_settings(record["settings"])
    assert fitted == LumaChroma.fit(experiment, range(TRAIN_COUNT)) != LumaChroma.fit(experiment, range(TRAIN_COUNT + 1))
    restored = imageio.read_rgb(experiment.method_dir("LumaChroma") / "5.png")
    assert np.array_equal(restored, imageio.uint8_from_float(fitted.restore(read_observation(experiment, 5))))


def test_denoising_peers_run_on_the_unclipped_observations(tmp_path):
    experiment = make_experiment(tmp_path, "denblind_synth")
    assert _run("--experiment", "denblind_synth", "--root", str(tmp_path), "--methods", "TV", "--train_count", "4") == 0
    observation = read_observation(experiment, 1)
    assert observation.x.min() < 0 or observation.x.max() > 1  # the stored noisy floats, not an 8-bit copy
    expected = imageio.uint8_from_float(REGISTRY["TV"]().restore(observation))
    assert np.array_equal(imageio.read_rgb(experiment.method_dir("TV") / "1.png"), expected)
