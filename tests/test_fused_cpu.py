"""The fused CPU training kernels (paddle_electra/fused_cpu.c): the same function and gradients as
Paddle's own layers, dropout masks that follow the documented generator and Paddle's seed."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_electra.fused_cpu import (
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
    layer = paddle.nn.TransformerEncoderLayer(hidden, heads, ff, dropout=dropout, activation="gelu",
                                              attn_dropout=dropout, act_dropout=0, layer_norm_eps=1e-12)
    for p in layer.parameters():  # LayerNorm weights away from 1 and 0, biases away from 0
        p.set_value(p + paddle.randn(p.shape) * 0.05)
    layer.train()
    return layer


@pytest.mark.parametrize("hidden, heads, ff", [(256, 4, 1024), (40, 4, 72)])  # 40, 72: widths not multiples of 16
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
        scale = max(np.abs(g).max() for g in plain_grads)  # a key bias's true gradient is 0: compare to the others
        np.testing.assert_allclose(b, a, atol=2e-6 * scale, err_msg=name)
    assert "forward" not in layer.__dict__  # an ordinary layer again


def test_softmax_dropout_follows_the_documented_mask():
    rng = np.random.RandomState(0)
    scores = tensor(rng.randn(2, 3, 5, 7) * 3)
    mask = np.where(rng.rand(2, 7) < 0.3, -10000.0, 0.0)
    dout = rng.randn(2, 3, 5, 7)
    p, seed = 0.25, 0x1234ABCD5678EF01
    out = SoftmaxDropout.apply(scores, tensor(mask, grad=False), p, seed)
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
    out = ResidualLayerNorm.apply(y, bias, residual, gamma, beta, p, seed, 1e-12)
    got = grads(out, inputs, weight)

    keep = tensor(keep_mask(seed, y.size, p).reshape(y.shape), grad=False)
    expected = F.layer_norm(residual + (y + bias) * keep / (1 - p), [24], gamma, beta, 1e-12)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=2e-6)
    for a, b in zip(got, grads(expected, inputs, weight)):
        np.testing.assert_allclose(a, b, atol=2e-5)

    out = LayerNormDropout.apply(y, gamma, beta, p, seed, 1e-12)  # the embeddings: LayerNorm, then dropout
    got = grads(out, [y, gamma, beta], weight)
    expected = F.layer_norm(y, [24], gamma, beta, 1e-12) * keep / (1 - p)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=2e-6)
    for a, b in zip(got, grads(expected, [y, gamma, beta], weight)):
        np.testing.assert_allclose(a, b, atol=2e-5)

    x = tensor(rng.randn(5, 33) * 2)
    gelu = BiasGelu.apply(x, bias[:1].tile([33]))
    got = grads(gelu, [x], weight.reshape([-1])[:165].reshape([5, 33]))
    expected = F.gelu(x + bias[:1].tile([33]))  # exact (erf) GELU
    np.testing.assert_allclose(gelu.numpy(), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(got[0], grads(expected, [x], weight.reshape([-1])[:165].reshape([5, 33]))[0], atol=1e-6)


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
    import paddle_electra.fused_cpu as fused_cpu

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
    from paddle_electra.fused_cpu import fusable

    kwargs = dict(dropout=0.1, activation="gelu", act_dropout=0)
    assert fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs))
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs, normalize_before=True))  # pre-LN
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, **kwargs, bias_attr=False))
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="relu", act_dropout=0))
    assert not fusable(paddle.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="gelu", act_dropout=0.1))
