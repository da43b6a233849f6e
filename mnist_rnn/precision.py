"""bfloat16 only where the hardware has it.

``--trainer.precision bf16-mixed`` (``configs/fast.yaml``) runs the LSTM's matrix products in bfloat16. On a
CPU without native bfloat16 (no AVX512-BF16 or AMX: many laptops, older servers and cloud CPUs), oneDNN
cannot build a bfloat16 LSTM at all: training ends in "could not create a primitive descriptor". A GPU older
than Ampere has no bfloat16 either. There the CLI trains in float32 instead (``32-true``, the same
accuracy: docs/results.md) and says so in one line, rather than refusing a config that works everywhere
else. :func:`bf16_supported` is the one place that asks the hardware, so tests can pretend either way.
"""

from __future__ import annotations

import torch

# The values of --trainer.precision that compute in bfloat16 ("bf16" is Lightning's older name for bf16-mixed).
BF16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
FALLBACK = "32-true"


def bf16_supported(device_type: str) -> bool:
    """Whether ``device_type`` ("cpu" or "cuda") computes in bfloat16 natively (another type: assumed so)."""
    if device_type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return True


def device_type(accelerator: object) -> str | None:
    """The device a Trainer with ``accelerator`` trains on: "cpu", "cuda", or None when it is another one."""
    name = str(accelerator).lower() if isinstance(accelerator, str) else None
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    return {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda"}.get(name or "")


def supported_precision(precision: object, accelerator: object) -> tuple[object, str | None]:
    """``precision``, or float32 where it asks for bfloat16 that the device lacks; then a line saying why."""
    device = device_type(accelerator)
    if str(precision) not in BF16_PRECISIONS or device is None or bf16_supported(device):
        return precision, None
    if device == "cpu":
        lack = "this CPU has no native bfloat16 (AVX512-BF16 or AMX), and oneDNN cannot run the LSTM in it"
    else:
        lack = f"this GPU ({torch.cuda.get_device_name()}) has no bfloat16"
    return FALLBACK, f"{lack}: --trainer.precision {precision} replaced by {FALLBACK} (float32)"
