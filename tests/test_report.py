"""`bigprior report`: agreement with the paper's published metric files, the correlation statistics,
the contents of a report, and its errors on bad inputs."""

from __future__ import annotations

import csv
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PAPER, link_files, paper_col_bedroom_workspace, require_shared, run_script
from scipy.stats import pearsonr
from synthetic_workspace import TRAIN_COUNT, make_experiment, make_fused_experiment, run_fusion

from bigprior import figures, imageio, metrics
from bigprior.baselines.dncnn import DnCNNOptions, evaluate_denoiser, train_denoiser
from bigprior.baselines.inpainting import run_inpainting_baselines
from bigprior.cli import main as cli_main
from bigprior.errors import BIGPriorError
from bigprior.experiment import Experiment
from bigprior.published import load_published, parse_results_table
from bigprior.report import ReportOptions, run_report

SYNTHETIC_EXPERIMENTS = ("col_synth", "denblind_synth", "inpcrop_synth", "inpvar_synth")
CALIBRATION_FIGURES = {"phi_reliability.png", "phi_roc.png"}
STRENGTH_FIGURES = {"prior_strength.png"}  # every experiment with fused test outputs gets its prior-strength curve
CALIBRATION_TITLE = "Calibration of phi: does phi say where the prior is right?"
STRENGTH_TITLE = "The prior's share against a constant rescaling of it"

