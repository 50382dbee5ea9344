"""The fused CPU training kernels (paddle_electra/fused_cpu.c): the same function and gradients as
Paddle's own layers, dropout masks that follow the documented generator and Paddle's seed."""

import contextlib
import ctypes
import subprocess
import sys

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_electra.training.fused_cpu import (
    BiasGelu,
    LayerNormDropout,
    ResidualLayerNorm,
    SoftmaxDropout,
    fused_encoder_layers,
    kernels,
)


def keep_mask(seed, n, p):
    """The kernels' dropout mask in numpy: keep element i where splitmix64's finalizer of
    seed ^ ((i + 1) * golden) has high 32 bits >= p * 2^32."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) ^ (i * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        high = (z ^ (z >> np.uint64(31))) >> np.uint64(32)
    return high >= np.uint64(min(int(float(np.float32(p)) * 2**32), 2**32 - 1))


def tensor(array, grad=True):
    t = paddle.to_tensor(np.asarray(array, dtype="float32"))
    t.stop_gradient = not grad
    return t


def grads(out, inputs, weight):
    """d(sum(out * weight)) / d(inputs), as numpy."""
    (out * weight).sum().backward()
    result = [t.grad.numpy().copy() for t in inputs]
    for t in inputs:
        t.clear_gradient()
    return result


def test_the_kernels_build_here():
    assert kernels() is not None  # CI has a C compiler: the fast path must really be tested


def random_layer(hidden, heads, ff, dropout):
    layer = paddle.nn.TransformerEncoderLayer(
        hidden,
        heads,
        ff,
        dropout=dropout,
        activation="gelu",
        attn_dropout=dropout,
        act_dropout=0,
        layer_norm_eps=1e-12,
    )
    for p in layer.parameters():  # LayerNorm weights away from 1 and 0, biases away from 0
        p.set_value(p + paddle.randn(p.shape) * 0.05)
    layer.train()
    return layer


@pytest.mark.parametrize(
    "hidden, heads, ff", [(256, 4, 1024), (40, 4, 72)]
)  # 40, 72: widths not multiples of 16
def test_fused_layer_equals_paddles_layer_with_gradients(hidden, heads, ff):
    paddle.seed(3)
    layer = random_layer(hidden, heads, ff, dropout=0.0)
    lengths = [37, 20, 5, 30]
    x = tensor(np.random.RandomState(0).randn(4, 37, hidden))
    keep = (np.arange(37)[None, :] < np.array(lengths)[:, None]).astype("float32")
    key_mask = tensor((1 - keep) * -10000.0, grad=False).unsqueeze([1, 2])
    weight = tensor(np.random.RandomState(1).randn(4, 37, hidden), grad=False)
    params = [x] + list(layer.parameters())
    out = layer(x, key_mask)
    plain, plain_grads = out.numpy(), grads(out, params, weight)
    with fused_encoder_layers(layer, threads=2) as n:
        out = layer(x, key_mask)
        fast, fast_grads = out.numpy(), grads(out, params, weight)
    assert n == 1
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    for (name, _), a, b in zip([("x", x)] + list(layer.named_parameters()), plain_grads, fast_grads):
        scale = max(
            np.abs(g).max() for g in plain_grads
        )  # a key bias's true gradient is 0: compare to the others
        np.testing.assert_allclose(b, a, atol=2e-6 * scale, err_msg=name)
    assert "forward" not in layer.__dict__  # an ordinary layer again


@pytest.mark.parametrize("fused", [False, True])
def test_first_position_output_equals_the_layers_first_row_with_gradients(fused):
    """What ElectraForSequenceClassification's last layer computes: [CLS] alone, the same values
    and gradients (to every input position and parameter) as the whole layer cut to row 0."""
    from paddle_electra.models.modeling import first_position_output

    paddle.seed(4)
    layer = random_layer(40, 4, 72, dropout=0.0)
    x = tensor(np.random.RandomState(2).randn(3, 9, 40))
    keep = (np.arange(9)[None, :] < np.array([9, 4, 6])[:, None]).astype("float32")
    key_mask = tensor((1 - keep) * -10000.0, grad=False).unsqueeze([1, 2])
    weight = tensor(np.random.RandomState(3).randn(3, 1, 40), grad=False)
    params = [x] + list(layer.parameters())
    out = layer(x, key_mask)[:, :1]
    whole, whole_grads = out.numpy(), grads(out, params, weight)
    with fused_encoder_layers(layer, threads=2) if fused else contextlib.nullcontext():
        assert ("fused_first_position" in layer.__dict__) == fused
        out = first_position_output(layer, x, key_mask)
        first, first_grads = out.numpy(), grads(out, params, weight)
    assert first.shape == (3, 1, 40)
    np.testing.assert_allclose(first, whole, atol=1e-5)
    scale = max(np.abs(g).max() for g in whole_grads)
    for (name, _), a, b in zip([("x", x)] + list(layer.named_parameters()), whole_grads, first_grads):
        np.testing.assert_allclose(b, a, atol=2e-6 * scale, err_msg=name)
    assert "fused_first_position" not in layer.__dict__


def test_softmax_dropout_follows_the_documented_mask():
    rng = np.random.RandomState(0)
    scores = tensor(rng.randn(2, 3, 5, 7) * 3)
    mask = np.where(rng.rand(2, 7) < 0.3, -10000.0, 0.0)
    dout = rng.randn(2, 3, 5, 7)
    p, seed = 0.25, 0x1234ABCD5678EF01
    out = SoftmaxDropout.apply(scores, tensor(mask, grad=False), p, seed, 2)
    (got,) = grads(out, [scores], tensor(dout, grad=False))

    keep = tensor(keep_mask(seed, scores.size, p).reshape(scores.shape), grad=False)
    expected = F.softmax(scores + tensor(mask[:, None, None, :], grad=False), -1) * keep / (1 - p)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-6)
    (want,) = grads(expected, [scores], tensor(dout, grad=False))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_layer_norms_with_dropout_and_bias_gelu_equal_paddle():
    rng = np.random.RandomState(1)
    y, bias, residual = tensor(rng.randn(3, 4, 24)), tensor(rng.randn(24)), tensor(rng.randn(3, 4, 24))
    gamma, beta = tensor(1 + 0.1 * rng.randn(24)), tensor(0.1 * rng.randn(24))
    weight = tensor(rng.randn(3, 4, 24), grad=False)
    inputs = [y, bias, residual, gamma, beta]
    p, seed = 0.4, 987654321
    out = ResidualLayerNorm.apply(y, bias, residual, gamma, beta, p, seed, 1e-12, 2)
    got = grads(out, inputs, weight)

    keep = tensor(keep_mask(seed, y.size, p).reshape(y.shape), grad=False)
    expected = F.layer_norm(residual + (y + bias) * keep / (1 - p), [24], gamma, beta, 1e-12)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=2e-6)
    for a, b in zip(got, grads(expected, inputs, weight)):
        np.testing.assert_allclose(a, b, atol=2e-5)

    out = LayerNormDropout.apply(y, gamma, beta, p, seed, 1e-12, 2)  # the embeddings: LayerNorm, then dropout
    got = grads(out, [y, gamma, beta], weight)
    expected = F.layer_norm(y, [24], gamma, beta, 1e-12) * keep / (1 - p)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=2e-6)
    for a, b in zip(got, grads(expected, [y, gamma, beta], weight)):
        np.testing.assert_allclose(a, b, atol=2e-5)

    x = tensor(rng.randn(5, 33) * 2)
    gelu = BiasGelu.apply(x, bias[:1].tile([33]), 2)
    got = grads(gelu, [x], weight.reshape([-1])[:165].reshape([5, 33]))
    expected = F.gelu(x + bias[:1].tile([33]))  # exact (erf) GELU
    np.testing.assert_allclose(gelu.numpy(), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        got[0], grads(expected, [x], weight.reshape([-1])[:165].reshape([5, 33]))[0], atol=1e-6
    )


def test_dropout_rate_and_seeding():
    keep = keep_mask(42, 1_000_000, 0.1)
    assert abs(keep.mean() - 0.9) < 0.002
    assert (keep != keep_mask(43, 1_000_000, 0.1)).mean() > 0.15  # another seed, another mask
    layer = random_layer(32, 2, 64, dropout=0.1)
    x = tensor(np.random.RandomState(0).randn(2, 9, 32), grad=False)
    outs = []
    for reseed in (True, True, False):
        if reseed:
            paddle.seed(7)
        with fused_encoder_layers(layer, threads=2):
            outs.append((layer(x), layer(x)))
    assert np.array_equal(outs[0][0].numpy(), outs[1][0].numpy())  # paddle.seed repeats the masks
    assert not np.allclose(outs[0][0].numpy(), outs[0][1].numpy())  # each call draws new masks
    assert not np.allclose(outs[0][0].numpy(), outs[2][0].numpy())
    layer.eval()
    with fused_encoder_layers(layer, threads=2):  # evaluation: Paddle's own forward, no dropout
        np.testing.assert_array_equal(layer(x).numpy(), type(layer).forward(layer, x).numpy())


def test_without_a_compiler_training_falls_back_to_paddles_layers(monkeypatch, tmp_path, caplog):
    import paddle_electra.training.fused_cpu as fused_cpu

    monkeypatch.setenv("PATH", str(tmp_path))  # no `cc`
    monkeypatch.setenv("PADDLE_ELECTRA_CACHE", str(tmp_path))  # and no kernels built before
    fused_cpu.kernels.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert fused_cpu.kernels() is None
        assert "fused CPU kernels unavailable" in caplog.text
        layer = random_layer(32, 2, 64, dropout=0.0)
        x = tensor(np.random.RandomState(0).randn(2, 9, 32), grad=False)
        with fused_encoder_layers(layer, threads=2) as n:
            assert n == 0
            np.testing.assert_array_equal(layer(x).numpy(), type(layer).forward(layer, x).numpy())
    finally:
        fused_cpu.kernels.cache_clear()


def test_layers_the_kernels_do_not_compute_exactly_are_left_alone():
    from paddle_electra.training.fused_cpu import fusable

    kwargs = dict(dropout=0.1, activation="gelu", act_dropout=0)
    assert fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs))
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs, normalize_before=True))  # pre-LN
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs, bias_attr=False))
    assert not fusable(
        paddle.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="relu", act_dropout=0)
    )
    assert not fusable(
        paddle.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="gelu", act_dropout=0.1)
    )


def _layer_grads(layer, threads, steps=2):
    """Parameter gradients of `steps` fused training steps (no dropout), each a list of arrays."""
    x = tensor(
        np.random.RandomState(5).randn(6, 21, 40)
    )  # an input with a gradient, as the embeddings output
    weight = tensor(np.random.RandomState(6).randn(6, 21, 40), grad=False)
    with fused_encoder_layers(layer, threads=threads):
        return [grads(layer(x), list(layer.parameters()), weight) for _ in range(steps)]


def test_two_trainers_with_different_thread_counts_share_the_process():
    """Column sums (bias, gamma, beta gradients) are added per thread, so their float rounding shows
    which thread count computed them: each trainer keeps its own while another runs beside it."""
    paddle.seed(11)
    one, three = random_layer(40, 4, 72, dropout=0.0), random_layer(40, 4, 72, dropout=0.0)
    alone_one, alone_three = _layer_grads(one, 1), _layer_grads(three, 3)
    assert any(
        not np.array_equal(a, b) for a, b in zip(alone_one[0], _layer_grads(one, 3)[0])
    )  # the count shows
    x = tensor(
        np.random.RandomState(5).randn(6, 21, 40)
    )  # an input with a gradient, as the embeddings output
    weight = tensor(np.random.RandomState(6).randn(6, 21, 40), grad=False)
    together_one, together_three = [], []
    with fused_encoder_layers(one, threads=1):
        together_one.append(grads(one(x), list(one.parameters()), weight))
        with fused_encoder_layers(three, threads=3):  # a second trainer starts while the first is training
            together_three.append(grads(three(x), list(three.parameters()), weight))
            together_one.append(grads(one(x), list(one.parameters()), weight))
        together_three.append(_layer_grads(three, 3, steps=1)[0])
    for alone, together in ((alone_one, together_one), (alone_three, together_three)):
        for step_alone, step_together in zip(alone, together):
            for a, b in zip(step_alone, step_together):
                np.testing.assert_array_equal(a, b)


def test_the_kernels_check_their_allocations():
    floats = (ctypes.c_float * 4)()
    with pytest.raises(MemoryError, match="gelu_bwd"):  # per-thread sums of 2^60 floats cannot be allocated
        kernels().gelu_bwd(1 << 20, floats, floats, floats, floats, 0, 1 << 40)


@pytest.fixture
def fresh_kernels(monkeypatch, tmp_path):
    import paddle_electra.training.fused_cpu as fused_cpu

    monkeypatch.setenv("PADDLE_ELECTRA_CACHE", str(tmp_path))  # no kernels built before
    fused_cpu.kernels.cache_clear()
    yield fused_cpu
    fused_cpu.kernels.cache_clear()


def test_a_compiler_that_hangs_is_stopped(fresh_kernels, monkeypatch, tmp_path, caplog):
    import time

    slow = tmp_path / "slow-cc"
    slow.write_text("#!/bin/sh\nsleep 60\n")
    slow.chmod(0o755)
    monkeypatch.setenv("CC", str(slow))
    monkeypatch.setattr(fresh_kernels, "COMPILE_TIMEOUT", 1)
    start = time.monotonic()
    with caplog.at_level("WARNING"):
        assert fresh_kernels.kernels() is None
    assert time.monotonic() - start < 30
    assert "fused CPU kernels unavailable" in caplog.text and "timed out" in caplog.text


def test_unsupported_platforms_fall_back_without_building(fresh_kernels, monkeypatch, caplog):
    import subprocess

    from paddle_electra.training import fast_cpu

    def no_compiler(*args, **kwargs):
        raise AssertionError("nothing is compiled on an unsupported platform")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    monkeypatch.setattr(sys, "platform", "win32")
    with caplog.at_level("WARNING"):
        assert fresh_kernels.kernels() is None
    assert "need Linux with glibc" in caplog.text
    assert fast_cpu.keep_freed_memory() is False


def test_windows_ctypes_without_a_c_library_falls_back(monkeypatch):
    """On Windows `ctypes.CDLL(None)` raises TypeError: training goes on without the malloc settings."""
    from paddle_electra.training import fast_cpu

    def windows_cdll(name, *args, **kwargs):
        if name is None:
            raise TypeError("expected str, bytes or os.PathLike object, not NoneType")
        return real(name, *args, **kwargs)

    real = ctypes.CDLL
    monkeypatch.setattr(ctypes, "CDLL", windows_cdll)
    assert fast_cpu.keep_freed_memory() is False
    layer = random_layer(40, 4, 72, dropout=0.0)
    with fast_cpu.fast_training(layer, threads=2) as (threads, fused):
        assert (threads, fused) == (2, 1)


def test_fast_training_changes_nothing_off_the_cpu(monkeypatch):
    from paddle_electra.training import fast_cpu

    layer = random_layer(40, 4, 72, dropout=0.0)
    before = fast_cpu.current_math_threads()
    monkeypatch.setattr(paddle, "get_device", lambda: "gpu:0")
    with fast_cpu.fast_training(layer, threads=before + 1) as how:
        assert how == (None, 0)
        assert fast_cpu.current_math_threads() == before
        assert "forward" not in layer.__dict__ and not any(
            "forward" in sub.__dict__ for sub in layer.sublayers()
        )


MALLOC_CHECK = """
import ctypes, os, paddle
from paddle_electra.training import fast_cpu

