"""The CPU this process runs on, and the one environment setting that depends on it.

Standard library only, and importable without paddle: `paddle_electra/__init__.py` calls
`prefer_fast_mkl()` before it imports paddle, and the benchmarks (also run in environments
without paddle) load this file to name the CPU beside every table.

- `cpu()`: vendor, model name and instruction-set flags (from /proc/cpuinfo on Linux).
- `describe()`: one line for benchmark tables, e.g. "AMD EPYC (AuthenticAMD; AVX2, no AVX-512,
  no AMX; 2 cores)".
- `has_bf16_instructions()`: AVX512-BF16 or AMX-BF16, the instructions that make bf16 inference
  fast; without them oneDNN emulates bf16 (on AVX-512) or cannot run it at all.
- `prefer_fast_mkl()`: Paddle's bundled MKL-ML takes a slow generic code path on CPUs that are
  not Intel's. It still honours `MKL_DEBUG_CPU_TYPE`; 5 selects its AVX2 kernels (the variable
  only chooses among code paths of the same library; the AVX2 path is the one every AVX2 Intel
  CPU runs). On AuthenticAMD CPUs with AVX2 this sets it unless the user set it. MKL reads it
  when it is loaded, which paddle does at its first GEMM (not on import); once it is loaded,
  this warns once with the fix instead. docs/benchmarks.md measures it.
"""

import functools
import os
import platform
import sys
import warnings

MKL_CPU_TYPE = "MKL_DEBUG_CPU_TYPE"
MKL_AVX2 = "5"


@functools.cache
def cpu():
    """{"vendor", "model", "flags" (a frozenset of lower-case flags), "cores"} of this machine."""
    info = {"vendor": "", "model": platform.processor() or platform.machine(), "flags": frozenset()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "vendor_id" and not info["vendor"]:
                    info["vendor"] = value
                elif key == "model name" and value:
                    info["model"] = value
                elif key == "flags" and not info["flags"]:
                    info["flags"] = frozenset(value.lower().split())
                if info["vendor"] and info["flags"] and key == "":  # end of the first processor
                    break
    except OSError:
        pass
    try:
        info["cores"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["cores"] = os.cpu_count() or 1
    return info


def has_bf16_instructions():
    """True when the CPU has AVX512-BF16 or AMX-BF16; None when its flags cannot be read."""
    flags = cpu()["flags"]
    if not flags:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def has_int8_dot_product():
    """True when the CPU has VNNI (AVX512-VNNI, AVX-VNNI) or AMX-INT8, so that onnxruntime's int8
    GEMMs add products in 32 bits; without it they pair products in 16 bits, which saturate on
    full-range (8-bit) weights."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu()["flags"])


def describe():
    """One line naming the CPU: model, vendor, the SIMD / matrix extensions that decide our speed."""
    info = cpu()
    flags = info["flags"]
    simd = [
        name
        for name, flag in (
            ("AVX2", "avx2"),
            ("AVX-512", "avx512f"),
            ("AVX512-BF16", "avx512_bf16"),
            ("AVX512-VNNI", "avx512_vnni"),
            ("AMX", "amx_tile"),
        )
        if flag in flags
    ]
    missing = [
        f"no {name}" for name, flag in (("AVX-512", "avx512f"), ("AMX", "amx_tile")) if flag not in flags
    ]
    details = ", ".join(simd + missing) if flags else "flags unknown"
    return f"{info['model']} ({info['vendor'] or 'vendor unknown'}; {details}; {info['cores']} cores)"


_warned = []


def _mkl_loaded():
    """Whether this process has loaded Paddle's MKL-ML yet (paddle loads it at its first GEMM, not
    on import); where the loaded libraries cannot be listed, whether paddle is imported."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            return any("libmklml" in line for line in f)
    except OSError:
        return "paddle" in sys.modules


def prefer_fast_mkl():
    """Set MKL_DEBUG_CPU_TYPE=5 on AMD CPUs with AVX2 unless the user set it (see the module doc).
    Returns True when it set it now. Once MKL is loaded it is too late: then warn once."""
    info = cpu()
    if info["vendor"] != "AuthenticAMD" or "avx2" not in info["flags"] or MKL_CPU_TYPE in os.environ:
        return False
    if _mkl_loaded():
        if not _warned:
            _warned.append(True)
            warnings.warn(
                "Paddle's MKL was loaded before paddle_electra was imported, "
                "so it runs its slow generic code "
                f"on this AMD CPU (its GEMMs 2-3x slower): set {MKL_CPU_TYPE}={MKL_AVX2} in the environment, "
                f"or import paddle_electra before running anything in paddle",
                RuntimeWarning,
                stacklevel=2,
            )
        return False
    os.environ[MKL_CPU_TYPE] = MKL_AVX2
    return True


def cpu_count():
    """Cores this process may run on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def gpu_visible():
    """Paddle has CUDA and sees a device (imports paddle)."""
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
