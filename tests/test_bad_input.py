"""Issue 11: bad and awkward input to every user-facing command, as a new user would give it.

Each bad case must end with a non-zero exit, a last line of output that names the file or flag at
fault, no traceback, every pre-existing file byte-identical, nothing left behind (no partial result,
no temporary file) and no code run from a file. Valid but unusual inputs must succeed.
The cases are tables (`CASES`, `UNUSUAL`); their machinery is in bad_input_cases.py.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from PIL import Image

from bad_input_cases import (MARKER, Assets, Case, RunsCode, Setup, blocking_file, code_running_pickle, empty_file,
                             image_of_mode, invoke, last_line, restore_permissions, snapshot, temp_files, text_file,
                             truncated, unwritable_folder, write_images, write_rgb)
from conftest import CODE, STYLEGAN2, VECTORS, require_shared, run_script
from synthetic_workspace import make_experiment, run_fusion

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
CPU = ["--device", "cpu"]


# ---------------------------------------------------------------------------------------------
# what every case is built from (once)


def _gan_run(root: Path) -> None:
    from bigprior.gan.training import GANOptions, train

    write_images(root / "gan" / "data", count=4, size=16)
    options = GANOptions(data=[str(root / "gan" / "data")], count=0, resolution=16, z_dim=16, channels=[16, 16, 8],
                         batch_size=4, steps=2, log_every=1, sample_every=2, checkpoint_every=2, grid_size=2, seed=5)
    train(options, root / "gan" / "runs", torch.device("cpu"), workers=1)


def _experiments(root: Path) -> None:
    """A workspace `exp` with small col/denblind/inpcrop experiments, a fusion run of col_synth (which
    wrote its OURoutput) and a DnCNN run of denblind_synth."""
    from bigprior.baselines.dncnn import DnCNNOptions, train_denoiser

    exp = root / "exp"
    for name in ("col_synth", "denblind_synth", "inpcrop_synth"):
        make_experiment(exp, name)
    run_fusion(exp, "col_synth", epochs=1)
    train_denoiser(DnCNNOptions(experiment="denblind_synth", dncnn_layers=3, epochs=1, batch_size=2, train_count=4,
                                crop_size=16), exp, torch.device("cpu"))


def _lsun(root: Path) -> None:
    env = lmdb.open(str(root / "lsun_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"a0", (write_rgb(root / "lsun_a0.png")).read_bytes())
        txn.put(b"b1", b"this record is not an image")
    env.close()


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    root = tmp_path_factory.mktemp("assets")
    weights = require_shared(VECTORS / "tiny_r32_generator.pth")
    write_images(root / "images", count=2)
    write_rgb(root / "photo.png", 37, 23)
    Image.fromarray(np.pad(np.full((8, 8), 255, np.uint8), 12)).save(root / "mask.png")
    _experiments(root)
    _gan_run(root)
    _lsun(root)
    inversion = ["-i", str(root / "images"), "-o", str(root / "inv" / "inter_data" / "col_tiny"), "--gan_weights",
                 str(weights), *INVERSION_FAST]
    assert invoke("colorization", inversion) == 0
    return Assets(root, weights, require_shared(VECTORS / "tiny_r32_official_tf.pkl"),
                  require_shared(STYLEGAN2 / "tiny_r32_official.pkl"))


# ---------------------------------------------------------------------------------------------
# command lines


INVERSION_FAST = ["--vgg_lambda", "0", "--iterations", "1", "--composing_layer", "4", "--z_number", "2", *CPU]


def restore_argv(ws: Path, inputs: list[Path], *extra: str, task: str = "inpaint") -> list[str]:
    return ["--task", task, "--input", *map(str, inputs), "--out", str(ws / "out"), "--iterations", "1", *CPU, *extra]


def inversion_argv(ws: Path, a: Assets, *extra: str, experiment: str = "col_tiny") -> list[str]:
    if not (ws / "images").exists():
        a.copy("images", ws)
    return ["-i", str(ws / "images"), "-o", str(ws / "inter_data" / experiment), "--gan_weights", str(a.weights),
            *INVERSION_FAST, *extra]


def convert_argv(source: Path, ws: Path, *extra: str) -> list[str]:
    return [str(source), str(ws / "out" / "g.pth"), "--samples", "1", *CPU, *extra]


def check_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    return ["--tasks", "col", "--count", "1", "--gan_weights", str(a.weights), "--report", str(ws / "report"),
            *INVERSION_FAST, *extra]


def exp_argv(ws: Path, a: Assets, *parts: str) -> list[str]:
    """`--root ws` after copying the named parts of the prepared workspace (e.g. inter_data/col_synth)."""
    for part in parts:
        if not (ws / part).exists():
            a.copy(f"exp/{part}", ws, part)
    return ["--root", str(ws), *CPU]


def dncnn_train_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    return [*exp_argv(ws, a, "inter_data/denblind_synth"), "--experiment", "denblind_synth", "--dncnn_layers", "3",
            "--epochs", "1", "--batch_size", "2", "--train_count", "4", "--noise", "stored", *extra]


def fusion_train_argv(ws: Path, a: Assets, *extra: str, experiment: str = "col_synth") -> list[str]:
    return [*exp_argv(ws, a, f"inter_data/{experiment}"), "--experiment", experiment, "--dncnn_layers", "3",
            "--epochs", "1", "--batch_size", "2", "--train_count", "4", "--workers", "1", *extra]


def gan_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    if not (ws / "data").exists():
        a.copy("gan/data", ws, "data")
    return ["--data", str(ws / "data"), "--count", "0", "--resolution", "16", "--z_dim", "16", "--channels", "16,16,8",
            "--batch_size", "4", "--grid_size", "2", "--steps", "1", "--threads", "1", "--workers", "1",
            "--root", str(ws), *CPU, *extra]


def gan_resume_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    """A copy of the prepared GAN run whose options name the workspace's copy of its data."""
    a.copy("gan/data", ws, "data")
    run = a.copy("gan/runs/gan_0", ws, "runs/gan_0")
    options = json.loads((run / "options.json").read_text())
    (run / "options.json").write_text(json.dumps({**options, "data": [str(ws / "data")]}, indent=2))
    return ["--resume", str(run), "--root", str(ws), "--threads", "1", "--workers", "1", *CPU, *extra]


