"""bfloat16 only where the hardware has it: the capability check decides, and tests pretend either way."""

import pytest
import torch

from mnist_rnn import precision
from mnist_rnn.precision import bf16_supported, supported_precision


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
    assert bf16_supported("cpu") is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert bf16_supported("cuda") is (torch.cuda.is_available() and torch.cuda.is_bf16_supported(False))


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16")
def test_a_bf16_lstm_runs_where_the_cpu_has_it():
    lstm = torch.nn.LSTM(28, 16, batch_first=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = lstm(torch.randn(4, 28, 28))
    assert output.dtype == torch.bfloat16 and torch.isfinite(output.float()).all()
