"""bfloat16 only where the hardware computes in it natively.

``--trainer.precision bf16-mixed`` (``configs/fast.yaml``) runs the LSTM's matrix products in bfloat16. That
pays only on a CPU with AVX512-BF16 or AMX (or an Ampere or newer GPU). Elsewhere it costs: on an AVX512 CPU
without them (Skylake to Ice Lake, common in clouds) oneDNN emulates bfloat16 and ``fit`` runs at about half
its float32 speed; on a CPU without AVX512 (many laptops) oneDNN cannot build a bfloat16 LSTM at all and
training ends in "could not create a primitive descriptor" (docs/results.md). There the CLI trains in float32
instead (``32-true``, the same accuracy) and says so in one line, rather than refusing or slowing down a
config that is fast elsewhere. ``16-true`` (float16 weights) gets the same treatment on a CPU without native
float16 (AVX512-FP16), where oneDNN runs it many times slower than float32. :func:`cpu_bf16`,
:func:`bf16_supported` and :func:`cpu_fp16` are the one place that asks the hardware, so tests can pretend
either way.
"""

from __future__ import annotations

import os
import platform

import torch

# The values of --trainer.precision that compute in bfloat16 ("bf16" is Lightning's older name for bf16-mixed).
BF16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
# float16 mixed precision, which Lightning replaces by bf16-mixed on a CPU (torch has no float16 autocast there).
FP16_MIXED_PRECISIONS = ("16-mixed", "16")
# float16 weights throughout, which a CPU computes natively only with AVX512-FP16 (Sapphire Rapids and newer).
FP16_TRUE_PRECISIONS = ("16-true",)
FALLBACK = "32-true"
# The values of --trainer.precision that compute in float32 or float64 throughout.
FULL_PRECISIONS = ("32-true", "32", "64-true", "64")


def precision_name(value: object) -> str:
    """Lightning's full name of a precision setting: ``32``, ``"32"`` and none (the Trainer's default) are
    ``32-true``, ``bf16`` is ``bf16-mixed``, as the Trainer reads them."""
    short = {"None": "32-true", "32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}
    return short.get(str(value), str(value))


# oneDNN's instruction-set limits (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16: under them it emulates bfloat16.
ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_without_bf16(cell: str = "lstm", verb: str = "trains", autocast: bool = True) -> str:
    """What bfloat16 does on this CPU, which lacks it, in words: oneDNN emulates it (slower than float32), or
    has no bfloat16 LSTM at all; a GRU or plain RNN then runs in it, many times slower than in float32
    (docs/results.md). Under autocast (bf16-mixed) the LSTM fails ("could not create a primitive descriptor");
    with bfloat16 weights (bf16-true) torch runs it without oneDNN's LSTM, many times slower too."""
    if cpu_bf16() == "emulated":
        return f"and oneDNN only emulates it, so the model {verb} slower in it than in float32"
    if cell == "lstm" and autocast:
        return "and oneDNN cannot run the LSTM in it"
    return f"so the {cell.upper()} {verb} many times slower in it than in float32"


def cpu_bf16() -> str:
    """How this CPU runs a bfloat16 LSTM: "native" (AVX512-BF16 or AMX; on ARM, its BF16 extension), "emulated"
    (works, but slower than float32) or "none" (oneDNN has no bfloat16 LSTM for this CPU)."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return "none"
    except (AttributeError, RuntimeError):  # a torch built without oneDNN has no such op, and no fast bf16
        return "none"
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return "native"  # torch's check above asks for the ARM BF16 instructions themselves
    # torch's check says yes to any AVX512 CPU, as oneDNN can emulate bfloat16 there; ask for the instructions.
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "ALL")).upper()
    has_instructions = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "native" if has_instructions and limit not in ISAS_WITHOUT_BF16 else "emulated"


def cpu_fp16() -> bool:
    """Whether this CPU computes in float16 natively (oneDNN's own check, which heeds ONEDNN_MAX_CPU_ISA)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def bf16_supported(device_type: str) -> bool:
    """Whether ``device_type`` ("cpu" or "cuda") computes in bfloat16 natively (another type: assumed so)."""
    if device_type == "cpu":
        return cpu_bf16() == "native"
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return True


def device_type(accelerator: object) -> str | None:
    """The device a Trainer with ``accelerator`` trains on: "cpu", "cuda", or None when it is another one."""
    name = str(accelerator).lower() if isinstance(accelerator, str) else None
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    return {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda"}.get(name or "")


def supported_precision(
    precision: object, accelerator: object, cell: str = "lstm", verb: str = "trains"
) -> tuple[object, str | None]:
    """``precision``, or float32 where it asks for bfloat16 (or, on a CPU, float16 weights) that the device
    lacks; then a line saying why, of the model's ``cell`` and what the command does with it (``verb``:
    "trains", or "runs" to test)."""
    device = device_type(accelerator)
    if device == "cpu" and str(precision) in FP16_TRUE_PRECISIONS and not cpu_fp16():
        lack = f"this CPU has no native float16 (AVX512-FP16), so the {cell.upper()} {verb} many times slower in it"
        return FALLBACK, f"{lack} than in float32: --trainer.precision {precision} replaced by {FALLBACK} (float32)"
    # On a CPU Lightning trains 16-mixed as bf16-mixed (with a warning of its own), so the same check applies.
    as_bf16 = device == "cpu" and str(precision) in FP16_MIXED_PRECISIONS
    if not (as_bf16 or str(precision) in BF16_PRECISIONS) or device is None or bf16_supported(device):
        return precision, None
    if device == "cpu":
        how = cpu_without_bf16(cell, verb, autocast=str(precision) != "bf16-true")
        lack = f"this CPU has no native bfloat16 (AVX512-BF16 or AMX), {how}"
        if as_bf16:
            lack = f"on a CPU Lightning {verb} 16-mixed as bf16-mixed; {lack}"
    else:
        lack = f"this GPU ({torch.cuda.get_device_name()}) has no bfloat16"
    return FALLBACK, f"{lack}: --trainer.precision {precision} replaced by {FALLBACK} (float32)"
