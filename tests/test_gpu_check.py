"""The GPU check (benchmarks/gpu_check.sh, gpu_check/): its --smoke run end to end at toy sizes on the CPU (every
part that --smoke runs reports, and the report reaches $OUT), its plan (the estimates fit the budget with every
part run; benchmarks/README.md holds the same table), its run loop (a part that raises is a failed section and
the run goes on), the goals' reading of the best valid mode, and the torch features its path may use (torch 2.11
on the device machine)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from gpu_check import check, fusion_parts  # noqa: E402
from gpu_check.goals import goals_table  # noqa: E402
from gpu_check.plan import BUDGET_S, PLAN, Part, plan_table, planned_seconds  # noqa: E402
from gpu_check.runner import Context, Section  # noqa: E402
from gpu_check.torch_features import DEVICE_TORCH, TORCH_FEATURES, resolves, version_tuple  # noqa: E402


def part_statuses(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| ([a-z0-9-_]+) \| (.+?) \| \d+ \| \d+ / \d+ \|", text, re.MULTILINE))


def test_gpu_check_smoke_run_writes_a_full_report(tmp_path: Path) -> None:
    report, out = tmp_path / "report.md", tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out)}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke", "--work", str(tmp_path / "work"),
                           "--report", str(report)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    assert text in done.stdout and f"[gpu_check] report: {report}" in done.stdout
    assert (out / "report.md").read_text() == text and (out / "gpu_check_logs.tar.gz").stat().st_size > 0
    statuses = part_statuses(text)
    assert list(statuses) == [part.name for part in PLAN], statuses
    for part in PLAN:
        expected = "reserved" if part.run is None else "not in --smoke" if part.smoke else "ok"
        assert statuses[part.name].startswith(expected), (part.name, statuses[part.name])
        assert part.run is None or part.smoke or re.search(rf"^\[gpu_check\] {part.name}: ok \(\d+ s; est\. \d+ s, limit \d+ s\): \S",
                                                           done.stdout, re.MULTILINE), part.name  # a one-line summary each
    assert "Python 3." in text and "torch 2." in text and "torch features the check uses (gpu_check/torch_features.py): all present" in text
    # inversion: verdicts of the agreement check, the bf16 priors against fp32, the compiled mode's one graph
    assert re.search(r"\| colorization \| strict fp32, folded \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| n/a \| [0-9.]+ \| [0-9.]+x \| - \| "
                     r"fp32 vs reference, 2 images, 1 step\(s\): max diff [0-9.e+-]+, PSNR gap [+-][0-9.]+ dB: agree to rounding; "
                     r"fp32 vs reference, 2 images, 2 step\(s\): .*: same quality \|", text)
    assert re.search(r"\| inpainting \| bf16 autocast, channels-last, folded \| .* \| vs fp32 \(eager\), 2 images, 2 steps: PSNR", text)
    assert re.search(r"\| colorization \| bf16 .*torch.compile \(static shapes\) \| [0-9.]+ \| .* \| - \| - \| - \| 1 compiled graph", text)
    assert len(re.findall(r"^\| this project, precision=\w+ \| [0-9.]+ \|$", text, re.MULTILINE)) == 3
    assert len(re.findall(r"^\| 0 \| (extendFalse|extendTrue|bounded) \| 2 \| whole \|", text, re.MULTILINE)) == 3  # collect.py's rows
    assert "max |weight difference| = 0 (bit-identical)" in text
    assert "4 priors written" in text and "over 1 process(es)" in text
    assert re.search(r"^\| 4 of 4 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$", text, re.MULTILINE)  # restore-folder's table
    assert re.search(r"\| restore a folder \(issue 23\): photos per second.* \| [0-9.]+ photos/s \| toy sizes \|", text)
    for row in ("| resume: the same weights as the uninterrupted run | 0 | toy sizes |",
                "| fusion: strict fp32 weights identical to the release loop's | 0 | toy sizes |",
                "| the whole script: report in $OUT after every part | written after every part | toy sizes |",
                "| inversion, TF32 default, colorization: >= 600 image-steps/s | not measured (no valid mode measured) |  |"):
        assert row in text, row
    assert re.search(r"\| inversion, bf16 priors within 0.1 dB of fp32 \(that mode;.*\| [+-][0-9.]+ dB \(bf16(-compiled)?\) \| toy sizes \|", text)


def test_the_plan_fits_the_budget_with_every_part_run_and_the_readme_holds_it() -> None:
    assert planned_seconds() <= BUDGET_S, planned_seconds()
    assert all(part.least <= part.estimate <= part.limit for part in PLAN), [p.name for p in PLAN if not p.least <= p.estimate <= p.limit]
    names = [part.name for part in PLAN]
    assert names[0] == "data" and names[-1] == "inversion-default-compiled"  # the other compiled mode: with what is left
    assert names.index("inversion-bf16-compiled") < names.index("fusion") < names.index("col_bedroom")
    assert [part.name for part in PLAN if part.run is None] == []  # every place of the plan has its part
    folder = next(part for part in PLAN if part.name == "restore-folder")  # issue 23's, in the place it kept
    assert names.index("torchrun") + 1 == names.index("restore-folder") and 20 <= folder.estimate <= 30 and not folder.smoke
    printed = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--plan"], capture_output=True, text=True,
                             env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert printed.returncode == 0 and printed.stdout.splitlines() == plan_table(), printed.stderr[-2000:]
    assert f"| {planned_seconds():.0f} | of {BUDGET_S} | |" in printed.stdout.splitlines()[-1]
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    copy = readme.split("<!-- plan: bash benchmarks/gpu_check.sh --plan -->\n", 1)[1].split("\n<!-- /plan -->", 1)[0]
    assert copy.splitlines() == plan_table(), "benchmarks/README.md's plan differs from `gpu_check.sh --plan`: copy it again"


def fake_context(tmp_path: Path, budget: float) -> Context:
    return Context(True, sys.executable, tmp_path, time.monotonic() + budget, budget, dict(os.environ), tmp_path)


def test_a_part_that_raises_is_a_failed_section_and_the_report_is_written_after_every_part(tmp_path: Path) -> None:
    def broken(ctx: Context, limit: float) -> Section:
        raise ValueError("the benchmark's output had no rate line")

    def fine(ctx: Context, limit: float) -> Section:
        return Section("Fine", summary="42 things")

    plan = [Part("data", fine, 10, 1, 1, "-"), Part("broken", broken, 10, 1, 1, "-"), Part("after", fine, 10, 1, 1, "-"),
            Part("too-long", fine, 100, 50, 60, "-")]
    written: list[list[str]] = []
    done = check.run_parts(fake_context(tmp_path, 20), plan, lambda sections: written.append(list(sections)))
    assert written == [["data"], ["data", "broken"], ["data", "broken", "after"], ["data", "broken", "after", "too-long"]]
    assert done["broken"].status == "failed: ValueError: the benchmark's output had no rate line"
    assert any("raise ValueError" in line for line in done["broken"].lines)
    assert done["after"].status == "ok" and done["after"].summary == "42 things"
    assert done["too-long"].status.startswith("skipped: ") and "it needs 50 s or more" in done["too-long"].status


def test_every_goal_reads_the_best_valid_mode_of_its_precision() -> None:
    numbers = {
        "inversion.default.colorization.rate": 450.0, "inversion.default.colorization.share": 0.19,
        "inversion.default-compiled.colorization.rate": 700.0, "inversion.default-compiled.colorization.gap": 0.4,
        "inversion.bf16.colorization.rate": 900.0, "inversion.bf16.colorization.gap": 0.02,
        "inversion.bf16-compiled.colorization.rate": 1500.0, "inversion.bf16-compiled.colorization.gap": -0.05,
        "inversion.fp32.colorization.rate": 210.0, "inversion.fp32.colorization.share": 0.67,
    }
    rows = {row.split(" | ")[0].lstrip("| "): row for row in goals_table(numbers, BUDGET_S, smoke=False)[2:]}
    assert rows["inversion, TF32 default, colorization: >= 600 image-steps/s"].endswith(
        "| 450.0 image-steps/s (default; default-compiled's 700 not counted: priors +0.40 dB from the eager step's) | no |")
    assert rows["inversion, bf16, colorization: >= 1,400 image-steps/s"].endswith("| 1500.0 image-steps/s (bf16-compiled) | yes |")
    assert "| -0.050 dB (bf16-compiled) | yes |" in rows[next(k for k in rows if k.startswith("inversion, bf16 priors within 0.1 dB of fp32 (that"))]
    assert rows["inversion, strict fp32, colorization: >= 65% of the FP32 peak"].endswith("| 67% of peak (fp32) | yes |")
    assert "not measured: no published generator weights" in next(r for k, r in rows.items() if "1,500 steps" in k)
    assert rows["fusion: strict fp32 weights identical to the release loop's"].endswith("| not measured |  |")
    assert len(rows) == len(goals_table({}, BUDGET_S, smoke=False)) - 2


def test_col_bedroom_trains_every_variant_of_the_table_run_sh_reads(tmp_path: Path) -> None:
    """A variant added to experiments/col_bedroom_from_scratch/variants.py (one line) is trained by the GPU check too."""
    runs = fusion_parts.col_runs(fake_context(tmp_path, 10))
    assert list(runs) == [f"col_seed0_{variant}" for variant in fusion_parts.col_variants()]
    assert fusion_parts.col_variants()[:3] == ("extendFalse", "extendTrue", "bounded")
    flags = subprocess.run([sys.executable, str(ROOT / "experiments" / "col_bedroom_from_scratch" / "variants.py"), "bounded"],
                           capture_output=True, text=True)
    assert flags.stdout.split() == ["--extend_input", "True", "--phi_activation", "sigmoid", "--backbone", "U", "--augment",
                                    "True", "--self_ensemble", "True"]


def test_the_full_size_command_lines_parse(tmp_path: Path) -> None:
    """What only a GPU run executes still has to be a valid command line: each inversion mode's flags at full size
    through the benchmark's parser, the resume runs' through the fusion command's."""
    import importlib

    from bigprior.fusion.cli import build_parser as fusion_parser
    from gpu_check.inversion_parts import INVERSION_MODES, inversion_sizes

    sys.path.insert(0, str(ROOT / "benchmarks"))
    benchmark = importlib.import_module("inversion")  # benchmarks/inversion.py
    ctx = Context(False, sys.executable, tmp_path, time.monotonic() + 10, 10, {}, tmp_path)
    for mode in INVERSION_MODES.values():
        parser = benchmark.build_parser()
        args = parser.parse_args(["--device", "cuda", *inversion_sizes(ctx), *mode.flags(smoke=False)])
        benchmark.check_args(parser, args)
        assert (args.batch_size, args.precision, args.fold, args.compile_backend) == (64, mode.precision, True, "inductor")
        assert (args.compile, args.settings, args.reference_steps) == (("static", "col", 0) if mode.compiled else (None, "col,inp", 10))
        assert args.check_steps == ([1, 50] if mode.key == "fp32" else []) and args.compare == mode.compare
    resume = fusion_parser().parse_args(fusion_parts.resume_sizes(ctx))
    assert (resume.epochs, resume.crop_size, resume.precision, resume.train_count) == (3, 128, "fp32", 250)


