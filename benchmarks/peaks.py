"""The datasheet peak rates that a benchmark's throughput is read against: dense TFLOP/s per precision mode of
the GPUs this project's figures come from (vendor datasheets; the sparse figures there are twice these).

The modes are `--precision`'s: `fp32` (strict: the FP32 cores, TF32 off), `default` (PyTorch's defaults on
CUDA: convolutions in TF32 on the tensor cores) and `bf16` (autocast: bf16 tensor cores). A GPU whose name
matches no entry has no peak: its share is "n/a", never a guess.
"""

from __future__ import annotations

# the first entry whose name occurs in torch.cuda.get_device_name() (case-insensitive) wins: longer names first
PEAKS_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200 NVL", {"fp32": 60.0, "default": 417.5, "bf16": 835.5}),
    ("H200", {"fp32": 66.9, "default": 494.7, "bf16": 989.4}),  # SXM: "NVIDIA H200"
    ("H100 NVL", {"fp32": 60.0, "default": 417.5, "bf16": 835.5}),
    ("H100 PCIe", {"fp32": 51.2, "default": 378.0, "bf16": 756.0}),
    ("H100", {"fp32": 66.9, "default": 494.7, "bf16": 989.4}),  # SXM: "NVIDIA H100 80GB HBM3"
    ("A100", {"fp32": 19.5, "default": 156.0, "bf16": 312.0}),
)
PRECISION_UNITS = {"fp32": "FP32", "default": "TF32", "bf16": "BF16"}


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The dense peak of `precision` on the GPU named `device_name`, None when the GPU is not in the table."""
    for name, peaks in PEAKS_TFLOPS:
        if name.lower() in device_name.lower():
            return peaks[precision]
    return None


def share_text(tflops: float, device_name: str, precision: str) -> str:
    """'31% of the NVIDIA H200's dense BF16 peak (989 TFLOP/s)', or 'n/a (no peak known for <device>)'."""
    peak = peak_tflops(device_name, precision)
    if peak is None:
        return f"share of peak n/a (no peak known for {device_name})"
    return f"{100 * tflops / peak:.0f}% of the {device_name}'s dense {PRECISION_UNITS[precision]} peak ({peak:.0f} TFLOP/s)"
