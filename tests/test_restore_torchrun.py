"""Issue 23: `torchrun` shares the photos of a restore (and the images of an inversion script) across
processes and machines: 2 "nodes" of 2 processes on the loopback interface (c10d rendezvous, gloo) write
bit for bit the files of one process; a process killed mid-run leaves the others' finished photos whole,
and a rerun completes the rest. Tiny photos, 2 inversion steps, one torch thread per process (torchrun's
own setting: the default mode's grid resampling rounds by thread count)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigprior.commandline import run_cli
from bigprior.restore import main as restore_main
from conftest import CODE, VECTORS, require_shared

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RESTORE = str(CODE / "restore.py")
ENV = {**os.environ, "PYTHONPATH": str(CODE), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--monitor-interval", "0.1", *args]


def nodes(nnodes: int, nproc: int, script: list[str], cwd: Path) -> list[subprocess.Popen]:
    """`nnodes` torchrun agents of `nproc` processes each, meeting at a c10d rendezvous on 127.0.0.1."""
    endpoint = f"127.0.0.1:{free_port()}"
    return [subprocess.Popen(torchrun("--nnodes", str(nnodes), "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
                                      "--rdzv-endpoint", endpoint, "--rdzv-id", "issue23", "--node-rank", str(rank), *script),
                             cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for rank in range(nnodes)]


def finish(processes: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=timeout) for p in processes]
    return [(p.returncode, *output) for p, output in zip(processes, outputs)]


def make_photos(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (24 + k % 3, 28 + k % 5, 3), dtype=np.uint8)).save(folder / f"p{k:02d}.png")
    return sorted(folder.iterdir())


def restore_args(photos: Path, out: Path) -> list[str]:
    return ["--task", "denoise", "--input", str(photos), "--out", str(out), "--degrade", "True", "--iterations", "2",
            "--device", "cpu", "--batch_size", "2"]


def results(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.name.endswith(("_restored.png", "_prior.png", "_phi.npy", "_input.png"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Ten photos restored by one process (one torch thread), and its files."""
    root = tmp_path_factory.mktemp("torchrun")
    make_photos(root / "photos", 10)
    assert run_cli(restore_main, restore_args(root / "photos", root / "one")) == 0
    return root, results(root / "one")


def test_two_nodes_of_two_processes_write_the_files_of_one(reference: tuple[Path, dict[str, bytes]]) -> None:
    root, expected = reference
    out = root / "four"
    done = finish(nodes(2, 2, [RESTORE, *restore_args(root / "photos", out)], root))
    assert all(code == 0 for code, _, _ in done), "\n".join(err[-2000:] for _, _, err in done)
    assert results(out) == expected and len(expected) == 40
    lines = [line for _, stdout, _ in done for line in stdout.splitlines() if line.startswith("restored ")]
    assert len(lines) == 1 and lines[0].startswith("restored 10 photos (0 complete before, 0 failed)") and "over 4 processes" in lines[0]
    with open(out / "summary.csv") as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["restored"] * 10


def workers_of(agent: int) -> list[int]:
    """The processes torchrun's agent started (its children, from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == agent:
            children.append(int(stat.parent.name))
    return children


def test_a_killed_process_leaves_finished_photos_and_a_rerun_completes_the_rest(reference: tuple[Path, dict[str, bytes]]) -> None:
    root, expected = reference
    out = root / "killed"
    command = torchrun("--standalone", "--nproc-per-node", "2", RESTORE, *restore_args(root / "photos", out))
    agent = subprocess.Popen(command, cwd=root, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not list(out.glob("*_metrics.json")) and agent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victims = workers_of(agent.pid)
    assert victims, "no worker process found"
    os.kill(victims[0], signal.SIGKILL)
    _, err = agent.communicate(timeout=60)
    code = agent.returncode
    assert code != 0, err[-2000:]
    finished = sorted(p.name[: -len("_metrics.json")] for p in out.glob("*_metrics.json"))
    assert 0 < len(finished) < 10, finished
    for name in finished:  # a finished photo is whole: every file there, each as the one process wrote it
        for suffix in ("_restored.png", "_prior.png", "_phi.npy", "_input.png"):
            assert (out / f"{name}{suffix}").read_bytes() == expected[f"{name}{suffix}"]
    assert run_cli(restore_main, restore_args(root / "photos", out)) == 0  # the rerun: the rest
    assert results(out) == expected
    with open(out / "summary.csv") as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    assert statuses.count("complete before") == len(finished) and statuses.count("restored") == 10 - len(finished)


def test_an_inversion_script_on_two_nodes_writes_the_files_of_one(tmp_path: Path) -> None:
    """The inversion stage's share: rank = the global RANK, device from LOCAL_RANK, across 2 nodes."""
    weights = require_shared(VECTORS / "tiny_r32_generator.pth")
    rng = np.random.default_rng(1)
    (tmp_path / "images").mkdir()
    for k in range(5):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{k}.png")
    script = str(CODE / "mganprior" / "denoising.py")

    def args(root: str) -> list[str]:
        return ["-i", str(tmp_path / "images"), "-o", str(tmp_path / root / "inter_data" / "denblind_tiny"), "--gan_weights",
                str(weights), "--vgg_lambda", "0", "--iterations", "2", "--composing_layer", "4", "--z_number", "2",
                "--device", "cpu", "--batch_size", "2"]

    one = subprocess.run([sys.executable, script, *args("one")], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    done = finish(nodes(2, 1, [script, *args("two")], tmp_path))
    assert all(code == 0 for code, _, _ in done), "\n".join(err[-2000:] for _, _, err in done)
    assert any("over 2 process(es)" in stdout for _, stdout, _ in done)
    files = {root: {p.relative_to(tmp_path / root): p.read_bytes() for p in (tmp_path / root).rglob("*")
                    if p.is_file() and p.name != "mGANargs.txt"} for root in ("one", "two")}
    assert files["one"] == files["two"] and len(files["one"]) == 4 * 5 + 1