def lsun_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    if not (ws / "lsun_lmdb").exists():
        a.copy("lsun_lmdb", ws)
    return [str(ws / "lsun_lmdb"), "--out", str(ws / "data" / "bedroom"), "--count", "1", "--size", "8", *extra]


def report_argv(ws: Path, a: Assets, *extra: str) -> list[str]:
    return ["col_synth", *exp_argv(ws, a, "inter_data/col_synth", "net_data/col_synth_0")[:2], "--lpips", "off",
            "--grid", "0", "--workers", "1", *extra]


# ---------------------------------------------------------------------------------------------
# the classes of bad input, as case factories


BAD_FILES: dict[str, Callable[[Path, Path], Path]] = {
    "missing": lambda path, source: path,
    "empty": lambda path, source: empty_file(path),
    "truncated": lambda path, source: truncated(source, path),
    "text": lambda path, source: text_file(path),
}

# where a bad file goes: (command, role) -> (path in the workspace, a good file of its kind, the command line)
Placement = Callable[[Path, Assets], tuple[Path, Path, list[str]]]


def file_cases(command: str, role: str, place: Placement, kinds: tuple[str, ...] = tuple(BAD_FILES),
               xfail: dict[str, str] | None = None) -> list[Case]:
    """One case per kind of bad file, put where `place` says; the last line must name the file."""
    def build(kind: str) -> Callable[[Path, Assets], Setup]:
        def setup(ws: Path, a: Assets) -> Setup:
            path, source, argv = place(ws, a)
            if path.exists():
                path.unlink()
            BAD_FILES[kind](path, source)
            return Setup(argv, path.name)
        return setup
    return [Case(f"{command}:{role}:{kind}", command, build(kind), (xfail or {}).get(kind)) for kind in kinds]


def pickle_case(command: str, role: str, place: Placement, xfail: str | None = None) -> Case:
    """A weights or checkpoint file whose unpickling would run code, where a loader reads one."""
    def setup(ws: Path, a: Assets) -> Setup:
        path, _, argv = place(ws, a)
        if path.exists():
            path.unlink()
        code_running_pickle(path, ws)
        return Setup(argv, path.name)
    return Case(f"{command}:{role}:code-running-pickle", command, setup, xfail)


def output_cases(command: str, role: str, place: Callable[[Path, Assets, Path], tuple[list[str], str]]) -> list[Case]:
    """The output location blocked by a regular file, and in an unwritable folder. `place(ws, a, parent)`
    returns the command line writing under `parent` and the flag or file the error must name."""
    def blocked(ws: Path, a: Assets) -> Setup:
        return Setup(*place(ws, a, blocking_file(ws / "blocked")))

    def unwritable(ws: Path, a: Assets) -> Setup:
        argv, names = place(ws, a, ws / "locked" / "sub")
        unwritable_folder(ws / "locked")
        return Setup(argv, names)
    return [Case(f"{command}:{role}:blocked", command, blocked),
            Case(f"{command}:{role}:unwritable", command, unwritable, needs_permissions=True)]


def case(command: str, name: str, xfail: str | None = None) -> Callable[[Callable[[Path, Assets], Setup]], Case]:
    """Decorator: a one-off case from its setup function."""
    return lambda setup: Case(f"{command}:{name}", command, setup, xfail)


# ---------------------------------------------------------------------------------------------
# restore


