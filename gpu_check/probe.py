"""What the GPU check runs on: Python, torch, CUDA and the GPU, and the torch features it needs that are
missing there. `python -m gpu_check.probe` prints it as JSON: the orchestrator asks in a process of its own,
so that it never initialises CUDA itself (the data part's workers fork from it)."""

from __future__ import annotations

import json
import os
import platform

from .torch_features import missing


def describe(cuda: bool) -> dict:
    import torch

    facts = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
             "machine": platform.machine(), "cores": os.cpu_count(), "missing_features": missing(), "gpu": None}
    if cuda and torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        facts.update(gpu=properties.name, memory_gib=properties.total_memory / 2**30, sms=properties.multi_processor_count)
    return facts


if __name__ == "__main__":
    print(json.dumps(describe(cuda=True)))
