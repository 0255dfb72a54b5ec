"""Known-answer tests of the fusion stage against the paper's published checkpoints and metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bigprior import imageio
from bigprior.degradations import DEGRADATIONS
from bigprior.fusion import FusionSpec, build_fusion_model, load_fusion_state_dict, paper_state_dict
from bigprior.metrics import psnr_from_mse
from conftest import PAPER, paper_col_bedroom_workspace, require_shared, run_script, ROOT

PAPER_EXPERIMENTS = [
    "col_bedroom", "col_church",
    "denblind_bedroom", "denblind_church", "denblind_conference",
    "inpcrop_bedroom", "inpcrop_church", "inpcrop_conference",
    "inpvar_bedroom", "inpvar_church", "inpvar_conference",
]


def _paper_checkpoint(experiment: str) -> dict:
    path = require_shared(PAPER / "net_data" / f"{experiment}_1" / "net_24.pth")
    return torch.load(path, map_location="cpu", weights_only=True)


def test_paper_test_command_reproduces_published_col_bedroom_metrics(tmp_path):
    """`train.py --test True` on the paper's data and checkpoint gives its MSE/Mphi/AUC per image."""
    root = paper_col_bedroom_workspace(tmp_path)
    result = run_script(
        [str(ROOT / "code" / "train.py"), "--experiment", "col_bedroom", "--test", "True",
         "--test_model", "1", "--test_epoch", "24", "--device", "cpu", "--workers", "2"],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    published = PAPER / "net_data" / "col_bedroom_1"
    run = root / "net_data" / "col_bedroom_1"
    for name, tolerance in [("MSE", 1e-6), ("MSE_GAN", 1e-6), ("Mphi", 1e-5), ("AUC", 0.01), ("AUC_GAN", 0.01)]:
        ours, theirs = np.load(run / f"{name}.npy"), np.load(published / f"{name}.npy")
        assert ours.shape == theirs.shape == (50,)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance, err_msg=name)
    assert round(float(psnr_from_mse(np.load(run / "MSE.npy")).mean()), 2) == 23.08
    assert round(float(np.load(run / "AUC.npy").mean()), 2) == 89.28

    summary = json.loads((run / "metrics.json").read_text())
    assert summary["test_images"] == list(range(250, 300))
    assert summary["mean"]["bigprior"]["psnr"] == pytest.approx(23.084, abs=1e-3)
    assert summary["mean"]["prior"]["auc"] == pytest.approx(88.52, abs=0.01)
    assert "23.08" in result.stdout and "89.28" in result.stdout  # the one-screen summary
    outputs = root / "inter_data" / "col_bedroom" / "OURoutput"
    for i in (250, 299):
        assert imageio.read_rgb(outputs / f"{i}.png").shape == (256, 256, 3)
        assert imageio.read_rgb(outputs / f"{i}_phi.png").shape == (256, 256, 3)
    # The saved PNGs are the paper's own outputs up to 8-bit rounding of float differences.
    paper_png = imageio.read_rgb(PAPER / "inter_data" / "col_bedroom" / "OURoutput" / "250.png").astype(int)
    assert np.abs(imageio.read_rgb(outputs / "250.png").astype(int) - paper_png).max() <= 1


@pytest.mark.parametrize(
    "experiment, category",
    [("col_church", "church"), ("inpcrop_bedroom", "bedroom"), ("inpcrop_church", "church"),
     ("inpcrop_conference", "conference")],
)
def test_published_phi_means_from_rebuilt_observations(experiment, category):
    """phi depends on the observation alone, and these observations are deterministic (luma, centre
    hole): rebuilding them from the LSUN images with our degradations and 8-bit files must give the
    published per-image mean phi of the paper's checkpoints."""
    images = imageio.list_images(require_shared(PAPER / "lsun" / category))
    published = np.load(PAPER / "net_data" / f"{experiment}_1" / "Mphi.npy")
    degradation = DEGRADATIONS[experiment.split("_")[0]]()
    model = build_fusion_model(FusionSpec(observation_channels=degradation.observation_channels))
    load_fusion_state_dict(model, _paper_checkpoint(experiment))
    model.eval()
    for index in (250, 277, 299):
        clean = imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_rgb(images[index])))
        observation = degradation.observe(clean, index, seed=0)
        stored = imageio.uint8_from_float_truncated(observation.x)  # what the inversion stage writes
        x = imageio.hwc_to_chw(imageio.float_from_uint8(stored.transpose(1, 2, 0)))
        with torch.no_grad():
            out, phi = model(x[None], clean[None])
        assert out.shape == (1, 3, 256, 256)
        assert float(phi.mean()) == pytest.approx(published[index - 250], abs=1e-5)


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_every_published_checkpoint_loads_and_runs(experiment):
    state = _paper_checkpoint(experiment)
    degradation = DEGRADATIONS[experiment.split("_")[0]]
    model = build_fusion_model(FusionSpec(observation_channels=degradation.observation_channels))
    load_fusion_state_dict(model, state, experiment)
    model.eval()
    x = torch.rand(1, degradation.observation_channels, 40, 48)
    prior = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        out, phi = model(x, prior)
    assert out.shape == phi.shape == (1, 3, 40, 48)
    assert torch.isfinite(out).all()
    # saved back in the paper's layout, key for key and value for value
    saved = paper_state_dict(model)
    assert list(saved) == list(state)
    assert all(torch.equal(saved[k], state[k].cpu()) for k in state)


def test_checkpoint_of_another_task_is_refused():
    from bigprior.errors import BIGPriorError

    model = build_fusion_model(FusionSpec(observation_channels=3))  # a 3-channel observation model cannot take the colorization net
    with pytest.raises(BIGPriorError, match="module.backbone.dncnn.0.weight"):
        load_fusion_state_dict(model, _paper_checkpoint("col_bedroom"), "net_24.pth")