# Tolerances of the 8-bit PNG outputs against the release's float metrics, measured on col_bedroom
# (see docs/report.md): the fused PNG is the float output rounded to 1/255 (and clamped to [0, 1]).
# Measured: BIGPrior PSNR per image within 0.0076 dB (mean -0.0020 dB, as rounding noise of variance
# (1/255)^2/12 predicts: -0.0017 dB), AuC per image within 0.026 (mean -0.0036). The prior's PNG is the
# very image its .npy was computed on: equal up to float32 arithmetic.
PSNR_TOLERANCE_PER_IMAGE, PSNR_TOLERANCE_MEAN = 0.02, 0.005
AUC_TOLERANCE_PER_IMAGE, AUC_TOLERANCE_MEAN = 0.05, 0.01
PRIOR_PSNR_TOLERANCE, PRIOR_AUC_TOLERANCE = 1e-4, 1e-3


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """Four tiny experiments with a real (tiny) fusion run each, inpainting baselines and a DnCNN run."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("synthetic")
    experiments = {name: make_fused_experiment(root, name) for name in SYNTHETIC_EXPERIMENTS}
    for name in ("inpcrop_synth", "inpvar_synth"):
        run_inpainting_baselines(experiments[name], range(TRAIN_COUNT, 6))
    options = DnCNNOptions(experiment="denblind_synth", dncnn_layers=3, epochs=2, batch_size=2, train_count=TRAIN_COUNT, crop_size=16)
    evaluate_denoiser(train_denoiser(options, root, torch.device("cpu")), None, torch.device("cpu"))
    return root


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------
# (1) the paper's released col_bedroom outputs against its published per-image metric files


def test_report_reproduces_published_col_bedroom_metrics(tmp_path):
    outputs = require_shared(PAPER / "inter_data" / "col_bedroom" / "OURoutput")
    run = require_shared(PAPER / "net_data" / "col_bedroom_1")
    root = paper_col_bedroom_workspace(tmp_path, run=False)
    link_files(outputs, root / "inter_data" / "col_bedroom" / "OURoutput", sorted(os.listdir(outputs)))

    report = run_report(ReportOptions(["col_bedroom"], root=root, name="paper", published=PAPER, grid=1, lpips="off", workers=2))

    rows = _read_csv(report.results_csv)
    assert [int(r["index"]) for r in rows] == list(range(250, 300))
    column = lambda key: np.array([float(r[key]) for r in rows])  # noqa: E731
    published_psnr = {key: metrics.psnr_from_mse(np.load(run / name)) for key, name in
                      (("bigprior_psnr", "MSE.npy"), ("prior_psnr", "MSE_GAN.npy"))}
    published_auc = {"bigprior_auc": np.load(run / "AUC.npy"), "prior_auc": np.load(run / "AUC_GAN.npy")}

    np.testing.assert_allclose(column("prior_psnr"), published_psnr["prior_psnr"], atol=PRIOR_PSNR_TOLERANCE, rtol=0)
    np.testing.assert_allclose(column("prior_auc"), published_auc["prior_auc"], atol=PRIOR_AUC_TOLERANCE, rtol=0)
    np.testing.assert_allclose(column("bigprior_psnr"), published_psnr["bigprior_psnr"], atol=PSNR_TOLERANCE_PER_IMAGE, rtol=0)
    np.testing.assert_allclose(column("bigprior_auc"), published_auc["bigprior_auc"], atol=AUC_TOLERANCE_PER_IMAGE, rtol=0)
    assert abs(column("bigprior_psnr").mean() - published_psnr["bigprior_psnr"].mean()) < PSNR_TOLERANCE_MEAN
    assert abs(column("bigprior_auc").mean() - published_auc["bigprior_auc"].mean()) < AUC_TOLERANCE_MEAN

    # the summary sets the published table (22.29 / 23.08 dB, 88.52 / 89.28 AuC) beside these numbers
    table = report.tables[f"Against the published numbers ({PAPER})"]
    row = next(line for line in table.splitlines() if line.startswith("| col_bedroom"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["22.29", "22.29", f"{column('prior_psnr').mean() - 22.29:+.3f}"]
    assert cells[5:7] == ["23.08", "23.08"] and cells[14:16] == ["89.27", "89.28"]
    assert report.summary.read_text().count("| col_bedroom |") == 3  # results, published, calibration
    assert [p.name for p in report.figures] == ["grid_col_bedroom.png", "phi_histogram.png", "phi_reliability.png", "phi_roc.png",
                                                "prior_strength.png"]
    # the prior-strength curve re-blends the saved outputs: s = 1 is close to the saved fusion (phi saved in 8 bits,
    # clamped), s = 0 is the grey observation, which the paper's fusion beats
    strength = [c.strip() for c in report.tables[STRENGTH_TITLE].splitlines()[2].strip("|").split("|")]
    print(strength)
    assert strength[0].startswith("col_bedroom") and abs(float(strength[1]) - column("bigprior_psnr").mean()) < 0.3
    calibration = report.tables[CALIBRATION_TITLE].splitlines()[2]
    assert calibration.startswith("| col_bedroom | col_bedroom_1 epoch 24 | 50 | 819200 |")  # 50 images of 256 x 256, one pixel in 2 x 2
    assert calibration.endswith("| n/a |")  # the released outputs come without the fusion test's metrics.json


# ---------------------------------------------------------------------------------------------
# (3) the correlation statistics


def test_pearson_known_answers():
    assert metrics.pearson(np.array([1, 2, 3, 4, 5]), np.array([2, 4, 5, 4, 5])) == pytest.approx(math.sqrt(0.6), abs=1e-15)
    assert metrics.pearson(np.arange(10.0), 3 * np.arange(10.0) - 7) == pytest.approx(1.0, abs=1e-15)
    assert metrics.pearson(np.arange(10.0), -np.arange(10.0)) == pytest.approx(-1.0, abs=1e-15)
    assert math.isnan(metrics.pearson(np.arange(4.0), np.ones(4)))
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=200), rng.normal(size=200)
    assert metrics.pearson(x, x + y) == pytest.approx(pearsonr(x, x + y)[0], abs=1e-12)
    with pytest.raises(ValueError):
        metrics.pearson(np.arange(3.0), np.arange(4.0))


def test_correlation_figure_reports_the_constructed_correlation(tmp_path):
    # y = x + z * |x| / |z| with z orthogonal to x and to constants: the correlation is cos 45 degrees
    x = np.array([-1.0, 0.0, 1.0] * 4)
    z = np.array([1.0, -2.0, 1.0] * 4)
    y = x + z * np.linalg.norm(x) / np.linalg.norm(z)
    path = tmp_path / "scatter.png"
    (r,) = figures.correlation_figure([figures.Scatter("synthetic", x, y)], "x", "y", path)
    assert r == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert imageio.read_rgb(path, allow_conversion=True).shape[2] == 3


def test_report_correlations_are_those_of_its_per_image_values(synthetic_root, tmp_path):
    report = run_report(ReportOptions(["denblind_synth"], root=synthetic_root, name="corr", out=tmp_path, grid=0, lpips="off"))
    rows = _read_csv(report.results_csv)
    sigma, phi, prior = (np.array([float(r[k]) for r in rows]) for k in ("sigma", "phi_mean", "prior_psnr"))
    assert list(sigma) == [float(s) for s in imageio.read_json(synthetic_root / "inter_data/denblind_synth/input/sigma.json")[4:]]
    table = report.tables["phi against the degradation (denoising)"]
    cells = [c.strip() for c in table.splitlines()[2].strip("|").split("|")]
    assert cells[2:] == [f"{metrics.pearson(sigma, phi):.3f}", f"{metrics.pearson(prior, phi):.3f}"]
    assert {p.name for p in report.figures} == {"phi_vs_sigma.png", "phi_vs_prior_psnr.png", "phi_histogram.png"} | CALIBRATION_FIGURES | STRENGTH_FIGURES


# ---------------------------------------------------------------------------------------------
# (4) the calibration of phi: known answers on small arrays


def test_prior_advantage_known_answers():
    gt = np.full((4, 6, 3), 0.5)
    x = gt.copy()
    x[:, :3] += 0.2  # the observation is off by 0.2 on the left half, exact on the right
    g = gt + 0.1  # the prior is off by 0.1 everywhere
    raw = metrics.prior_advantage(x, g, gt, smoothing=0)
    np.testing.assert_allclose(raw, np.where(np.arange(6) < 3, 0.1, -0.1)[None].repeat(4, 0), atol=1e-15)
    smooth = metrics.prior_advantage(x, g, gt)  # a Gaussian is symmetric: the two columns at the edge average out
    np.testing.assert_allclose(smooth[:, 2] + smooth[:, 3], 0, atol=1e-12)
    assert 0 < smooth[0, 2] < 0.1 and smooth[0, 0] > smooth[0, 2]
    constant = metrics.prior_advantage(gt + 0.3, gt + 0.1, gt)  # a constant advantage stays constant when smoothed
    np.testing.assert_allclose(constant, 0.2, atol=1e-12)
    # colorization: the luma is compared with each channel of the ground truth (mean of 0.3, 0, 0.3)
    colour = np.broadcast_to(np.array([0.2, 0.5, 0.8]), (4, 6, 3))
    np.testing.assert_allclose(metrics.prior_advantage(np.full((4, 6), 0.5), colour, colour), 0.2, atol=1e-12)
    as_uint8 = lambda a: np.round(a * 255).astype(np.uint8)  # noqa: E731
    np.testing.assert_allclose(metrics.prior_advantage(as_uint8(x), as_uint8(g), as_uint8(gt), smoothing=0), raw, atol=1 / 255)
    with pytest.raises(ValueError):
        metrics.prior_advantage(np.zeros((4, 5, 3)), gt, gt)


def test_phi_maps_pixels_and_share_outside():
    phi = np.stack([np.arange(16.0).reshape(4, 4), np.zeros((4, 4)), np.zeros((4, 4))], axis=2) / 100
    np.testing.assert_allclose(metrics.phi_map(phi), np.arange(16.0).reshape(4, 4) / 300)
    values, advantage = metrics.calibration_pixels(phi, np.arange(16.0).reshape(4, 4))
    np.testing.assert_allclose(advantage, [0, 2, 8, 10])
    np.testing.assert_allclose(values, np.array([0, 2, 8, 10]) / 300, rtol=1e-6)
    assert metrics.phi_map(np.full((2, 2, 3), 255, np.uint8)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert metrics.phi_outside_share(np.array([-0.1, 0.0, 0.5, 1.0, 1.2])) == 0.4
    assert metrics.phi_outside_share(torch.tensor([[[2.0, 0.5], [0.5, 0.5]]])) == 0.25
    assert metrics.phi_outside_share(np.zeros((3, 8, 8))) == 0.0


def test_roc_known_answers():
    # two pixels where the prior is better (phi 0.35, 0.8), two where it is not (0.1, 0.4): 3 of 4 pairs ranked right
    roc = metrics.roc_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([-1.0, -1.0, 1.0, 1.0]))
    assert roc.auc == 0.75
    assert roc.true_positive_rate.tolist() == [0, 0.5, 0.5, 1, 1] and roc.false_positive_rate.tolist() == [0, 0, 0.5, 0.5, 1]
    advantage = np.linspace(-1, 1, 10)
    assert metrics.roc_curve(advantage > 0, advantage).auc == 1.0  # perfect: phi = 1 exactly where the prior is better
    assert metrics.roc_curve(advantage <= 0, advantage).auc == 0.0  # anti-calibrated
    constant = metrics.roc_curve(np.full(10, 0.3), advantage)  # one threshold: the chance diagonal
    assert constant.auc == 0.5 and constant.true_positive_rate.tolist() == [0, 1] and constant.false_positive_rate.tolist() == [0, 1]
    assert metrics.roc_curve(np.array([0.5, 0.5, 0.9]), np.array([1.0, -1.0, -1.0])).auc == 0.25  # a tie counts one half
    assert math.isnan(metrics.roc_curve(np.array([0.2, 0.7]), np.array([0.1, 0.3])).auc)  # the prior better everywhere
    rng = np.random.default_rng(0)
    phi, advantage = np.round(rng.random(300), 1), rng.normal(size=300)  # against the Mann-Whitney count, with ties
    positive, negative = phi[advantage > 0], phi[advantage <= 0]
    pairs = (positive[:, None] > negative[None]).sum() + 0.5 * (positive[:, None] == negative[None]).sum()
    assert metrics.roc_curve(phi, advantage).auc == pytest.approx(pairs / (positive.size * negative.size), abs=1e-12)


def test_reliability_known_answers():
    phi = np.array([0.0, 0.2, 0.6, 1.0, 0.8, 0.5])
    advantage = np.array([-0.5, -0.5, 0.5, 0.5, 1.0, 2.0])  # 2.0 is outside the edges; 1.0 falls in the last, closed bin
    curve = metrics.reliability_curve(phi, advantage, np.array([-1.0, 0.0, 1.0]))
    assert curve.counts.tolist() == [2, 3]
    np.testing.assert_allclose(curve.phi, [0.1, 0.8])
    np.testing.assert_allclose(curve.advantage, [-0.5, 2 / 3])
    empty = metrics.reliability_curve(phi, advantage, np.array([-2.0, -1.0, 0.0]))
    assert empty.counts.tolist() == [0, 2] and math.isnan(empty.phi[0]) and empty.phi[1] == pytest.approx(0.1)
    a = np.arange(100.0)
    perfect = metrics.reliability_curve(a / 100, a, bins=4)  # bins of equal count; perfect calibration: phi follows a
    assert perfect.counts.tolist() == [25, 25, 25, 25]
    np.testing.assert_allclose(perfect.phi, perfect.advantage / 100)
    np.testing.assert_allclose(perfect.advantage, [12, 37, 62, 87])
    flat = metrics.reliability_curve(np.full(100, 0.3), a, bins=4)  # constant phi: a flat curve
    np.testing.assert_allclose(flat.phi, 0.3)
    assert metrics.reliability_curve(a, np.zeros(100), bins=4).counts.tolist() == [100]  # one value: one bin


def test_calibration_of_perfect_anti_and_constant_phi():
    advantage = np.linspace(-0.2, 0.2, 41)
    perfect = metrics.calibration(0.5 + 2 * advantage, advantage)
    assert perfect.pearson == pytest.approx(1.0, abs=1e-12) and perfect.roc.auc == 1.0
    assert perfect.pixels == 41 and perfect.prior_better_share == 20 / 41
    assert perfect.phi_where_prior_better == pytest.approx(0.5 + 2 * 0.105) and perfect.phi_where_observation_better == pytest.approx(0.5 - 2 * 0.1)
    anti = metrics.calibration(0.5 - 2 * advantage, advantage)
    assert anti.pearson == pytest.approx(-1.0, abs=1e-12) and anti.roc.auc == 0.0
    constant = metrics.calibration(np.full(41, 0.4), advantage)
    assert math.isnan(constant.pearson) and constant.roc.auc == 0.5
    np.testing.assert_allclose(constant.reliability.phi, 0.4)
    with pytest.raises(ValueError):
        metrics.calibration(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------------------------------------
# (5) the calibration in the report


def _table_rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_report_calibration_table_figures_and_per_image_values(synthetic_root, tmp_path):
    report = run_report(ReportOptions(["col_synth", "inpcrop_synth"], root=synthetic_root, name="calibration", out=tmp_path,
                                      grid=0, lpips="off"))
    assert {p.name for p in report.figures} == {"phi_histogram.png"} | CALIBRATION_FIGURES | STRENGTH_FIGURES
    for name in CALIBRATION_FIGURES | STRENGTH_FIGURES:
        assert imageio.read_rgb(report.folder / name, allow_conversion=True).shape[2] == 3
        assert f"![{name[:-4]}]({name})" in report.summary.read_text()
    assert f"## {CALIBRATION_TITLE}" in report.summary.read_text()

    # the table pools the pixels of the test images, computed here again from the files
    experiment = Experiment("inpcrop_synth", synthetic_root)
    phi, advantage = [], []
    for i in (4, 5):
        gt, prior = imageio.read_rgb(experiment.gt_path(i)), imageio.read_rgb(experiment.prior_path(i))
        pixels = metrics.calibration_pixels(imageio.read_rgb(experiment.output_dir() / f"{i}_phi.png"),
                                            metrics.prior_advantage(imageio.chw_to_hwc(experiment.read_observation(i)), prior, gt))
        phi.append(pixels[0])
        advantage.append(pixels[1])
    expected = metrics.calibration(np.concatenate(phi), np.concatenate(advantage))
    row = _table_rows(report.tables[CALIBRATION_TITLE])[1]
    assert row[:4] == ["inpcrop_synth", "inpcrop_synth_0 epoch 1", "2", str(2 * 16 * 16)]
    # phi outside [0, 1]: what the fusion test recorded in the run's metrics.json (the saved 8-bit maps are clamped)
    recorded = {image["index"]: image["bigprior"][metrics.PHI_OUTSIDE_KEY]
                for image in imageio.read_json(synthetic_root / "net_data" / "inpcrop_synth_0" / "metrics.json")["images"]}
    assert row[4:] == [f"{expected.prior_better_share:.3f}", f"{expected.pearson:.3f}", f"{expected.roc.auc:.3f}",
                       f"{expected.phi_where_prior_better:.3f}", f"{expected.phi_where_observation_better:.3f}",
                       f"{np.mean([recorded[4], recorded[5]]):.4f}"]

    rows = [r for r in _read_csv(report.results_csv) if r["experiment"] == "inpcrop_synth"]
    image = metrics.calibration(phi[1], advantage[1])
    assert float(rows[1]["phi_advantage_r"]) == pytest.approx(image.pearson, abs=1e-12)
    assert float(rows[1]["phi_roc_auc"]) == pytest.approx(image.roc.auc, abs=1e-12)
    assert float(rows[1]["prior_better_share"]) == pytest.approx(image.prior_better_share, abs=1e-12)
    assert float(rows[1]["phi_outside_share"]) == pytest.approx(recorded[5], abs=1e-12)


def test_report_reads_phi_outside_from_the_fusion_runs_metrics(synthetic_root, tmp_path):
    _copy_experiment(synthetic_root, tmp_path, "col_synth")
    shutil.copytree(synthetic_root / "net_data" / "col_synth_0", tmp_path / "net_data" / "col_synth_0")
    path = tmp_path / "net_data" / "col_synth_0" / "metrics.json"
    document = imageio.read_json(path)
    for image, share in zip(document["images"], (0.25, 0.125)):
        image["bigprior"][metrics.PHI_OUTSIDE_KEY] = share
    imageio.write_json(path, document)
    report = run_report(ReportOptions(["col_synth"], root=tmp_path, grid=0, lpips="off"))
    assert _table_rows(report.tables[CALIBRATION_TITLE])[0][-1] == "0.1875"
    assert [float(r["phi_outside_share"]) for r in _read_csv(report.results_csv)] == [0.25, 0.125]

    document["epoch"] = 0  # metrics of another test than the one that wrote OURoutput/: not used, and said so
    imageio.write_json(path, document)
    report = run_report(ReportOptions(["col_synth"], root=tmp_path, grid=0, lpips="off"))
    assert _table_rows(report.tables[CALIBRATION_TITLE])[0][-1] == "n/a"
    assert any(note.startswith(f"{path}: of epoch 0, not of the epoch 1") for note in report.notes)


def test_report_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        cli_main(["report", "--help"])
    assert capsys.readouterr().out.startswith("usage: bigprior report")


# ---------------------------------------------------------------------------------------------
# the report's contents


def test_report_scores_every_method_of_every_experiment(synthetic_root):
    report = run_report(ReportOptions(None, root=synthetic_root, name="all", grid=2, lpips="off"))
    assert report.folder == synthetic_root / "reports" / "all"
    rows = _read_csv(report.results_csv)
    assert [(r["experiment"], int(r["index"])) for r in rows] == [(e, i) for e in SYNTHETIC_EXPERIMENTS for i in (4, 5)]
    by_key = {(r["experiment"], int(r["index"])): r for r in rows}
    root = synthetic_root / "inter_data"
    for experiment, method, folder in [("denblind_synth", "DnCNN", "DnCNNoutput"), ("inpvar_synth", "Telea", "Teleaoutput"),
                                       ("inpcrop_synth", "NavierStokes", "NavierStokesoutput"), ("col_synth", "bigprior", "OURoutput"),
                                       ("col_synth", "prior", "mGANoutput")]:
        image, gt = imageio.read_rgb(root / experiment / folder / "5.png"), imageio.read_rgb(root / experiment / "GT" / "5.png")
        row = by_key[(experiment, 5)]
        assert float(row[f"{method}_psnr"]) == pytest.approx(metrics.psnr(image, gt), abs=1e-12)
        assert float(row[f"{method}_ssim"]) == pytest.approx(metrics.ssim(image, gt), abs=1e-12)
    phi = imageio.read_rgb(root / "col_synth" / "OURoutput" / "4_phi.png") / 255.0
    assert float(by_key[("col_synth", 4)]["phi_mean"]) == pytest.approx(phi.mean(), abs=1e-12)
    assert float(by_key[("col_synth", 4)]["bigprior_auc"]) == pytest.approx(
        metrics.auc(imageio.read_rgb(root / "col_synth" / "OURoutput" / "4.png"), imageio.read_rgb(root / "col_synth" / "GT" / "4.png")))
    assert by_key[("denblind_synth", 4)]["DnCNN_psnr"] and not by_key[("col_synth", 4)]["DnCNN_psnr"]

    summary = report.summary.read_text()
    for task in ("colorization", "blind denoising", "inpainting (fixed mask)", "inpainting (random masks)"):
        assert f"| {task} | 1 |" in summary
    assert "LPIPS: not computed (--lpips off)" in summary
    names = {p.name for p in report.figures}
    assert names == {f"grid_{e}.png" for e in SYNTHETIC_EXPERIMENTS} | {"phi_vs_sigma.png", "phi_vs_prior_psnr.png", "phi_histogram.png"} \
        | CALIBRATION_FIGURES | STRENGTH_FIGURES
    assert all(p.is_file() and p.stat().st_size > 0 for p in report.figures)
    assert sorted(p.name for p in report.folder.iterdir()) == sorted(names | {"results.csv", "summary.md"})


def test_two_runs_of_one_experiment_are_two_labelled_rows(tmp_path):
    for workspace in ("a", "b"):
        make_fused_experiment(tmp_path / workspace, "col_synth", seed=0 if workspace == "a" else 1)
    specs = [f"paper={tmp_path / 'a' / 'inter_data' / 'col_synth'}", f"own={tmp_path / 'b' / 'inter_data' / 'col_synth'}"]
    report = run_report(ReportOptions(specs, root=tmp_path, name="compare", grid=1, lpips="off"))
    table = report.tables["Results per experiment"]
    assert "| col_synth | paper | 2 |" in table and "| col_synth | own | 2 |" in table
    assert {p.name for p in report.figures} >= {"grid_col_synth_paper.png", "grid_col_synth_own.png"}
    with pytest.raises(BIGPriorError, match="share a name and a run"):
        run_report(ReportOptions([specs[0], specs[0]], root=tmp_path, name="twice", lpips="off"))


def test_published_numbers_from_a_table_and_from_run_files(tmp_path):
    text = "intro\n\n| experiment | prior PSNR | BIGPrior PSNR | mean phi | prior AuC |\n| --- | --- | --- | --- | --- |\n" \
           "| col_x | 22.29 | 23.08 | 0.458 | 88.52 |\n| den_x | 22.72 | 26.77 | 0.626 | |\n\n| other | table |\n| --- | --- |\n| a | 1 |\n"
    assert parse_results_table(text) == {
        "col_x": {"prior_psnr": 22.29, "bigprior_psnr": 23.08, "phi_mean": 0.458, "prior_auc": 88.52},
        "den_x": {"prior_psnr": 22.72, "bigprior_psnr": 26.77, "phi_mean": 0.626},
    }
    run = tmp_path / "net_data" / "inpcrop_x_3"
    run.mkdir(parents=True)
    np.save(run / "MSE.npy", np.array([0.01, 0.001]))
    np.save(run / "Mphi.npy", np.array([0.2, 0.4]))
    published = load_published(tmp_path)
    assert published.get("inpcrop_x", "bigprior_psnr") == pytest.approx(25.0)
    assert published.get("inpcrop_x", "phi_mean") == pytest.approx(0.3)
    assert published.get("inpcrop_x", "prior_psnr") is None
    with pytest.raises(BIGPriorError, match="no results table"):
        load_published(tmp_path / "net_data" / "inpcrop_x_3")


def test_paper_published_folder_is_read_whole():
    require_shared(PAPER / "README.md")
    published = load_published(PAPER)
    assert len(published.values) == 11
    assert published.get("col_bedroom", "bigprior_auc") == 89.28  # the README table wins
    assert published.get("inpvar_conference", "phi_mean") == 0.330


# ---------------------------------------------------------------------------------------------
# (3) bad inputs: the file is named, the exit status is non-zero, the previous report stays


def _copy_experiment(synthetic_root: Path, tmp_path: Path, name: str) -> Path:
    shutil.copytree(synthetic_root / "inter_data" / name, tmp_path / "inter_data" / name)
    return tmp_path / "inter_data" / name


def test_missing_or_unreadable_image_is_named_and_exits_nonzero(synthetic_root, tmp_path, capsys):
    folder = _copy_experiment(synthetic_root, tmp_path, "col_synth")
    assert cli_main(["report", "col_synth", "--root", str(tmp_path), "--name", "r", "--lpips", "off", "--grid", "1"]) == 0
    summary = (tmp_path / "reports" / "r" / "summary.md").read_text()

    missing = folder / "OURoutput" / "5.png"
    missing.unlink()
    result = run_script(["code/report.py", "col_synth", "--root", str(tmp_path), "--name", "r", "--lpips", "off"], cwd=Path(__file__).parents[1])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {missing}: file not found"
    assert (tmp_path / "reports" / "r" / "summary.md").read_text() == summary  # the last good report stays
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["r"]  # nothing half-built left

    shutil.copy(synthetic_root / "inter_data" / "col_synth" / "OURoutput" / "5.png", missing)
    corrupt = folder / "mGANoutput" / "4.png"
    corrupt.write_bytes(b"not a png")
    capsys.readouterr()
    assert cli_main(["report", "col_synth", "--root", str(tmp_path), "--name", "r", "--lpips", "off"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {corrupt}: not a readable image")
    assert cli_main(["report", "--root", str(tmp_path / "nothing")]) == 2
    assert "no experiment with an OURoutput/ folder" in capsys.readouterr().err


def test_report_error_messages(synthetic_root, tmp_path, capsys):
    folder = _copy_experiment(synthetic_root, tmp_path, "denblind_synth")
    imageio.write_json(folder / "input" / "sigma.json", [25])
    with pytest.raises(BIGPriorError, match=r"sigma\.json: expected a JSON list"):
        run_report(ReportOptions(["denblind_synth"], root=tmp_path, lpips="off"))
    make_experiment(tmp_path, "col_other")
    with pytest.raises(BIGPriorError, match=r"col_other/OURoutput: folder not found"):
        run_report(ReportOptions(["col_other"], root=tmp_path, lpips="off"))
    with pytest.raises(BIGPriorError, match="--grid_images: image 1 is not a test image"):
        run_report(ReportOptions([str(_copy_experiment(synthetic_root, tmp_path, "col_synth"))], root=tmp_path, grid_images=[1], lpips="off"))
    with pytest.raises(BIGPriorError, match="--lpips_weights|LPIPS weights not found"):
        run_report(ReportOptions(["col_synth"], root=tmp_path, lpips="required", lpips_weights=str(tmp_path / "none")))


def test_fusion_test_records_the_run_it_comes_from(tmp_path):
    make_experiment(tmp_path, "inpcrop_synth")
    run_fusion(tmp_path, "inpcrop_synth", epochs=1)
    run_fusion(tmp_path, "inpcrop_synth", epochs=1)
    args = imageio.read_json(tmp_path / "inter_data" / "inpcrop_synth" / "OURoutput" / "OURargs.txt")
    assert (args["test_model"], args["test_epoch"]) == (1, 0)
