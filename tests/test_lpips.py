"""LPIPS: the loading code reads the usual weight files (made here with random weights, as the real
ones cannot be downloaded), and the distance has the properties of the paper's metric."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from synthetic_workspace import make_fused_experiment

from bigprior import imageio, metrics, zoo
from bigprior.errors import BIGPriorError
from bigprior.report import ReportOptions, run_report


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Random weights in the files' real formats (the AlexNet file of torchvision holds its classifier
    too: a key of it is kept to check that it is ignored)."""
    folder = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet(weights=None).state_dict()
    torch.save({k: v for k, v in alexnet.items() if k.startswith("features.") or k == "classifier.6.bias"},
               folder / zoo.ALEXNET_FILE)
    channels = (64, 192, 384, 256, 256)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(channels)}, folder / zoo.LPIPS_LINEAR_FILE)
    return folder


@pytest.fixture(scope="module")
def model(weights_dir):
    return metrics.load_lpips(weights_dir)


def _images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_lpips_distance_properties(model, weights_dir):
    a, b = _images()
    assert metrics.lpips(model, a, a) == 0.0
    d = metrics.lpips(model, a, b)
    assert d > 0 and d == pytest.approx(metrics.lpips(model, b, a), rel=1e-6)
    assert metrics.lpips(model, a, a / 255.0) == pytest.approx(0.0, abs=1e-6)  # uint8 and [0, 1] floats agree
    assert metrics.lpips(metrics.load_lpips(weights_dir, version="0.1"), a, b) != pytest.approx(d)  # v0.1 scales its inputs


def test_lpips_loads_the_weights_it_is_given(model, weights_dir):
    state = torch.load(weights_dir / zoo.ALEXNET_FILE, weights_only=True)
    assert torch.equal(model.slices[1][1].weight, state["features.3.weight"])  # relu2 slice: maxpool, conv 64->192
    linear = torch.load(weights_dir / zoo.LPIPS_LINEAR_FILE, weights_only=True)
    assert torch.equal(model.lins[4].weight, linear["lin4.model.1.weight"])


def test_lpips_weight_locations_and_errors(weights_dir, tmp_path, monkeypatch):
    assert zoo.find_lpips_weights(weights_dir) == (weights_dir / zoo.ALEXNET_FILE, weights_dir / zoo.LPIPS_LINEAR_FILE)
    monkeypatch.setenv(zoo.WEIGHTS_ENV, str(weights_dir))  # the one weights folder of every model
    assert zoo.find_lpips_weights() == (weights_dir / zoo.ALEXNET_FILE, weights_dir / zoo.LPIPS_LINEAR_FILE)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(zoo.WEIGHTS_ENV, str(empty))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    alexnet, linear = zoo.find_lpips_weights(version="0.0")
    assert alexnet == empty / zoo.ALEXNET_FILE  # not found: named at the first place to put it
    assert linear == empty / zoo.LPIPS_LINEAR_FILE
    assert zoo.find_lpips_weights(weights_dir=weights_dir) == (weights_dir / zoo.ALEXNET_FILE, weights_dir / zoo.LPIPS_LINEAR_FILE)

    with pytest.raises(BIGPriorError, match=f"{tmp_path / zoo.ALEXNET_FILE}: LPIPS weights not found"):
        metrics.load_lpips(tmp_path)
    (tmp_path / zoo.ALEXNET_FILE).symlink_to(weights_dir / zoo.ALEXNET_FILE)
    torch.save({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, tmp_path / zoo.LPIPS_LINEAR_FILE)
    with pytest.raises(BIGPriorError, match=r"expected key lin0\.model\.1\.weight of shape \(1, 64, 1, 1\)"):
        metrics.load_lpips(tmp_path)
    (tmp_path / zoo.LPIPS_LINEAR_FILE).write_bytes(b"garbage")
    with pytest.raises(BIGPriorError, match="not a readable LPIPS weight file"):
        metrics.load_lpips(tmp_path)


def test_report_columns_with_lpips(weights_dir, model, tmp_path):
    torch.set_num_threads(1)
    experiment = make_fused_experiment(tmp_path, "inpcrop_synth")
    report = run_report(ReportOptions(["inpcrop_synth"], root=tmp_path, grid=0, lpips="required", lpips_weights=str(weights_dir)))
    assert report.notes == []
    with open(report.results_csv, newline="") as f:
        row = next(csv.DictReader(f))
    gt = imageio.read_rgb(experiment.gt_path(4))
    for method, folder in (("prior", "mGANoutput"), ("bigprior", "OURoutput")):
        image = imageio.read_rgb(experiment.dir / folder / "4.png")
        assert float(row[f"{method}_lpips"]) == pytest.approx(metrics.lpips(model, image, gt), rel=1e-6)
    assert "n/a" not in report.tables["Results per experiment"]
