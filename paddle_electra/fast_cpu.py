"""Faster fine-tuning on CPU (issue #6), used by `finetune.finetune(..., fast_cpu=True)`, the default.

Two measured causes of slow Paddle dygraph training on CPU, and what this module does about them
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
"""
import contextlib
import os

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer


def cpu_count():
    """Cores this process may run on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_all_cores(threads=None):
    """Set Paddle's CPU math threads (OpenMP and MKL) to `threads` (default: every usable core)."""
    threads = threads or cpu_count()
    paddle.base.core.set_num_threads(threads)
    return threads


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
        dw = None if weight.stop_gradient else paddle.matmul(x.reshape([-1, x.shape[-1]]), dy2, transpose_x=True)
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