def _restore_photo(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    return ws / "in" / "photo.png", a.root / "photo.png", restore_argv(ws, [ws / "in" / "photo.png"])


def _restore_mask(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    photo = write_rgb(ws / "photo.png", 32, 32)
    return ws / "mask.png", a.root / "mask.png", restore_argv(ws, [photo], "--mask", str(ws / "mask.png"))


def _restore_weights(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    photo = a.copy("photo.png", ws)
    return ws / "g.pth", a.weights, restore_argv(ws, [photo], "--gan_weights", str(ws / "g.pth"))


def _restore_fusion(name: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        run = a.copy("exp/net_data/col_synth_0", ws, "net_data/col_synth_0")
        photo = a.copy("photo.png", ws)
        return run / name, a.root / "exp/net_data/col_synth_0" / name, restore_argv(
            ws, [photo], "--fusion_run", str(run), "--fusion_epoch", "0", task="colorize")
    return place


@case("restore", "grayscale-photo-to-denoise")
def _restore_gray_denoise(ws: Path, a: Assets) -> Setup:
    image_of_mode(ws / "gray.png", "L", 32, 32)
    return Setup(restore_argv(ws, [ws / "gray.png"], task="denoise"), "gray.png")


@case("restore", "mask-of-another-size")
def _restore_mask_size(ws: Path, a: Assets) -> Setup:
    photo = a.copy("photo.png", ws)
    return Setup(restore_argv(ws, [photo], "--mask", str(a.copy("mask.png", ws))), "--mask")


@case("restore", "a-png-as-weights")
def _restore_png_weights(ws: Path, a: Assets) -> Setup:
    photo = a.copy("photo.png", ws)
    weights = a.copy("photo.png", ws, "weights.pth")
    return Setup(restore_argv(ws, [photo], "--gan_weights", str(weights)), "weights.pth")


@case("restore", "fusion-run-mismatched-options")
def _restore_fusion_mismatch(ws: Path, a: Assets) -> Setup:
    run = a.copy("exp/net_data/col_synth_0", ws, "net_data/col_synth_0")
    options = json.loads((run / "OURargs.txt").read_text())
    (run / "OURargs.txt").write_text(json.dumps({**options, "dncnn_layers": 5}))
    photo = a.copy("photo.png", ws)
    return Setup(restore_argv(ws, [photo], "--fusion_run", str(run), "--fusion_epoch", "0", task="colorize"), "net_0.pth")


@case("restore", "non-positive-iterations")
def _restore_iterations(ws: Path, a: Assets) -> Setup:
    return Setup(restore_argv(ws, [a.copy("photo.png", ws)], "--iterations", "-1"), "--iterations")


@case("restore", "non-positive-tile")
def _restore_tile(ws: Path, a: Assets) -> Setup:
    return Setup(restore_argv(ws, [a.copy("photo.png", ws)], "--tile", "0"), "--tile")


@case("restore", "nan-in-float-tiff")
def _restore_nan_tiff(ws: Path, a: Assets) -> Setup:
    values = np.full((16, 16), 0.5, np.float32)
    values[3, 4] = np.nan
    Image.fromarray(values, "F").save(ws / "nan.tif")
    return Setup(restore_argv(ws, [ws / "nan.tif"]), "nan.tif")


@case("restore", "non-positive-batch-size")
def _restore_batch_size(ws: Path, a: Assets) -> Setup:
    return Setup(restore_argv(ws, [a.copy("photo.png", ws)], "--batch_size", "0"), "--batch_size")


@case("restore", "folder-without-images")
def _restore_empty_folder(ws: Path, a: Assets) -> Setup:
    text_file(ws / "photos" / "notes.txt")
    return Setup(restore_argv(ws, [ws / "photos"]), "photos")


@case("restore", "mask-folder-without-a-photos-mask")
def _restore_mask_folder(ws: Path, a: Assets) -> Setup:
    write_rgb(ws / "photos" / "p.png", 32, 32)
    write_rgb(ws / "photos" / "q.png", 32, 32)
    a.copy("mask.png", ws, "masks/p.png")
    return Setup(restore_argv(ws, [ws / "photos"], "--mask", str(ws / "masks")), "q.png")


@case("restore", "an-output-folder-of-other-settings")
def _restore_other_settings(ws: Path, a: Assets) -> Setup:
    """The folder holds a photo restored with 1 inversion step; this run asks for 2: refused, nothing touched."""
    photo = a.copy("photo.png", ws)
    assert invoke("restore", restore_argv(ws, [photo])) == 0
    argv = restore_argv(ws, [photo])
    argv[argv.index("--iterations") + 1] = "2"
    return Setup(argv, "--iterations")


def _restore_output(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
    argv = restore_argv(ws, [a.copy("photo.png", ws)])
    argv[argv.index("--out") + 1] = str(parent / "out")
    return argv, "--out"


RESTORE = [
    *file_cases("restore", "input", _restore_photo),
    *file_cases("restore", "mask", _restore_mask),
    *file_cases("restore", "gan_weights", _restore_weights),
    *file_cases("restore", "fusion-checkpoint", _restore_fusion("net_0.pth"), kinds=("missing", "truncated")),
    pickle_case("restore", "gan_weights", _restore_weights),
    pickle_case("restore", "fusion-checkpoint", _restore_fusion("net_0.pth")),
    *output_cases("restore", "out", _restore_output),
    _restore_gray_denoise, _restore_mask_size, _restore_png_weights, _restore_fusion_mismatch,
    _restore_iterations, _restore_tile, _restore_nan_tiff, _restore_batch_size, _restore_empty_folder,
    _restore_mask_folder, _restore_other_settings,
]


# ---------------------------------------------------------------------------------------------
# the inversion scripts and check-inversion


def _inversion_image(script: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = inversion_argv(ws, a, experiment=EXPERIMENT_OF[script])
        return ws / "images" / "img_1.png", a.root / "images" / "img_1.png", argv
    return place


def _inversion_weights(script: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = inversion_argv(ws, a, "--gan_weights", str(ws / "g.pth"), experiment=EXPERIMENT_OF[script])
        return ws / "g.pth", a.weights, argv
    return place


def _inversion_vgg(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = inversion_argv(ws, a, "--vgg_lambda", "1", "--vgg_weights", str(ws / "vgg16-397923af.pth"))
    return ws / "vgg16-397923af.pth", a.weights, argv


def _inversion_mask(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = inversion_argv(ws, a, "--mask", str(ws / "mask.png"), experiment="inpcrop_tiny")
    return ws / "mask.png", a.root / "mask.png", argv


def _inversion_output(script: str) -> Callable[[Path, Assets, Path], tuple[list[str], str]]:
    def place(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
        argv = inversion_argv(ws, a, experiment=EXPERIMENT_OF[script])
        argv[argv.index("-o") + 1] = str(parent / "inter_data" / EXPERIMENT_OF[script])
        return argv, "-o/--outputs"
    return place


EXPERIMENT_OF = {"colorization": "col_tiny", "inpainting": "inpcrop_tiny", "denoising": "denblind_tiny"}


def _inversion_script_cases(script: str) -> list[Case]:
    return [*file_cases(script, "target-image", _inversion_image(script), kinds=("empty", "truncated", "text")),
            *file_cases(script, "gan_weights", _inversion_weights(script), kinds=("missing", "truncated", "text")),
            pickle_case(script, "gan_weights", _inversion_weights(script)),
            *output_cases(script, "outputs", _inversion_output(script))]


@case("colorization", "image-of-another-size")
def _inversion_size(ws: Path, a: Assets) -> Setup:
    argv = inversion_argv(ws, a)
    write_rgb(ws / "images" / "img_1.png", 40, 40)
    return Setup(argv, "img_1.png")


@case("colorization", "empty-target-folder")
def _inversion_empty(ws: Path, a: Assets) -> Setup:
    (ws / "images").mkdir()
    return Setup(inversion_argv(ws, a), "--target_images")


@case("colorization", "outputs-made-with-other-settings")
def _inversion_stale(ws: Path, a: Assets) -> Setup:
    a.copy("inv/inter_data/col_tiny", ws, "inter_data/col_tiny")
    argv = inversion_argv(ws, a, "--z_number", "3")
    return Setup(argv, "mGANargs.txt")


@case("inpainting", "mask-of-another-size")
def _inversion_mask_size(ws: Path, a: Assets) -> Setup:
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(ws / "small.png")
    return Setup(inversion_argv(ws, a, "--mask", str(ws / "small.png"), experiment="inpcrop_tiny"), "--mask")


@case("check-inversion", "count-zero")
def _check_count(ws: Path, a: Assets) -> Setup:
    return Setup(check_argv(ws, a, "--count", "0"), "--count")


def _check_weights(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    return ws / "g.pth", a.weights, check_argv(ws, a, "--gan_weights", str(ws / "g.pth"))


def _check_report(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
    return check_argv(ws, a, "--report", str(parent / "report")), "--report"


INVERSION = [
    *(c for script in EXPERIMENT_OF for c in _inversion_script_cases(script)),
    *file_cases("colorization", "vgg_weights", _inversion_vgg, kinds=("truncated",)),
    pickle_case("colorization", "vgg_weights", _inversion_vgg),
    *file_cases("inpainting", "mask", _inversion_mask, kinds=("missing", "truncated", "text")),
    _inversion_size, _inversion_empty, _inversion_stale, _inversion_mask_size,
    *file_cases("check-inversion", "gan_weights", _check_weights, kinds=("missing", "truncated")),
    pickle_case("check-inversion", "gan_weights", _check_weights),
    *output_cases("check-inversion", "report", _check_report),
    _check_count,
]


# ---------------------------------------------------------------------------------------------
# the generator converters


def _convert_input(name: str, good: Callable[[Assets], Path]) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        return ws / name, good(a), convert_argv(ws / name, ws)
    return place


def _convert_output(command: str, where: str) -> Callable[[Path, Assets, Path], tuple[list[str], str]]:
    """`where`: output (the converted file) or grid (only the sample grid) under the blocked parent."""
    def place(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
        source = _source(command, ws, a)
        if where == "grid":
            return convert_argv(source, ws, "--grid", str(parent / "grid.png")), "grid.png"
        return [str(source), str(parent / "g.pth"), "--samples", "1", *CPU], "g.pth"
    return place


def _source(command: str, ws: Path, a: Assets) -> Path:
    good = a.pggan_pkl if command == "convert-pggan" else a.stylegan2_pkl
    target = ws / "net.pkl"
    target.write_bytes(good.read_bytes())
    return target


@case("convert-pggan", "output-exists")
def _convert_exists(ws: Path, a: Assets) -> Setup:
    argv = convert_argv(_source("convert-pggan", ws, a), ws)
    text_file(ws / "out" / "g_samples.png")
    return Setup(argv, "g_samples.png")


@case("convert-pggan", "shared-malicious-tf-pickle")
def _convert_malicious(ws: Path, a: Assets) -> Setup:
    path = ws / "malicious_tf.pkl"
    path.write_bytes(require_shared(VECTORS / "malicious_tf.pkl").read_bytes())
    return Setup(convert_argv(path, ws), "malicious_tf.pkl")


@case("convert-stylegan2", "a-pggan-pickle")
def _convert_wrong_family(ws: Path, a: Assets) -> Setup:
    path = ws / "pggan.pkl"
    path.write_bytes(a.pggan_pkl.read_bytes())
    return Setup(convert_argv(path, ws), "pggan.pkl")


@case("convert-stylegan2", "shared-malicious-pickle")
def _convert_malicious_sg2(ws: Path, a: Assets) -> Setup:
    path = ws / "malicious_official.pkl"
    path.write_bytes(require_shared(STYLEGAN2 / "malicious_official.pkl").read_bytes())
    return Setup(convert_argv(path, ws), "malicious_official.pkl")


def _converter_cases(command: str, good: Callable[[Assets], Path]) -> list[Case]:
    return [*file_cases(command, "input", _convert_input("net.pkl", good)),
            pickle_case(command, "input-pkl", _convert_input("net.pkl", good)),
            pickle_case(command, "input-pth", _convert_input("net.pth", good)),
            *output_cases(command, "output", _convert_output(command, "output")),
            *output_cases(command, "grid", _convert_output(command, "grid"))]


CONVERT = [
    *_converter_cases("convert-pggan", lambda a: a.pggan_pkl),
    *_converter_cases("convert-stylegan2", lambda a: a.stylegan2_pkl),
    _convert_exists, _convert_malicious, _convert_wrong_family, _convert_malicious_sg2,
]


# ---------------------------------------------------------------------------------------------
# prepare-lsun, train-gan


@case("prepare-lsun", "no-database")
def _lsun_missing(ws: Path, a: Assets) -> Setup:
    (ws / "lsun_lmdb").mkdir()
    return Setup(lsun_argv(ws, a), "lsun_lmdb")


@case("prepare-lsun", "record-not-an-image")
def _lsun_record(ws: Path, a: Assets) -> Setup:
    return Setup(lsun_argv(ws, a, "--count", "2"), "b1")


def _lsun_database(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = lsun_argv(ws, a)
    return ws / "lsun_lmdb" / "data.mdb", a.root / "lsun_lmdb" / "data.mdb", argv


def _lsun_output(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
    argv = lsun_argv(ws, a)
    argv[argv.index("--out") + 1] = str(parent / "bedroom")
    return argv, "--out"


def _gan_image(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    return ws / "data" / "img_1.png", a.root / "gan" / "data" / "img_1.png", gan_argv(ws, a)


def _gan_checkpoint(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = gan_resume_argv(ws, a, "--steps", "3")
    return ws / "runs" / "gan_0" / "checkpoint.pth", a.root / "gan/runs/gan_0/checkpoint.pth", argv


def _gan_root(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
    argv = gan_argv(ws, a)
    argv[argv.index("--root") + 1] = str(parent)
    return argv, "runs"


@case("train-gan", "resume-mismatched-options")
def _gan_mismatch(ws: Path, a: Assets) -> Setup:
    argv = gan_resume_argv(ws, a, "--steps", "3")
    options_file = ws / "runs" / "gan_0" / "options.json"
    options = json.loads(options_file.read_text())
    options_file.write_text(json.dumps({**options, "channels": [8, 8, 8]}))
    return Setup(argv, "checkpoint.pth")


@case("train-gan", "resume-with-missing-data")
def _gan_resume_no_data(ws: Path, a: Assets) -> Setup:
    argv = gan_resume_argv(ws, a, "--steps", "3")
    for image in (ws / "data").iterdir():
        image.unlink()
    return Setup(argv, "data")


LSUN_GAN = [
    _lsun_missing, _lsun_record,
    *file_cases("prepare-lsun", "database", _lsun_database, kinds=("empty", "truncated", "text")),
    *output_cases("prepare-lsun", "out", _lsun_output),
    *file_cases("train-gan", "data-image", _gan_image, kinds=("empty", "truncated", "text")),
    *file_cases("train-gan", "checkpoint", _gan_checkpoint, kinds=("empty", "truncated", "text")),
    pickle_case("train-gan", "checkpoint", _gan_checkpoint),
    *output_cases("train-gan", "root", _gan_root),
    _gan_mismatch, _gan_resume_no_data,
]


# ---------------------------------------------------------------------------------------------
# train-dncnn, inpaint-baseline, the fusion stage (code/train.py), report


def _npy_with(value: float) -> Callable[[Path, Assets], Setup]:
    def setup(ws: Path, a: Assets) -> Setup:
        argv = dncnn_train_argv(ws, a)
        path = ws / "inter_data" / "denblind_synth" / "input" / "1.npy"
        array = np.load(path)
        array[2, 3, 1] = value
        np.save(path, array)
        return Setup(argv, "1.npy")
    return setup


def _npy_of(shape: tuple[int, ...], dtype: str) -> Callable[[Path, Assets], Setup]:
    def setup(ws: Path, a: Assets) -> Setup:
        argv = dncnn_train_argv(ws, a)
        np.save(ws / "inter_data" / "denblind_synth" / "input" / "1.npy", np.zeros(shape, dtype))
        return Setup(argv, "1.npy")
    return setup


def _dncnn_input(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = dncnn_train_argv(ws, a)
    path = ws / "inter_data" / "denblind_synth" / "input" / "1.npy"
    return path, a.root / "exp/inter_data/denblind_synth/input/1.npy", argv


def _dncnn_run_file(name: str, *extra: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = exp_argv(ws, a, "inter_data/denblind_synth", "net_data/DnCNN_denblind_synth_0")
        run = ws / "net_data" / "DnCNN_denblind_synth_0"
        return run / name, a.root / "exp/net_data/DnCNN_denblind_synth_0" / name, [*argv, *extra]
    return place


DNCNN_RESUME = ("--resume", "net_data/DnCNN_denblind_synth_0", "--epochs", "2")
DNCNN_TEST = ("--experiment", "denblind_synth", "--test", "True", "--test_model", "0", "--test_epoch", "0")


@case("train-dncnn", "resume-with-missing-gt")
def _dncnn_resume_missing(ws: Path, a: Assets) -> Setup:
    argv = _dncnn_run_file("net_0.pth", *DNCNN_RESUME)(ws, a)[2]
    (ws / "inter_data" / "denblind_synth" / "GT" / "1.png").unlink()
    return Setup(argv, "1.png")


@case("train-dncnn", "resume-mismatched-options")
def _dncnn_mismatch(ws: Path, a: Assets) -> Setup:
    argv = _dncnn_run_file("net_0.pth", *DNCNN_RESUME)(ws, a)[2]
    options_file = ws / "net_data" / "DnCNN_denblind_synth_0" / "DnCNNargs.txt"
    options_file.write_text(json.dumps({**json.loads(options_file.read_text()), "dncnn_layers": 5}))
    return Setup(argv, "train_state.pth")


def _baseline_input(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = [*exp_argv(ws, a, "inter_data/inpcrop_synth"), "--experiment", "inpcrop_synth", "--train_count", "4"]
    argv.remove("--device"), argv.remove("cpu")
    return ws / "inter_data/inpcrop_synth/input/4.png", a.root / "exp/inter_data/inpcrop_synth/input/4.png", argv


def _baseline_mask(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
    argv = _baseline_input(ws, a)[2]
    return ws / "mask.png", a.root / "mask.png", [*argv, "--mask", str(ws / "mask.png")]


@case("inpaint-baseline", "output-folder-blocked")
def _baseline_blocked(ws: Path, a: Assets) -> Setup:
    argv = _baseline_input(ws, a)[2]
    text_file(ws / "inter_data" / "inpcrop_synth" / "Teleaoutput")
    return Setup(argv, "Teleaoutput")


@case("inpaint-baseline", "grayscale-observation")
def _baseline_gray(ws: Path, a: Assets) -> Setup:
    argv = _baseline_input(ws, a)[2]
    image_of_mode(ws / "inter_data/inpcrop_synth/input/4.png", "L", 32, 32)
    return Setup(argv, "4.png")


@case("inpaint-baseline", "mask-of-another-size")
def _baseline_mask_size(ws: Path, a: Assets) -> Setup:
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(ws / "small.png")
    return Setup([*_baseline_input(ws, a)[2], "--mask", str(ws / "small.png")], "--mask")


@case("inpaint-baseline", "not-an-inpainting-experiment")
def _baseline_wrong_task(ws: Path, a: Assets) -> Setup:
    argv = _baseline_input(ws, a)[2]
    argv[argv.index("inpcrop_synth")] = "col_synth"
    a.copy("exp/inter_data/col_synth", ws, "inter_data/col_synth")
    return Setup(argv, "--experiment")


def _fusion_data(sub: str, index: int = 1) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = fusion_train_argv(ws, a)
        return (ws / "inter_data/col_synth" / sub / f"{index}.png",
                a.root / "exp/inter_data/col_synth" / sub / f"{index}.png", argv)
    return place


def _fusion_run_file(name: str, *extra: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = exp_argv(ws, a, "inter_data/col_synth", "net_data/col_synth_0")
        return (ws / "net_data/col_synth_0" / name, a.root / "exp/net_data/col_synth_0" / name,
                [*argv, "--workers", "1", *extra])
    return place


FUSION_RESUME = ("--resume", "net_data/col_synth_0")
FUSION_TEST = ("--experiment", "col_synth", "--test", "True", "--test_model", "0", "--test_epoch", "0")


@case("train", "prior-of-another-size")
def _fusion_prior_size(ws: Path, a: Assets) -> Setup:
    argv = fusion_train_argv(ws, a)
    write_rgb(ws / "inter_data/col_synth/mGANoutput/1.png", 20, 20)
    return Setup(argv, "1.png")


@case("train", "nan-in-denoising-observation")
def _fusion_nan(ws: Path, a: Assets) -> Setup:
    argv = fusion_train_argv(ws, a, experiment="denblind_synth")
    path = ws / "inter_data/denblind_synth/input/1.npy"
    array = np.load(path)
    array[0, 0, 0] = np.nan
    np.save(path, array)
    return Setup(argv, "1.npy")


@case("train", "resume-mismatched-options")
def _fusion_mismatch(ws: Path, a: Assets) -> Setup:
    argv = _fusion_run_file("net_0.pth", *FUSION_RESUME)(ws, a)[2]
    options_file = ws / "net_data/col_synth_0/OURargs.txt"
    options_file.write_text(json.dumps({**json.loads(options_file.read_text()), "dncnn_layers": 5, "epochs": 2}))
    return Setup(argv, "train_state.pth")


@case("report", "unknown-experiment")
def _report_unknown(ws: Path, a: Assets) -> Setup:
    argv = report_argv(ws, a)
    argv[0] = "col_nothing"
    return Setup(argv, "col_nothing")


def _report_image(sub: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = report_argv(ws, a)
        return (ws / "inter_data/col_synth" / sub, a.root / "exp/inter_data/col_synth" / sub, argv)
    return place


def _report_output(ws: Path, a: Assets, parent: Path) -> tuple[list[str], str]:
    return [*report_argv(ws, a), "--out", str(parent / "reports")], "--out"


# ---------------------------------------------------------------------------------------------
# peers


def peers_argv(ws: Path, a: Assets, experiment: str = "inpcrop_synth", *extra: str) -> list[str]:
    """`bigprior peers` on a copy of one prepared experiment (4 training images, 2 test)."""
    if not (ws / "inter_data" / experiment).exists():
        a.copy(f"exp/inter_data/{experiment}", ws, f"inter_data/{experiment}")
    return ["--experiment", experiment, "--root", str(ws), "--train_count", "4", *extra]


def _peers_file(experiment: str, name: str, *extra: str) -> Placement:
    def place(ws: Path, a: Assets) -> tuple[Path, Path, list[str]]:
        argv = peers_argv(ws, a, experiment, *extra)
        return ws / "inter_data" / experiment / name, a.root / "exp/inter_data" / experiment / name, argv
    return place


def _peers_case(name: str, names: str, experiment: str, *extra: str, copy: bool = True, hidden: tuple[str, ...] = ()) -> Case:
    def setup(ws: Path, a: Assets) -> Setup:
        argv = peers_argv(ws, a, experiment, *extra) if copy else ["--experiment", experiment, "--root", str(ws), *extra]
        return Setup(argv, names)
    return Case(f"peers:{name}", "peers", setup, hidden_modules=hidden)


def _peers_telea_folder(write: Callable[[Path], None]) -> Callable[[Path, Assets], Setup]:
    """inpcrop_synth with a Teleaoutput/ that `write` fills (other settings, no settings.json, a file)."""
    def setup(ws: Path, a: Assets) -> Setup:
        argv = peers_argv(ws, a, "inpcrop_synth", "--methods", "Telea")
        write(ws / "inter_data/inpcrop_synth/Teleaoutput")
        return Setup(argv, "Teleaoutput")
    return setup


def _other_settings(folder: Path) -> None:
    folder.mkdir()
    (folder / "settings.json").write_text(json.dumps({"method": "Telea", "settings": {"radius": 99}, "train_indices": None}))
    write_rgb(folder / "0.png")


def _no_settings(folder: Path) -> None:
    folder.mkdir()
    write_rgb(folder / "0.png")


def _peers_unwritable(ws: Path, a: Assets) -> Setup:
    argv = peers_argv(ws, a, "inpcrop_synth", "--methods", "Telea")
    unwritable_folder(ws / "inter_data/inpcrop_synth")
    return Setup(argv, "Teleaoutput")


def _peers_nan(ws: Path, a: Assets) -> Setup:
    argv = peers_argv(ws, a, "denblind_synth", "--methods", "TV")
    path = ws / "inter_data/denblind_synth/input/0.npy"
    array = np.load(path)
    array[1, 2, 0] = np.nan
    np.save(path, array)
    return Setup(argv, "0.npy")


PEERS = [
    _peers_case("missing-experiment", "inpcrop_nothing", "inpcrop_nothing", copy=False),
    _peers_case("unknown-task", "blur_synth", "blur_synth", copy=False),
    _peers_case("unknown-method", "--methods", "inpcrop_synth", "--methods", "Telea,PatchMatch"),
    _peers_case("method-of-another-task", "--methods", "inpcrop_synth", "--methods", "NLMeans"),
    _peers_case("bm3d-without-the-package", "--methods", "denblind_synth", "--methods", "BM3D", hidden=("bm3d",)),
    _peers_case("no-test-images", "--train_count", "inpcrop_synth", "--train_count", "6"),
    *file_cases("peers", "input", _peers_file("inpcrop_synth", "input/0.png", "--methods", "Telea")),
    *file_cases("peers", "training-gt", _peers_file("col_synth", "GT/1.png", "--methods", "MeanChroma")),
    Case("peers:nan-in-denoising-observation", "peers", _peers_nan),
    Case("peers:other-settings-in-the-folder", "peers", _peers_telea_folder(_other_settings)),
    Case("peers:images-without-settings", "peers", _peers_telea_folder(_no_settings)),
    Case("peers:output-folder-blocked", "peers", _peers_telea_folder(text_file)),
    Case("peers:experiment-folder-unwritable", "peers", _peers_unwritable, needs_permissions=True),
]


TRAINING = [
    *file_cases("train-dncnn", "observation", _dncnn_input),
    Case("train-dncnn:observation:nan", "train-dncnn", _npy_with(np.nan)),
    Case("train-dncnn:observation:inf", "train-dncnn", _npy_with(np.inf)),
    Case("train-dncnn:observation:one-channel", "train-dncnn", _npy_of((32, 32, 1), "float32")),
    Case("train-dncnn:observation:integers", "train-dncnn", _npy_of((32, 32, 3), "uint8")),
    Case("train-dncnn:observation:other-size", "train-dncnn", _npy_of((20, 32, 3), "float32")),
    *file_cases("train-dncnn", "resume-checkpoint", _dncnn_run_file("net_0.pth", *DNCNN_RESUME), kinds=("missing", "truncated")),
    *file_cases("train-dncnn", "resume-state", _dncnn_run_file("train_state.pth", *DNCNN_RESUME), kinds=("truncated", "text")),
    pickle_case("train-dncnn", "resume-checkpoint", _dncnn_run_file("net_0.pth", *DNCNN_RESUME)),
    pickle_case("train-dncnn", "resume-state", _dncnn_run_file("train_state.pth", *DNCNN_RESUME)),
    pickle_case("train-dncnn", "test-checkpoint", _dncnn_run_file("net_0.pth", *DNCNN_TEST)),
    _dncnn_resume_missing, _dncnn_mismatch,
    *file_cases("inpaint-baseline", "input", _baseline_input),
    *file_cases("inpaint-baseline", "mask", _baseline_mask, kinds=("missing", "truncated", "text")),
    _baseline_blocked, _baseline_gray, _baseline_mask_size, _baseline_wrong_task,
    *file_cases("train", "gt", _fusion_data("GT")),
    *file_cases("train", "prior", _fusion_data("mGANoutput"), kinds=("truncated", "text")),
    *file_cases("train", "resume-checkpoint", _fusion_run_file("net_0.pth", *FUSION_RESUME), kinds=("missing", "truncated")),
    *file_cases("train", "resume-state", _fusion_run_file("train_state.pth", *FUSION_RESUME), kinds=("truncated", "text")),
    pickle_case("train", "resume-checkpoint", _fusion_run_file("net_0.pth", *FUSION_RESUME)),
    pickle_case("train", "resume-state", _fusion_run_file("train_state.pth", *FUSION_RESUME)),
    pickle_case("train", "test-checkpoint", _fusion_run_file("net_0.pth", *FUSION_TEST)),
    _fusion_prior_size, _fusion_nan, _fusion_mismatch,
    _report_unknown,
    *file_cases("report", "bigprior-output", _report_image("OURoutput/4.png"), kinds=("missing", "truncated", "text")),
    *file_cases("report", "gt", _report_image("GT/5.png"), kinds=("truncated", "text")),
    *output_cases("report", "out", _report_output),
]

CASES: list[Case] = [*RESTORE, *INVERSION, *CONVERT, *LSUN_GAN, *TRAINING, *PEERS]


def _param(c: Case) -> pytest.param:
    marks = []
    if c.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=c.xfail))
    return pytest.param(c, id=c.id, marks=marks)


def _permissions_as_a_user_sees_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root (CI) may write into a 0o500 folder; make `os.access` answer as for its owner, a normal user,
    so the unwritable-folder cases check the commands' own refusal everywhere."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and not os.stat(path).st_mode & stat.S_IWUSR:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


# ---------------------------------------------------------------------------------------------
# the tests


def test_the_code_running_pickle_does_run_code_when_unpickled(tmp_path: Path) -> None:
    """The bad-weights cases would prove nothing if their file could not run code."""
    pickle.loads(code_running_pickle(tmp_path / "x.pkl", tmp_path).read_bytes())
    assert (tmp_path / MARKER).exists()
    (tmp_path / MARKER).unlink()
    with zipfile.ZipFile(code_running_pickle(tmp_path / "x.pth", tmp_path)) as archive:  # torch.save's layout
        pickle.loads(archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl"))))
    assert (tmp_path / MARKER).exists()
    assert isinstance(RunsCode(tmp_path).__reduce__()[0], type(exec))


@pytest.mark.parametrize("bad", [_param(c) for c in CASES])
def test_bad_input_is_refused_cleanly(bad: Case, assets: Assets, tmp_path: Path, capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if bad.needs_permissions and IS_ROOT:
        _permissions_as_a_user_sees_them(monkeypatch)
    for module in bad.hidden_modules:
        monkeypatch.setitem(sys.modules, module, None)  # `import` and find_spec now see no such package
    ws = tmp_path / "ws"
    ws.mkdir()
    setup = bad.build(ws, assets)
    before = snapshot(ws)
    capsys.readouterr()
    try:
        code = invoke(bad.command, setup.argv)
        after = snapshot(ws)
    except Exception as exc:  # what a user would see as a traceback
        pytest.fail(f"traceback: {exc.__class__.__name__}: {exc}")
    finally:
        restore_permissions(ws)
    out, err = capsys.readouterr()
    assert not (ws / MARKER).exists(), "a file's code ran"
    assert code != 0, f"exit 0\n{out}{err}"
    assert "Traceback" not in out + err
    line = last_line(err) or last_line(out)
    assert setup.names in line, f"the last line does not name {setup.names!r}: {line!r}"
    changed = sorted(p for p in before if after.get(p) != before[p])
    added = sorted(set(after) - set(before))
    assert not changed, f"pre-existing files changed or removed: {changed}"
    assert not temp_files(added), f"temporary files left: {temp_files(added)}"
    assert not added, f"left behind by a failed run: {added}"


# ---------------------------------------------------------------------------------------------
# valid but unusual input succeeds


UNUSUAL = {  # name -> (Pillow mode written, file name, width, height)
    "odd-size": ("RGB", "odd.png", 37, 23),
    "grayscale": ("L", "gray.png", 32, 32),
    "16-bit": ("I;16", "deep.png", 32, 32),
    "palette": ("P", "palette.png", 32, 32),
    "cmyk": ("CMYK", "cmyk.tif", 32, 32),
    "rgba": ("RGBA", "alpha.png", 32, 32),
    "unicode-and-spaces": ("RGB", "ünï cödé/phö to 1.png", 30, 34),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_restore_takes_unusual_photos(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mode, file_name, width, height = UNUSUAL[name]
    path = tmp_path / "in put" / file_name
    truth = image_of_mode(path, mode, width, height)
    out = tmp_path / "out dir ü"
    argv = restore_argv(tmp_path, [path])
    argv[argv.index("--out") + 1] = str(out)
    assert invoke("restore", argv) == 0, capsys.readouterr().err
    restored = np.asarray(Image.open(out / f"{path.stem}_restored.png").convert("RGB")).astype(int)
    assert restored.shape == (height, width, 3)
    ring = np.ones((height, width), bool)
    ring[2:-2, 2:-2] = False  # the border: known pixels, kept exactly (--keep_known True)
    assert np.abs(restored[ring] - truth[ring]).max() <= 1, "the photo's own pixels were not read as a viewer shows them"


def test_restore_keeps_both_photos_of_the_same_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first, second = write_rgb(tmp_path / "a" / "p.png", seed=1), write_rgb(tmp_path / "b" / "p.png", seed=2)
    out = tmp_path / "out"
    assert invoke("restore", [*restore_argv(tmp_path, [first, second])]) == 0
    assert "p_2" in capsys.readouterr().err
    for name, photo in (("p", first), ("p_2", second)):
        restored = np.asarray(Image.open(out / f"{name}_restored.png")).astype(int)
        assert np.abs(restored[0] - np.asarray(Image.open(photo))[0]).max() <= 1, name


@pytest.mark.parametrize("script", list(EXPERIMENT_OF))
def test_inversion_scripts_take_unusual_images_and_paths(script: str, tmp_path: Path, assets: Assets) -> None:
    images = tmp_path / "ímages with spaces"
    image_of_mode(images / "a 16-bit.png", "I;16", 32, 32)
    image_of_mode(images / "b palette.png", "P", 32, 32)
    image_of_mode(images / "c cmyk.tif", "CMYK", 32, 32)
    outputs = tmp_path / "wörk space" / "inter_data" / EXPERIMENT_OF[script]
    argv = ["-i", str(images), "-o", str(outputs), "--gan_weights", str(assets.weights), *INVERSION_FAST]
    assert invoke(script, argv) == 0
    assert sorted(p.name for p in (outputs / "mGANoutput").iterdir()) == ["0.png", "1.png", "2.png"]


def test_gan_training_data_of_any_mode_is_read_as_a_viewer_shows_it(tmp_path: Path) -> None:
    """16-bit images were clipped to white by Pillow's convert('RGB')."""
    from bigprior.gan.data import load_image_folders

    truths = [image_of_mode(tmp_path / f"{i}.{suffix}", mode, 16, 16)
              for i, (mode, suffix) in enumerate([("I;16", "png"), ("P", "png"), ("CMYK", "tif"), ("RGBA", "png")])]
    reals = load_image_folders([tmp_path], resolution=16, count=0, workers=1)
    pixels = ((reals + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    for truth, read in zip(truths, pixels):
        assert np.abs(read - truth).max() <= 1


# ---------------------------------------------------------------------------------------------
# the entry points themselves: real exit code, one line on stderr, no traceback


CLI = ["-m", "bigprior.cli"]
ENTRY_POINTS = {  # a representative case per entry point: its command line, whose last line must name no_such*
    "colorization.py": [str(CODE / "mganprior/colorization.py"), "-i", "no_such", "-o", "inter_data/col_x", *CPU],
    "inpainting.py": [str(CODE / "mganprior/inpainting.py"), "-i", "no_such", "-o", "inter_data/inpcrop_x", *CPU],
    "denoising.py": [str(CODE / "mganprior/denoising.py"), "-i", "no_such", "-o", "inter_data/denblind_x", *CPU],
    "train.py": [str(CODE / "train.py"), "--resume", "no_such", *CPU],
    "restore": [*CLI, "restore", "--task", "inpaint", "--input", "no_such.png", "--out", "out", *CPU],
    "report": [*CLI, "report", "no_such", "--root", "."],
    "convert-pggan": [*CLI, "convert-pggan", "no_such.pkl", "out.pth", *CPU],
    "convert-stylegan2": [*CLI, "convert-stylegan2", "no_such.pkl", "out.pth", *CPU],
    "check-inversion": [*CLI, "check-inversion", "--tasks", "col", "--gan_weights", "no_such.pth", *CPU],
    "prepare-lsun": [*CLI, "prepare-lsun", "no_such", "--out", "data"],
    "train-gan": [*CLI, "train-gan", "--data", "no_such", "--root", ".", *CPU],
    "train-dncnn": [*CLI, "train-dncnn", "--resume", "no_such", "--root", ".", *CPU],
    "inpaint-baseline": [*CLI, "inpaint-baseline", "--experiment", "inpcrop_no_such", "--root", "."],
    "peers": [*CLI, "peers", "--experiment", "denblind_no_such", "--root", "."],
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_entry_points_exit_with_one_line_and_no_traceback(entry: str, tmp_path: Path) -> None:
    """As a user runs them (a process of its own): exit code 2, one line naming the file, nothing written."""
    done = run_script(ENTRY_POINTS[entry], cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "no_such" in last_line(done.stderr), done.stderr
    assert list(tmp_path.iterdir()) == []
