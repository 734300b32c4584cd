"""SOLVER.AMP: True / False / auto, and the CPU bf16 probe behind auto."""

import logging

import pytest

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.config.loading import ConfigError
from maskrcnn_benchmark.engine import amp as amp_mod
from maskrcnn_benchmark.engine.amp import cpu_has_native_bf16, normalize_amp, resolve_amp

QUICK = "configs/quick_schedules/e2e_faster_rcnn_R_18_FPN_shapes.yaml"


@pytest.mark.parametrize(
    "value, setting", [(True, "on"), (False, "off"), ("auto", "auto"), ("AUTO", "auto"), ("true", "on"), ("off", "off")]
)
def test_normalize(value, setting):
    assert normalize_amp(value) == setting


def test_config_accepts_bool_and_auto_from_yaml_and_overrides(tmp_path):
    assert load_config("").SOLVER.AMP == "off"
    assert load_config(QUICK).SOLVER.AMP == "auto"  # the quick configs use auto
    assert load_config(QUICK, ["SOLVER.AMP", "True"]).SOLVER.AMP == "on"
    assert load_config(QUICK, ["SOLVER.AMP", False]).SOLVER.AMP == "off"
    yml = tmp_path / "c.yaml"
    yml.write_text("SOLVER:\n  AMP: True\n")
    assert load_config(str(yml)).SOLVER.AMP == "on"
    yml.write_text("SOLVER:\n  AMP: fast\n")
    with pytest.raises(ConfigError, match="c.yaml.*SOLVER.AMP must be True, False or auto, got 'fast'"):
        load_config(str(yml))
    with pytest.raises(ConfigError, match="SOLVER.AMP must be True, False or auto, got 3"):
        load_config("", ["SOLVER.AMP", "3"])


def test_cpu_probe_reads_the_bf16_flags(tmp_path, monkeypatch):
    monkeypatch.setattr(amp_mod.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert cpu_has_native_bf16({"avx2", "avx512f", "avx512_bf16"})
    assert cpu_has_native_bf16({"amx_bf16", "amx_tile"})
    assert not cpu_has_native_bf16({"avx2", "avx512f", "fma"})
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n")
    assert amp_mod._cpuinfo_flags(str(info)) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert amp_mod._cpuinfo_flags(str(tmp_path / "none")) == set()


def test_auto_and_explicit_on_cpu_and_cuda(caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_amp("auto", "cpu", native_bf16=True) is True
        assert resolve_amp("auto", "cpu", native_bf16=False) is False
        assert resolve_amp("auto", "cuda", native_bf16=False) is True
        assert resolve_amp("off", "cuda") is False
        assert resolve_amp("on", "cpu", native_bf16=True) is True
        assert resolve_amp("on", "cuda", native_bf16=False) is True
    assert caplog.text == ""  # nothing to warn about
    with caplog.at_level(logging.WARNING):
        assert resolve_amp("on", "cpu", native_bf16=False) is True  # honoured, but warned
    assert "SOLVER.AMP True on a CPU without native bfloat16" in caplog.text
    assert "24.7 s/iter with SOLVER.AMP True against 2.2 s/iter" in caplog.text
    assert "set SOLVER.AMP auto or False" in caplog.text


def test_auto_follows_this_machine(monkeypatch):
    monkeypatch.setattr(amp_mod, "cpu_has_native_bf16", lambda: False)
    assert resolve_amp("auto", "cpu") is False
    monkeypatch.setattr(amp_mod, "cpu_has_native_bf16", lambda: True)
    assert resolve_amp("auto", "cpu") is True
