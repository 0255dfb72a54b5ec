"""What a report is about: the experiments, their test images, the methods with outputs, the noise
levels, and what their fusion run recorded beyond its saved images."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import imageio, metrics
from ..degradations import BlindAWGN
from ..errors import BIGPriorError
from ..experiment import FUSION_ARGS_FILE, METRICS_FILE, PRIOR_DIR, Experiment, run_dir
from ..fusion.options import FusionOptions
from .options import slug

PRIOR, BIGPRIOR = "prior", "bigprior"
METHOD_TITLES = {PRIOR: "prior", BIGPRIOR: "BIGPrior"}


def records_noise_level(experiment: Experiment) -> bool:
    """Whether the experiment's task records a noise level per image (input/sigma.json): the one place
    the report asks which task it is looking at."""
    return issubclass(experiment.degradation, BlindAWGN)


@dataclass
class Entry:
    """One experiment's test outputs (a row of the summary)."""

    experiment: Experiment
    label: str  # row name: the user's label, else the fusion run and epoch
    key: str  # unique name for file names
    indices: list[int]
    methods: dict[str, Path]  # method -> folder of its {i}.png: prior, bigprior, then the baselines
    sigmas: list[float] | None  # noise level per image index (denoising)
    phi_outside: dict[int, float] | None = None  # share of phi outside [0, 1] per image, from the fusion run
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.experiment.name if self.label == self.experiment.name else f"{self.experiment.name} ({self.label})"


def discover_experiments(root: Path) -> list[str]:
    """Every `inter_data/<experiment>/` with an `OURoutput/` folder, sorted; folders whose name is not
    `<task>_<dataset>` of a known task are skipped with a note."""
    inter_data = root / "inter_data"
    names = []
    for folder in sorted(inter_data.iterdir()) if inter_data.is_dir() else []:
        if not (folder / "OURoutput").is_dir():
            continue
        try:
            Experiment(folder.name, root)
        except BIGPriorError as exc:
            print(f"note: skipping {folder}: {exc}", file=sys.stderr)
            continue
        names.append(folder.name)
    if not names:
        raise BIGPriorError(f"{inter_data}: no experiment with an OURoutput/ folder (run the fusion test first)")
    return names


def _experiment_from_spec(spec: str, root: Path) -> tuple[str | None, Experiment]:
    label, sep, target = spec.partition("=")
    if not sep:
        label, target = None, spec
    if os.sep in target or Path(target).is_dir():
        return label, Experiment.from_dir(target)
    return label, Experiment(target, root)


def _fusion_test(experiment: Experiment) -> FusionOptions | None:
    """The options of the fusion test that wrote OURoutput/ (OURoutput/OURargs.txt), if recorded."""
    out_dir = experiment.output_dir()
    if not out_dir.is_dir():
        raise BIGPriorError(f"{out_dir}: folder not found (run the fusion test of {experiment.name} first)")
    return FusionOptions.load(out_dir) if (out_dir / FUSION_ARGS_FILE).is_file() else None


def _test_indices(experiment: Experiment, test: FusionOptions | None) -> list[int]:
    """The fusion test's images (train_count..N-1); without its options, the images in OURoutput/."""
    if test is not None:
        return experiment.split(test.train_count)[1]
    indices = sorted(int(p.stem) for p in experiment.output_dir().glob("*.png") if p.stem.isdigit())
    if not indices:
        raise BIGPriorError(f"{experiment.output_dir()}: no fused images <index>.png")
    return indices


def _sigmas(experiment: Experiment, indices: list[int]) -> list[float] | None:
    if not records_noise_level(experiment):
        return None
    sigmas = imageio.read_json(experiment.sigma_path)
    if not isinstance(sigmas, list) or len(sigmas) <= max(indices) or not all(isinstance(s, (int, float)) for s in sigmas):
        raise BIGPriorError(f"{experiment.sigma_path}: expected a JSON list of numbers with an entry for each image up to {max(indices)}")
    return [float(s) for s in sigmas]


def recorded_phi_outside(experiment: Experiment, test: FusionOptions | None, indices: list[int]) -> tuple[dict[int, float] | None, str | None]:
    """The share of phi outside [0, 1] per test image, as the fusion test recorded it in its run's
    metrics.json (`images[k].bigprior.phi_outside_share`; the saved 8-bit phi maps are clamped and
    cannot show it), and a note when that file is of another test than OURoutput/'s. (None, None)
    without the file or the key (runs tested before the key existed, the paper's outputs)."""
    if test is None:
        return None, None
    path = run_dir(experiment.root, test.experiment, test.test_model) / METRICS_FILE
    document = imageio.read_json(path) if path.is_file() else None
    if not isinstance(document, dict):
        return None, None
    if document.get("epoch") != test.test_epoch or document.get("test_images") != indices:
        return None, (f"{path}: of epoch {document.get('epoch')}, not of the epoch {test.test_epoch} tested in "
                      f"{experiment.output_dir()}: phi outside [0, 1] n/a.")
    values = {image.get("index"): image.get("bigprior", {}).get(metrics.PHI_OUTSIDE_KEY) for image in document.get("images", [])}
    if not all(isinstance(values.get(i), (int, float)) for i in indices):
        return None, None
    return {i: float(values[i]) for i in indices}, None


def _entry(label: str | None, experiment: Experiment) -> Entry:
    test = _fusion_test(experiment)
    indices = _test_indices(experiment, test)
    run = f"{test.experiment}_{test.test_model} epoch {test.test_epoch}" if test is not None else experiment.name
    methods = {PRIOR: experiment.dir / PRIOR_DIR, BIGPRIOR: experiment.output_dir()}
    methods.update({name: experiment.method_dir(name) for name in experiment.baseline_methods()})
    phi_outside, note = recorded_phi_outside(experiment, test, indices)
    return Entry(experiment, label or run, "", indices, methods, _sigmas(experiment, indices), phi_outside, [note] if note else [])


def resolve_entries(specs: Sequence[str] | None, root: Path) -> list[Entry]:
    """Entries for experiment names, folders or `label=...` specs (default: every experiment of `root`)."""
    specs = list(specs) if specs else discover_experiments(root)
    parsed = [_experiment_from_spec(spec, root) for spec in specs]  # every spec checked before any folder is read
    entries = [_entry(label, experiment) for label, experiment in parsed]
    names = [e.experiment.name for e in entries]
    for entry in entries:
        unique = names.count(entry.experiment.name) == 1
        entry.key = entry.experiment.name if unique else slug(f"{entry.experiment.name}_{entry.label}")
        if not unique and entry.label == entry.experiment.name:
            entry.label = str(entry.experiment.root)
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise BIGPriorError("two experiments share a name and a run: label them, e.g. paper=ws1/inter_data/col_bedroom")
    return entries
