"""The torch features the GPU check's code path relies on beyond the basics, with the release that first had
each. The device machine runs torch 2.11 (Python 3.12), CI a newer one, so nothing on the path may need a
newer torch than `DEVICE_TORCH`: tests/test_gpu_check.py checks every entry's release, that every entry
resolves here, and that the path names no private torch module or config key missing from this table (a
config key whose name changed is read with hasattr, as `bigprior.inversion.compiled` does). The device probe
resolves them with the device's own torch and the report names any missing one.
"""

from __future__ import annotations

import importlib

DEVICE_TORCH = "2.11"
TORCH_FEATURES: dict[str, str] = {
    "torch.compile": "2.0",
    "torch._dynamo": "2.0",
    "torch._dynamo.config": "2.0",
    "torch._dynamo.config.recompile_limit": "2.6",  # cache_size_limit before (compiled.py checks with hasattr)
    "torch._dynamo.maybe_mark_dynamic": "2.1",
    "torch._dynamo.utils.counters": "2.0",
    "torch.cpu._is_amx_tile_supported": "2.3",  # runtime.native_bf16_cpu
    "torch.cpu._is_avx512_bf16_supported": "2.3",
    "torch.utils.flop_counter.FlopCounterMode": "2.1",
    "torch.autocast": "1.10",
    "torch.use_deterministic_algorithms": "1.8",
    "torch.is_deterministic_algorithms_warn_only_enabled": "1.11",
    "torch.backends.nnpack.flags": "1.7",
    "torch.cuda.OutOfMemoryError": "1.13",
    "torch.distributed.run": "1.9",
    "torch._utils._rebuild_tensor_v2": "1.0",  # the StyleGAN2 pickle reader's tensors
    "torch.storage._load_from_bytes": "1.0",
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("+")[0].split(".")[:2])


def resolves(name: str) -> bool:
    """Whether `torch.a.b.c` exists here: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def missing() -> list[str]:
    return [name for name in TORCH_FEATURES if not resolves(name)]
