"""analysis.ipynb: stored without outputs, and runs headless on a small fixture, showing its tables and figures."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient
from synthetic_workspace import make_fused_experiment

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "analysis.ipynb"


def _load():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_stored_without_outputs_and_parameters_come_first():
    notebook = _load()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    parameters = notebook.cells[0]
    assert parameters.cell_type == "code" and parameters.source.startswith("# Parameters")
    assert {"ROOT", "EXPERIMENTS", "REPORT_NAME", "PUBLISHED", "GRID_IMAGES"} <= {
        line.split("=")[0].strip() for line in parameters.source.splitlines() if "=" in line}


def test_notebook_runs_on_a_fixture_and_shows_figures(tmp_path):
    torch.set_num_threads(1)
    for name in ("col_synth", "denblind_synth"):
        make_fused_experiment(tmp_path, name)
    notebook = _load()
    notebook.cells[0].source = (f"ROOT = {str(tmp_path)!r}\nEXPERIMENTS = None\nREPORT_NAME = 'ci'\n"
                                "PUBLISHED = None\nGRID_IMAGES = 2\n")
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [base64.b64decode(o.data["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    report = tmp_path / "reports" / "ci"
    expected = ["grid_col_synth.png", "grid_denblind_synth.png", "phi_vs_sigma.png", "phi_vs_prior_psnr.png", "phi_histogram.png",
                "phi_reliability.png", "phi_roc.png", "prior_strength.png"]
    assert shown == [(report / name).read_bytes() for name in expected]
    tables = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any(t.startswith("### Results per experiment") and "| col_synth |" in t for t in tables)
    assert any(t.startswith("### Calibration of phi") and "| denblind_synth |" in t for t in tables)
    assert (report / "summary.md").is_file() and (report / "results.csv").is_file()
