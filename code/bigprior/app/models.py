"""The models a person may pick in the app: the built-in ones, and the generator files and fusion run
folders found under `--weights_dir`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BIGPriorError
from ..experiment import FUSION_ARGS_FILE

BUILT_IN = "built-in"
GENERATOR_SUFFIXES = (".pth", ".pt", ".pkl")
SEARCH_DEPTH = 3  # folders below --weights_dir that are looked into


@dataclass(frozen=True)
class Models:
    """Generator files and fusion run folders (net_data/<exp>_<ID>: they hold OURargs.txt)."""

    generators: tuple[Path, ...] = ()
    fusion_runs: tuple[Path, ...] = ()

    def generator_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a dropdown: the built-in generator first, then each file by its path."""
        return [(f"{BUILT_IN} generator", BUILT_IN)] + [(str(path.name), str(path)) for path in self.generators]

    def fusion_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs: the built-in network of the task first, then each run folder."""
        return [(f"{BUILT_IN} network of the task", BUILT_IN)] + [(path.name, str(path)) for path in self.fusion_runs]

    def check(self, value: str | None, kind: str) -> str | None:
        """The file or folder a picked value names (None: built-in); only what was offered is accepted,
        so that a request cannot name any other file of the server's."""
        if value in (None, "", BUILT_IN):
            return None
        offered = self.generators if kind == "generator" else self.fusion_runs
        if value not in {str(path) for path in offered}:
            raise BIGPriorError(f"{kind} {value!r} is not one of the models this server offers")
        return value


def find_models(weights_dir: str | Path | None) -> Models:
    """The generator files and fusion run folders under `weights_dir` (none without it), sorted by path.
    Files inside a run folder are its checkpoints, not generators."""
    if not weights_dir or not Path(weights_dir).is_dir():
        return Models()
    root = Path(weights_dir).resolve()
    runs = sorted({path.parent for path in _walk(root) if path.name == FUSION_ARGS_FILE})
    generators = sorted(path for path in _walk(root) if path.suffix in GENERATOR_SUFFIXES
                        and not any(run in path.parents for run in runs))
    return Models(tuple(generators), tuple(runs))


def _walk(root: Path) -> list[Path]:
    """The files under `root`, at most SEARCH_DEPTH folders down."""
    found, level = [], [root]
    for _ in range(SEARCH_DEPTH + 1):
        below = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:  # unreadable: nothing offered from it
                continue
            for entry in entries:
                (below if entry.is_dir() else found).append(entry)
        level = below
    return found
