"""bfloat16 only where the hardware has it: the capability check decides, and tests pretend either way."""

import os
import platform

import pytest
import torch

from mnist_rnn import precision
from mnist_rnn.precision import bf16_supported, cpu_bf16, supported_precision


def test_bf16_is_kept_where_the_device_has_it(monkeypatch):
    monkeypatch.setattr(precision, "bf16_supported", lambda device_type: True)
    assert supported_precision("bf16-mixed", "cpu") == ("bf16-mixed", None)
    assert supported_precision("32-true", "cpu") == ("32-true", None)


def test_bf16_becomes_float32_on_a_cpu_or_gpu_without_it(monkeypatch):
    asked = []
    monkeypatch.setattr(precision, "bf16_supported", lambda device_type: asked.append(device_type) or False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Tesla T4")
    chosen, line = supported_precision("bf16-mixed", "gpu")
    assert (
        chosen == "32-true"
        and line == "this GPU (Tesla T4) has no bfloat16: --trainer.precision bf16-mixed replaced by 32-true (float32)"
    )
    assert supported_precision("bf16", "auto")[0] == "32-true"  # auto: the GPU torch sees
    assert supported_precision("16-mixed", "gpu") == ("16-mixed", None)  # float16 is not bfloat16
    assert asked == ["cuda", "cuda"]


def test_the_capability_check_answers_for_this_machine():
    instructions = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert cpu_bf16() == "none"
    elif platform.machine().lower() in ("x86_64", "amd64"):
        limited = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper() in precision.ISAS_WITHOUT_BF16
        assert cpu_bf16() == ("native" if instructions and not limited else "emulated")
    assert bf16_supported("cpu") is (cpu_bf16() == "native")
    assert bf16_supported("cuda") is (torch.cuda.is_available() and torch.cuda.is_bf16_supported(False))


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the x86 instructions")
def test_an_avx512_cpu_without_the_bf16_instructions_emulates_them(monkeypatch):
    """torch's own check says yes to any AVX512 CPU; without AVX512-BF16 or AMX, bf16-mixed trains at about
    half float32's speed there (docs/results.md), so it is not native."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    for avx512_bf16, amx, expected in [(True, False, "native"), (False, True, "native"), (False, False, "emulated")]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda avx512_bf16=avx512_bf16: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        assert cpu_bf16() == expected
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_vnni")  # oneDNN told to use no more than Ice Lake's
    assert cpu_bf16() == "emulated"
    chosen, line = supported_precision("bf16-mixed", "cpu")
    assert chosen == "32-true" and line == (
        "this CPU has no native bfloat16 (AVX512-BF16 or AMX), and oneDNN only emulates it, so the model trains "
        "slower in it than in float32: --trainer.precision bf16-mixed replaced by 32-true (float32)"
    )
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert cpu_bf16() == "none"


def test_a_torch_without_onednn_trains_in_float32(monkeypatch):
    monkeypatch.setattr(torch.ops, "mkldnn", object())  # no _is_mkldnn_bf16_supported op at all
    assert cpu_bf16() == "none" and supported_precision("bf16-mixed", "cpu")[0] == "32-true"


@pytest.mark.skipif(cpu_bf16() == "none", reason="oneDNN has no bfloat16 LSTM for this CPU")
def test_a_bf16_lstm_runs_where_the_cpu_has_it():
    lstm = torch.nn.LSTM(28, 16, batch_first=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = lstm(torch.randn(4, 28, 28))
    assert output.dtype == torch.bfloat16 and torch.isfinite(output.float()).all()


def test_the_fallback_line_names_the_cell_and_what_the_command_does(monkeypatch):
    """It said "oneDNN cannot run the LSTM" of a GRU (which runs, many times slower) and "trains" of a test."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    precision, line = supported_precision("bf16-mixed", "cpu", "gru", "runs")
    assert (
        precision == "32-true"
        and "(AVX512-BF16 or AMX), so the GRU runs many times slower in it than in float32: " in line
    )
    _, line = supported_precision("16-mixed", "cpu", "lstm", "runs")
    assert line.startswith("on a CPU Lightning runs 16-mixed as bf16-mixed;") and "cannot run the LSTM in it" in line
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "emulated")
    _, line = supported_precision("bf16-true", "cpu", "rnn", "runs")
    assert "emulates it, so the model runs slower in it than in float32: --trainer.precision bf16-true replaced" in line


def test_float16_weights_fall_back_to_float32_on_a_cpu_without_float16(monkeypatch):
    """16-true ran a GRU or LSTM step 25x slower than float32 on an AVX2 CPU (docs/results.md), without a word."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_fp16", lambda: False)
    precision, line = supported_precision("16-true", "cpu", "gru", "trains")
    assert precision == "32-true"
    assert line == (
        "this CPU has no native float16 (AVX512-FP16), so the GRU trains many times slower in it than in float32: "
        "--trainer.precision 16-true replaced by 32-true (float32)"
    )
    assert supported_precision("16-true", "gpu") == ("16-true", None)  # every CUDA GPU computes in float16
    monkeypatch.setattr("mnist_rnn.precision.cpu_fp16", lambda: True)
    assert supported_precision("16-true", "cpu") == ("16-true", None)


def test_cpu_fp16_is_onednns_answer():
    assert precision.cpu_fp16() is bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
