"""Faster training on CPU, used by `finetune.finetune(..., fast_cpu=True)` and
`pretraining.pretrain`, the default.

Four measured causes of slow Paddle dygraph training on CPU, and what this module does about them
(numbers: LTP-tiny, batch 32 x 128, 2 cores; docs/benchmarks.md "Fine-tuning speed"):

- Threads: Paddle sets OMP_NUM_THREADS=1 when it is unset, so it computes on one core.
  `use_all_cores()` sets the math threads (OpenMP + MKL) to the cores this process may use, at run
  time through `paddle.base.core.set_num_threads`, so it also works after paddle was imported.
- Bias gradients: Paddle's CPU `add_grad` reduces a [tokens, out] gradient to the bias's [out] with
  a slow single-threaded reduction (sum over 4096 x 1024: ~31 ms against ~0.4 ms as a GEMM). While
  training, `fast_linear_backward(net)` makes every `nn.Linear` with a bias compute its bias
  gradient as ones[1, tokens] @ dy (one GEMM); the forward and the other two gradients are the
  same kernels as before, and the parameters are untouched, so saving and evaluation see the
  ordinary layers.
- Page faults: a training step allocates and frees the same large activations again and again.
  glibc returns freed memory above 128 KiB to the system and maps it again on the next
  allocation, so every new [tokens, 1024] output is page-faulted in (a [4096, 256] x [256, 1024]
  GEMM, forward + backward: 38 ms, 24 ms without that; benchmarks/bench_train_step.py).
  `keep_freed_memory()` makes glibc keep freed memory for reuse (`mallopt`: trim threshold
  1 GiB, mmap threshold 32 MiB); the process's peak memory stays as it was, but freed memory is
  not handed back while training runs.
- Element-wise kernels: Paddle's CPU GELU, dropout, softmax, LayerNorm, bias adds and head
  transposes run on one thread without SIMD and take most of a step. `fused_cpu.py` computes
  everything between the GEMMs of each Transformer layer in a few fused, multi-threaded C passes.
- MKL on AMD CPUs: Paddle's MKL-ML runs its slow generic GEMMs on non-Intel CPUs unless
  MKL_DEBUG_CPU_TYPE=5 is set before it loads; `import paddle_electra` sets it on AMD CPUs
  (`cpuinfo.prefer_fast_mkl`), and `fast_training` warns when it came too late.

`fast_training(net, threads)` applies all of them for the duration of the block only: on exit the
layers are Paddle's again, Paddle's math threads are what they were, and glibc's thresholds are
back at its defaults (128 KiB; glibc's own adjustment of the mmap threshold stays off) with the
kept memory handed back (`malloc_trim`), so a process that trains once returns memory as before.
It changes nothing for a model that is not on the CPU; on platforms without glibc (Windows,
macOS, musl) it only sets the threads, and without the compiled kernels it skips the fused layers.
"""

import contextlib
import ctypes
import logging
import os
import platform
import sys

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from paddle_electra.training.fused_cpu import fused_encoder_layers
from paddle_electra.utils.cpuinfo import cpu_count, prefer_fast_mkl

logger = logging.getLogger(__name__)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
GLIBC_DEFAULT_THRESHOLD = 128 * 1024


def on_cpu(net):
    """Whether Paddle computes on the CPU and every parameter of `net` is there."""
    return paddle.get_device() == "cpu" and all(p.place.is_cpu_place() for p in net.parameters())


@contextlib.contextmanager
def fast_training(net, threads=None):
    """Train `net` fast on CPU within the block: `threads` math threads (default: every usable
    core), bias gradients as GEMMs, fused Transformer layers; everything is as before on exit.
    Yields (threads, fused layers), or (None, 0) without any change where `net` is not on the CPU."""
    if not on_cpu(net):
        logger.info("fast CPU training off: the model is not on the CPU")
        yield None, 0
        return
    prefer_fast_mkl()  # normally done on import already; warns if MKL was loaded before that was possible
    with math_threads(threads or cpu_count()) as threads, freed_memory_kept(), fast_linear_backward(
        net
    ), fused_encoder_layers(net, threads) as fused:
        yield threads, fused


def current_math_threads():
    """Paddle's CPU math threads now: the maximum of the OpenMP runtime Paddle uses (its libiomp5,
    else GNU OpenMP), or $OMP_NUM_THREADS (which Paddle sets to 1 on import when unset)."""
    libs = os.path.join(os.path.dirname(paddle.__file__), "libs")
    for name in (os.path.join(libs, "libiomp5.so"), "libiomp5.so", "libgomp.so.1"):
        try:
            return int(ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 0)).omp_get_max_threads())
        except (OSError, AttributeError, TypeError):
            continue
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def use_all_cores(threads=None):
    """Set Paddle's CPU math threads (OpenMP and MKL) to `threads` (default: every usable core),
    for the rest of the process (`math_threads` sets them for a block)."""
    threads = threads or cpu_count()
    paddle.base.core.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def math_threads(threads):
    """Paddle's CPU math threads set to `threads` within the block, restored on exit."""
    before = current_math_threads()
    try:
        yield use_all_cores(threads)
    finally:
        paddle.base.core.set_num_threads(before)


def _glibc():
    """The C library through ctypes where it is glibc (mallopt, malloc_trim), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: ctypes.CDLL(None) on Windows
        return None


def keep_freed_memory():
    """Have glibc's malloc keep freed memory for reuse instead of unmapping it (see above), for the
    rest of the process (`freed_memory_kept` does it for a block); False where the C library is not glibc."""
    libc = _glibc()
    try:
        return bool(
            libc and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        )
    except AttributeError:
        return False


@contextlib.contextmanager
def freed_memory_kept():
    """`keep_freed_memory()` within the block; on exit glibc's default thresholds again, and the
    memory kept meanwhile handed back to the system."""
    kept = keep_freed_memory()
    try:
        yield kept
    finally:
        if kept:
            libc = _glibc()
            libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.malloc_trim(0)


class LinearBiasGemm(PyLayer):
    """y = x @ w + b, with db = ones @ dy as a GEMM instead of Paddle's CPU reduction kernel."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensor()
        out = dy.shape[-1]
        dy2 = dy.reshape([-1, out])
        dx = None if x.stop_gradient else paddle.matmul(dy, weight, transpose_y=True)
        dw = (
            None
            if weight.stop_gradient
            else paddle.matmul(x.reshape([-1, x.shape[-1]]), dy2, transpose_x=True)
        )
        ones = paddle.ones([1, dy2.shape[0]], dtype=dy.dtype)
        return dx, dw, paddle.matmul(ones, dy2).reshape([out])


@contextlib.contextmanager
def fast_linear_backward(net):
    """Within the block, every nn.Linear of `net` with a trainable bias uses LinearBiasGemm."""
    patched = []
    for layer in net.sublayers(include_self=True):
        if isinstance(layer, paddle.nn.Linear) and layer.bias is not None and not layer.bias.stop_gradient:
            layer.forward = _gemm_forward(layer)
            patched.append(layer)
    try:
        yield len(patched)
    finally:
        for layer in patched:
            del layer.forward  # back to nn.Linear.forward


def _gemm_forward(layer):
    def forward(x):
        return LinearBiasGemm.apply(x, layer.weight, layer.bias)

    return forward
