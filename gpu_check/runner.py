"""What `gpu_check/check.py` runs its parts with: the run's context (toy or full sizes, work folder, time
left) and commands run from the project root under a time limit, several at a time, killed with their
children at the limit, their output logged to <work>/logs/<name>.log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    """What every part needs: sizes (smoke or full), where to work, the time left."""

    smoke: bool
    python: str
    work: Path
    deadline: float
    budget: float
    env: dict[str, str]
    data: Path  # the packed data (full runs)
    parallel_parts: int = 1  # parts at a time: one on a GPU, for its timings; two in a --smoke run (CI's time counts)

    @property
    def device(self) -> str:
        return "cpu" if self.smoke else "cuda"

    @property
    def paper(self) -> Path:
        """The unpacked data: paper/inter_data/col_bedroom/{GT,input,mGANoutput}."""
        return self.work / "paper"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


@dataclass
class Finished:
    """One command: exit code (None: killed at its limit), output, seconds."""

    returncode: int | None
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def status(self) -> str:
        if self.returncode is None and not self.seconds:
            return "not started: no time left"
        if self.returncode is None:
            return f"stopped at its time limit after {self.seconds:.0f} s"
        return "ok" if self.ok else f"failed (exit code {self.returncode})"


def run_commands(ctx: Context, commands: dict[str, Sequence[str]], limit: float, parallel: int = 1,
                 env: dict[str, str] | None = None) -> dict[str, Finished]:
    """Run commands (name -> argv) from the project root, `parallel` at a time, all within `limit` seconds;
    a command still running at the limit is killed with its children. Output goes to <work>/logs/<name>.log."""
    logs = ctx.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = time.monotonic() + limit
    queue, running, finished = list(commands.items()), {}, {}
    while queue or running:
        while queue and len(running) < parallel:
            name, argv = queue.pop(0)
            log = open(logs / f"{name}.log", "w")
            process = subprocess.Popen(list(argv), cwd=ROOT, env={**ctx.env, **(env or {})}, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            running[name] = (process, log, time.monotonic())
        time.sleep(0.05)
        for name, (process, log, started) in list(running.items()):
            late = time.monotonic() > stop
            if process.poll() is None and not late:
                continue
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
            code = None if late and process.returncode < 0 else process.returncode
            finished[name] = Finished(code, (logs / f"{name}.log").read_text(errors="replace"), time.monotonic() - started)
            del running[name]
        if time.monotonic() > stop:
            finished.update({name: Finished(None, "", 0.0) for name, _ in queue})
            queue = []
    return finished


def run_one(ctx: Context, name: str, argv: Sequence[str], limit: float, env: dict[str, str] | None = None) -> Finished:
    return run_commands(ctx, {name: argv}, limit, env=env)[name]


def output_lines(finished: Finished, keep: Callable[[str], bool]) -> list[str]:
    """The lines of a command's output worth a report (progress bars and warnings dropped), fenced."""
    lines = [line.rstrip() for line in finished.output.replace("\r", "\n").splitlines() if keep(line)]
    return ["```", *lines, "```"] if lines else []


def failure_tail(finished: Finished) -> list[str]:
    if finished.ok:
        return []
    return [f"{finished.status()}; the end of its output:", *tail(finished.output)]


def tail(text: str, lines: int = 12) -> list[str]:
    """The last non-empty lines of an output, fenced."""
    kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()][-lines:]
    return ["```", *kept, "```"]


@dataclass
class Section:
    """One part's place in the report: its status, markdown lines, the numbers the goals read, and a one-line
    summary of its figures (printed when the part ends, and in the report's table of parts)."""

    title: str
    status: str = "ok"
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    summary: str = ""

    @classmethod
    def crashed(cls, title: str, error: BaseException) -> Section:
        """A part that raised: a failed section with the end of its traceback, not the end of the run."""
        return cls(title, status=f"failed: {type(error).__name__}: {error}".splitlines()[0],
                   lines=["The part raised; the end of its traceback:", *tail(traceback.format_exc())])

    def add_failures(self, finished: dict[str, Finished]) -> None:
        """Mark the section failed by the first failed command and append each failed command's output tail."""
        for name, result in finished.items():
            if not result.ok:
                self.status = self.status if self.status != "ok" else f"{name}: {result.status()}"
                self.lines += [f"`{name}`: " + failure_tail(result)[0], *failure_tail(result)[1:]]