# Paddle's OpenMP runtime
omp = ctypes.CDLL(os.path.join(os.path.dirname(paddle.__file__), "libs", "libiomp5.so"))


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]


def mapped(size):  # whether glibc serves a malloc of `size` bytes with its own mapping, handed back on free
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    result = libc.mallinfo2().hblks > before
    libc.free(block)
    return result


layer = paddle.nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, activation="gelu", act_dropout=0)
with fast_cpu.fast_training(layer, threads=2) as (threads, _):
    inside = (omp.omp_get_max_threads(), mapped(8 << 20))
    layer(paddle.randn([2, 5, 32])).sum().backward()
print(inside, (omp.omp_get_max_threads(), mapped(8 << 20)))
"""


def test_fast_training_leaves_threads_and_malloc_as_they_were():
    """finetune() and pretrain() train inside fast_training: a process that trains once gets Paddle's
    thread count (1 by default) and glibc's return of freed memory back (a fresh process, so that no
    earlier test's free memory serves the allocation)."""
    out = subprocess.run([sys.executable, "-c", MALLOC_CHECK], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        out.stdout.split("\n")[-2] == "(2, False) (1, True)"
    )  # inside: 2 threads, memory kept; after: as before


def test_inputs_without_gradients_train():
    """Frozen inputs (stop_gradient, e.g. frozen embeddings) and no attention mask: Paddle's gradients."""
    paddle.seed(4)
    layer = random_layer(40, 4, 72, dropout=0.0)
    x = tensor(np.random.RandomState(0).randn(3, 11, 40), grad=False)
    weight = tensor(np.random.RandomState(1).randn(3, 11, 40), grad=False)
    plain = grads(layer(x), list(layer.parameters()), weight)
    with fused_encoder_layers(layer, threads=2):
        fast = grads(layer(x), list(layer.parameters()), weight)
    for a, b in zip(plain, fast):
        np.testing.assert_allclose(b, a, atol=2e-6 * max(np.abs(g).max() for g in plain))
