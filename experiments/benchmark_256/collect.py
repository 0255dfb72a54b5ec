"""The 256 px benchmark's table (issue 19): on each experiment's test images, every classical peer, the
generative prior, the built-in two-source BIGPrior networks, the paper's fusion (when fuse.sh ran it),
and the multi-source fusion, scored the same way.

    python experiments/benchmark_256/collect.py runs/benchmark_256 --train_count 100 --out results/benchmark_256

Every method is scored as a user gets it: its 8-bit output image (a fusion's output rounded as `bigprior
restore` writes it, with the known pixels of an inpainting observation pasted back, as restore's default
`--keep_known True` does and as the peers do by construction) against the ground truth, with the package's
metric registry (`bigprior.scoring`: PSNR, SSIM, AuC for colorization). The multi-source fusion's mean shares
(data / classical / generative) and the calibration of its generative share (Pearson r with the per-pixel
advantage of the prior over every other source) are those of its run's metrics.json. Writes `table.md`
(per experiment, and the summary the issue asks for) and `records.json` into --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bigprior import imageio
from bigprior.baselines.classical import REGISTRY
from bigprior.defaults import load_defaults
from bigprior.degradations import Observation
from bigprior.experiment import METRICS_FILE, Experiment, workspace_root
from bigprior.fusion.data import load_fusion_data
from bigprior.fusion.loading import load_fusion_run
from bigprior.fusion.networks import FusionNetwork
from bigprior.fusion.options import FusionOptions
from bigprior.pipeline import fuse_once
from bigprior.restoration import paste_known
from bigprior.scoring import score_image

EXPERIMENTS = ("col_bedroom", "col_church", "inpcrop_bedroom", "inpcrop_church", "inpcrop_conference", "inpvar_bedroom",
               "inpvar_church", "inpvar_conference", "denblind_bedroom", "denblind_church", "denblind_conference")
PRIOR, BUILTIN, PAPER, MULTI = "prior (built-in 64 px PGGAN)", "BIGPrior built-in (two sources)", \
    "BIGPrior paper's fusion", "BIGPrior multi-source"
MULTI_EXTRA = "BIGPrior multi-source with optional-extra sources"  # e.g. BM3D: not in the default install
FUSIONS = (BUILTIN, PAPER, MULTI, MULTI_EXTRA)


def is_optional(method: str) -> bool:
    """Whether a peer needs an optional extra (BM3D: the bm3d package's non-commercial licence)."""
    return method in REGISTRY and REGISTRY[method].optional is not None


def fused_outputs(model: FusionNetwork, experiment: Experiment, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Each test image's fused output as restore writes it: 8 bits, known pixels pasted back."""
    data = load_fusion_data(experiment, indices, model.spec, desc=f"fusing {experiment.name}")
    outputs = {}
    for k, index in enumerate(indices):
        mask = data.mask[k : k + 1] if data.mask is not None else None
        if mask is None and experiment.degradation.has_mask:
            mask = experiment.read_mask(index, *data.gt.shape[-2:])[None]
        out, _ = fuse_once(model, data.x[k : k + 1], data.sources[k : k + 1], mask if model.spec.sources else None)
        restored = imageio.chw_to_hwc(out[0].float())
        observation = Observation(x=data.x[k], mask=mask[0] if mask is not None else None)
        outputs[index] = imageio.uint8_from_float(paste_known(restored, observation))
    return outputs


def runs_of(experiment: Experiment) -> dict[str, Path]:
    """The experiment's tested fusion runs, by kind: the paper's fusion (DnCNN, unbounded phi, two sources), the
    multi-source fusion over default-install sources and the one with an optional extra's (the newest of each)."""
    found: dict[str, Path] = {}
    for folder in sorted(experiment.root.glob(f"net_data/{experiment.name}_*"), key=lambda p: int(p.name.rsplit("_", 1)[1])):
        if not (folder / METRICS_FILE).is_file():
            continue
        options = FusionOptions.load(folder)
        if options.sources:
            found[MULTI_EXTRA if any(is_optional(name) for name in options.sources.split(",")) else MULTI] = folder
        elif options.backbone == "D" and options.phi_activation == "none" and not options.extend_input:
            found[PAPER] = folder
    return found


def score_experiment(experiment: Experiment, train_count: int, device: torch.device) -> dict:
    """Mean scores of every method on the test images, and the multi-source run's shares and calibration."""
    _, test = experiment.split(train_count)
    color = experiment.degradation.color_metrics
    outputs: dict[str, dict[int, np.ndarray]] = {
        name: {i: imageio.read_rgb(experiment.method_dir(name) / f"{i}.png") for i in test} for name in experiment.baseline_methods()}
    outputs[PRIOR] = {i: imageio.read_rgb(experiment.prior_path(i)) for i in test}
    builtin = load_defaults().task(experiment.task)
    if not builtin.spec.sources:
        outputs[BUILTIN] = fused_outputs(builtin.fusion_model(device).eval(), experiment, test)
    record: dict = {"experiment": experiment.name, "test_images": test, "methods": {}}
    for kind, folder in runs_of(experiment).items():
        outputs[kind] = fused_outputs(load_fusion_run(folder, device=device).model.eval(), experiment, test)
        record.setdefault("runs", {})[kind] = folder.name
        if kind in (MULTI, MULTI_EXTRA):
            tested = imageio.read_json(folder / METRICS_FILE)
            account = record if kind == MULTI else record.setdefault("with_extras", {})
            account["shares"] = {key: tested["mean"]["bigprior"][f"{key}_share"] for key in ("data", "classical", "generative")}
            account["pearson_generative_advantage"] = tested["calibration"]["pearson_phi_advantage"]
            account["sources"] = tested["sources"]
    gts = {i: imageio.float_from_uint8(imageio.read_rgb(experiment.gt_path(i))) for i in test}
    for name, images in outputs.items():
        scores = [score_image(imageio.float_from_uint8(images[i]), gts[i], color_metrics=color) for i in test]
        record["methods"][name] = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}
    return record


def peers_of(record: dict, extras: bool = False) -> dict[str, dict]:
    """The classical peers' scores: those of the default install, or with `extras` every one."""
    return {name: scores for name, scores in record["methods"].items()
            if name != PRIOR and name not in FUSIONS and (extras or not is_optional(name))}


def experiment_table(record: dict) -> list[str]:
    color = "auc" in next(iter(record["methods"].values()))
    lines = [f"### {record['experiment']}", "", "| method | PSNR | SSIM |" + (" AuC |" if color else ""),
             "| --- | --- | --- |" + (" --- |" if color else "")]
    for name, s in sorted(record["methods"].items(), key=lambda item: -item[1]["psnr"]):
        lines.append(f"| {name} | {s['psnr']:.2f} | {s['ssim']:.4f} |" + (f" {s['auc']:.2f} |" if color else ""))
    return lines + [""]


def score_cell(scores: dict | None) -> str:
    """PSNR (and AuC) of a method's mean scores, or "not run"."""
    if scores is None:
        return "not run"
    return f"{scores['psnr']:.2f}" + (f" / {scores['auc']:.2f}" if "auc" in scores else "")


def summary_table(records: Sequence[dict]) -> tuple[list[str], dict]:
    """One row per experiment: the best peer, the prior, each fusion, the margin over the best peer, the shares."""
    head = ("| experiment | best peer | prior | built-in | paper's fusion | multi-source | multi - best peer | "
            "shares data / classical / generative | r(generative, prior's advantage) |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    margins, r_values = [], []
    for record in records:
        methods, peers = record["methods"], peers_of(record)
        best = max(peers, key=lambda name: peers[name]["psnr"])
        cell = lambda name: score_cell(methods.get(name))
        margin = methods[MULTI]["psnr"] - peers[best]["psnr"] if MULTI in methods else None
        shares = record.get("shares")
        r = record.get("pearson_generative_advantage")
        margins += [margin] if margin is not None else []
        r_values += [r] if r is not None else []
        lines.append(f"| {record['experiment']} | {best} {cell(best)} | {cell(PRIOR)} | {cell(BUILTIN)} | {cell(PAPER)} | "
                     f"{cell(MULTI)} | {'%+.2f' % margin if margin is not None else 'n/a'} | "
                     + (" / ".join(f"{shares[k]:.2f}" for k in ("data", "classical", "generative")) if shares else "n/a")
                     + f" | {'%.3f' % r if r is not None else 'n/a'} |")
    verdict = {"experiments": len(records), "multi_source_run": len(margins),
               "at_least_best_peer": sum(m >= 0 for m in margins), "mean_margin_db": float(np.mean(margins)) if margins else None,
               "min_margin_db": float(min(margins)) if margins else None, "positive_r": sum(r > 0 for r in r_values)}
    extra_lines, extra_margins = extras_table(records)
    if extra_lines:
        lines += ["", "With the optional extras installed (peers and sources that need them, e.g. BM3D):", "", *extra_lines]
        verdict["with_extras"] = {"experiments": len(extra_margins), "at_least_best_peer": sum(m >= 0 for m in extra_margins.values()),
                                  "margins_db": extra_margins}
    return lines, verdict


def extras_table(records: Sequence[dict]) -> tuple[list[str], dict[str, float]]:
    """Per experiment with an optional extra's peer: the best peer of all, the fusion with that extra's source
    (or "not run") and its margin."""
    head = "| experiment | best peer, extras included | multi-source | with extras' sources | margin | shares | r |"
    lines, margins = [head, "|" + " --- |" * (head.count("|") - 1)], {}
    for record in records:
        peers, methods = peers_of(record, extras=True), record["methods"]
        if not any(is_optional(name) for name in peers):
            continue
        best = max(peers, key=lambda name: peers[name]["psnr"])
        account = record.get("with_extras", {})
        if MULTI_EXTRA in methods:
            margins[record["experiment"]] = methods[MULTI_EXTRA]["psnr"] - peers[best]["psnr"]
        shares, r = account.get("shares"), account.get("pearson_generative_advantage")
        margin = margins.get(record["experiment"])
        lines.append(f"| {record['experiment']} | {best} {score_cell(peers[best])} | {score_cell(methods.get(MULTI))} | "
                     f"{score_cell(methods.get(MULTI_EXTRA))} | {'%+.2f' % margin if margin is not None else 'n/a'} | "
                     + (" / ".join(f"{shares[k]:.2f}" for k in ("data", "classical", "generative")) if shares else "n/a")
                     + f" | {'%.3f' % r if r is not None else 'n/a'} |")
    return (lines if len(lines) > 2 else []), margins


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", help="experiments/benchmark_256/invert.sh's workspace")
    parser.add_argument("--train_count", type=int, default=250, help="images 0..N-1 are the training split")
    parser.add_argument("--out", type=Path, default=Path("results/benchmark_256"))
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    root = workspace_root(args.workspace)
    records = [score_experiment(Experiment(name, root), args.train_count, torch.device("cpu"))
               for name in args.experiments.split(",") if Experiment(name, root).gt_path(0).is_file()]
    summary, verdict = summary_table(records)
    text = ["# The 256 px benchmark: BIGPrior against the methods a user already has", "",
            f"`python experiments/benchmark_256/collect.py {args.workspace} --train_count {args.train_count}`", "",
            "PSNR (dB) / AuC of each method's 8-bit output on the test images; fusions with the known pixels pasted back "
            "(restore's default). Shares and r: the multi-source run's metrics.json.", "", *summary, "",
            f"Verdict: {json.dumps(verdict)}", "", "## Per experiment", ""]
    for record in records:
        text += experiment_table(record)
    imageio.write_text(args.out / "table.md", "\n".join(text) + "\n")
    imageio.write_json(args.out / "records.json", {"records": records, "verdict": verdict})
    print("\n".join(summary))
    print(f"verdict: {json.dumps(verdict)}\nwritten: {args.out}/table.md, {args.out}/records.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