# the files a GPU run executes (the orchestrator, the benchmarks, the library code under them)
PATH_FILES = [*(ROOT / "gpu_check").glob("*.py"), *(ROOT / "benchmarks" / name for name in ("inversion.py", "fusion_epoch.py", "peaks.py")),
              *(ROOT / "code" / "bigprior").rglob("*.py"), ROOT / "code" / "train.py",
              *(ROOT / "code" / "mganprior").glob("*.py"), ROOT / "experiments" / "col_bedroom_from_scratch" / "collect.py"]
PRIVATE = re.compile(r"\btorch((?:\.\w+)*?\._(?!_)\w+(?:\.\w+)*)")  # not dunders (torch.__version__)


def private_torch_names(path: Path) -> set[str]:
    """Dotted torch names with a private part (torch._dynamo.config, ...), from attribute chains and imports."""
    names = {"torch" + match for match in PRIVATE.findall(path.read_text())}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch.") and "._" in node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_gpu_path_names_no_torch_feature_newer_than_the_device_machines() -> None:
    assert all(version_tuple(since) <= version_tuple(DEVICE_TORCH) for since in TORCH_FEATURES.values()), TORCH_FEATURES
    assert [name for name in TORCH_FEATURES if not resolves(name)] == []
    assert not resolves("torch._dynamo.config.no_such_key_anywhere")  # the resolver can say no
    unlisted = {f"{path.relative_to(ROOT)}: {name}" for path in PATH_FILES for name in private_torch_names(path)
                if not any(entry == name or entry.startswith(name + ".") for entry in TORCH_FEATURES)}
    assert not unlisted, f"private torch names not in gpu_check/torch_features.py (with the release that has them): {unlisted}"
    assigned = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in PATH_FILES for line in path.read_text().splitlines()
                if re.match(r"\s*torch\._\w+\.config\.\w+\s*=", line)]
    assert not assigned, f"config keys set without a hasattr check: {assigned}"


@pytest.mark.parametrize("bad", ["--only data,nosuchpart"])
def test_an_unknown_part_is_refused_in_one_line(bad: str) -> None:
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), *bad.split()], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().endswith("--only: unknown part(s) nosuchpart"), done.stderr
