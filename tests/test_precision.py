"""--precision: decided once per run from what the hardware does natively, saved with the
run, kept on resume; bf16 resumes bit-exactly too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_training import assert_states_equal, tiny_config

import dcgan.devices as devices
from dcgan import DcganError, TrainConfig
from dcgan.checkpoint import load_checkpoint, run_config
from dcgan.config import ModelConfig
from dcgan.conventions import quantize
from dcgan.models import Generator
from dcgan.sampling import sample
from dcgan.training import train


def test_auto_is_fp32_on_a_cpu_and_bf16_on_a_cuda_gpu_with_it(monkeypatch) -> None:
    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("bf16", cpu) == "bf16"
    assert devices.resolve_precision("bf16", torch.device("mps")) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert devices.resolve_precision("auto", torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert devices.resolve_precision("auto", torch.device("cuda")) == "fp32"


def test_native_bf16_on_a_cpu_is_read_from_its_flags(monkeypatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert devices.native_bf16(cpu)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert devices.native_bf16(cpu)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert not devices.native_bf16(cpu)
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("auto", cpu, cpu_bf16=True) == "fp32"  # no native bf16
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx512_bf16"})
    assert devices.resolve_precision("auto", cpu) == "fp32"  # a job not measured in bf16
    assert devices.resolve_precision("auto", cpu, cpu_bf16=True) == "bf16"


@pytest.mark.parametrize("flags", [{"avx2", "avx512f"}, {"avx2", "avx512f", "avx512_bf16"}])
def test_training_on_a_cpu_takes_bf16_where_it_is_native(monkeypatch, tmp_path, flags) -> None:
    monkeypatch.setattr(devices, "cpu_flags", lambda: flags)
    run = train(tiny_config(tmp_path, steps=1)).run_dir
    assert run_config(run).precision == ("bf16" if "avx512_bf16" in flags else "fp32")


def test_the_run_saves_its_precision_and_resume_keeps_it(tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path, steps=2)).run_dir
    decided, other = (
        ("bf16", "fp32") if devices.native_bf16(torch.device("cpu")) else ("fp32", "bf16")
    )
    assert run_config(run).precision == decided  # auto, on this CPU
    with pytest.raises(DcganError, match=f"precision {other}: cannot change on resume"):
        train(TrainConfig(steps=3, precision=other, progress=False), resume=run)


def test_amp_is_the_old_name_of_bf16() -> None:
    assert TrainConfig(amp=True).precision == "bf16"


def test_bf16_resumes_bit_exactly(tmp_path: Path) -> None:
    full = train(tiny_config(tmp_path / "a", steps=6, precision="bf16"))
    part = train(tiny_config(tmp_path / "b", steps=3, precision="bf16"))
    assert run_config(part.run_dir).precision == "bf16"
    resumed = train(TrainConfig(steps=6, progress=False), resume=part.run_dir)
    assert resumed.step == 6
    assert_states_equal(load_checkpoint(full.run_dir), load_checkpoint(part.run_dir))


def test_sampling_auto_follows_the_cpu_flags_and_bf16_stays_close(monkeypatch) -> None:
    torch.manual_seed(0)
    g = Generator(ModelConfig(size=16, channels=3, ngf=8, ndf=8))
    fp32, bf16 = sample(g, n=16), sample(g, n=16, precision="bf16")
    assert torch.equal(sample(g, n=16, precision="fp32"), fp32)  # the default is fp32
    assert not torch.equal(fp32, bf16)  # bf16 did run
    levels = (quantize(fp32).int() - quantize(bf16).int()).abs().float()
    assert levels.mean() <= 1.0  # the tolerance of bench/precision_ops.py
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert torch.equal(sample(g, n=16, precision="auto"), bf16)
    assert torch.equal(sample(g, n=16), fp32)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert torch.equal(sample(g, n=16, precision="auto"), fp32)
