"""The CPU description and MKL_DEBUG_CPU_TYPE on AMD CPUs (paddle_electra/utils/cpuinfo.py)."""

import json
import os
import subprocess
import sys
import warnings

import pytest

from paddle_electra.utils import cpuinfo

AMD = {"vendor": "AuthenticAMD", "model": "AMD EPYC", "flags": frozenset({"avx2", "fma"}), "cores": 2}
INTEL = {
    "vendor": "GenuineIntel",
    "model": "Intel Xeon",
    "flags": frozenset({"avx2", "avx512f", "amx_tile", "amx_bf16"}),
    "cores": 2,
}


@pytest.fixture
def fake_cpu(monkeypatch):
    monkeypatch.delenv(cpuinfo.MKL_CPU_TYPE, raising=False)
    monkeypatch.setattr(cpuinfo, "_warned", [])

    def use(info, mkl_loaded=False):
        monkeypatch.setattr(cpuinfo, "cpu", lambda: info)
        monkeypatch.setattr(cpuinfo, "_mkl_loaded", lambda: mkl_loaded)

    return use


def test_amd_gets_mkls_avx2_path_unless_the_user_chose(fake_cpu, monkeypatch):
    fake_cpu(AMD)
    assert cpuinfo.prefer_fast_mkl() is True
    assert os.environ[cpuinfo.MKL_CPU_TYPE] == "5"
    monkeypatch.setenv(cpuinfo.MKL_CPU_TYPE, "2")
    assert cpuinfo.prefer_fast_mkl() is False
    assert os.environ[cpuinfo.MKL_CPU_TYPE] == "2"


def test_intel_and_pre_avx2_cpus_are_left_alone(fake_cpu):
    fake_cpu(INTEL)
    assert cpuinfo.prefer_fast_mkl() is False
    fake_cpu(dict(AMD, flags=frozenset({"sse4_2"})))
    assert cpuinfo.prefer_fast_mkl() is False
    assert cpuinfo.MKL_CPU_TYPE not in os.environ


def test_too_late_warns_once_with_the_fix(fake_cpu):
    fake_cpu(AMD, mkl_loaded=True)
    with pytest.warns(RuntimeWarning, match="MKL_DEBUG_CPU_TYPE=5"):
        assert cpuinfo.prefer_fast_mkl() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cpuinfo.prefer_fast_mkl()  # no second warning
    assert cpuinfo.MKL_CPU_TYPE not in os.environ


def test_describe_names_vendor_and_extensions(monkeypatch):
    monkeypatch.setattr(cpuinfo, "cpu", lambda: AMD)
    assert cpuinfo.describe() == "AMD EPYC (AuthenticAMD; AVX2, no AVX-512, no AMX; 2 cores)"
    assert cpuinfo.has_bf16_instructions() is False
    monkeypatch.setattr(cpuinfo, "cpu", lambda: INTEL)
    assert cpuinfo.describe() == "Intel Xeon (GenuineIntel; AVX2, AVX-512, AMX; 2 cores)"
    assert cpuinfo.has_bf16_instructions() is True


def test_mkl_loads_at_the_first_gemm_and_import_sets_the_variable_in_time():
    """In a fresh process: paddle loads MKL at its first GEMM, not on import (which is what makes
    setting the variable on `import paddle_electra` work), and on an AMD CPU the import sets it."""
    code = (
        "import json, os, paddle\n"
        "from paddle_electra.utils import cpuinfo\n"
        "before = cpuinfo._mkl_loaded()\n"
        "x = paddle.ones([64, 64]); paddle.matmul(x, x).numpy()\n"
        "after = cpuinfo._mkl_loaded()\n"
        "print(json.dumps([before, after, os.environ.get('MKL_DEBUG_CPU_TYPE'), cpuinfo.cpu()['vendor']]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != cpuinfo.MKL_CPU_TYPE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after, variable, vendor = json.loads(out.stdout.strip().splitlines()[-1])
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("no /proc/self/maps: the loaded libraries cannot be listed here")
    assert (before, after) == (False, True)
    assert variable == ("5" if vendor == "AuthenticAMD" and "avx2" in cpuinfo.cpu()["flags"] else None)


def test_int8_weights_use_7_bits_only_without_vnni(fake_cpu):
    fake_cpu(AMD)  # no VNNI: onnxruntime's int8 GEMMs would saturate on 8-bit weights
    assert cpuinfo.has_int8_dot_product() is False
    fake_cpu(dict(INTEL, flags=INTEL["flags"] | {"avx512_vnni"}))
    assert cpuinfo.has_int8_dot_product() is True
    fake_cpu(dict(AMD, flags=AMD["flags"] | {"avx_vnni"}))
    assert cpuinfo.has_int8_dot_product() is True
