"""Fused CPU training of the encoder's Transformer layers: fused_cpu.c compiled once per machine,
called through ctypes from Paddle `PyLayer`s (autograd), used by `fast_cpu.fast_training`.

Within `fused_encoder_layers(net)`, every post-LN, exact-GELU `nn.TransformerEncoderLayer` of `net`
computes, in training mode:

    q, k, v = split_heads(x @ [Wq Wk Wv], [bq bk bv])     # one GEMM; q scaled by 1 / sqrt(head size)
    context = merge_heads(softmax_dropout(q @ k^T, key_mask) @ v)
    h = residual_ln(context @ Wo, bo, x)                # LayerNorm(x + dropout(context @ Wo + bo))
    out = residual_ln(bias_gelu(h @ W1, b1) @ W2, b2, h)

and the embeddings' LayerNorm + dropout is one `ln_dropout` pass. That is the same function as
Paddle's layers (equal to float rounding without dropout; dropout masks come from the kernels' own
counter-based generator, seeded from Paddle's, so `paddle.seed` makes runs repeat). The GEMMs stay
Paddle's; everything between them is one multi-threaded, vectorized C pass. Parameters are
untouched and the layers are restored on exit.

The kernels need Linux with glibc (libmvec), on x86-64 or aarch64, and a C compiler with OpenMP
($CC, default `cc`; compiling may take COMPILE_TIMEOUT seconds at most). `kernels()` is None
elsewhere or where building fails, and the layers then train with Paddle's own kernels (with a
warning). PADDLE_ELECTRA_FUSED_KERNELS=0 turns them off. Each call passes its thread count, so
trainers with different counts may share a process.
"""

import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import platform
import subprocess
import sys
import tempfile

import paddle
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from paddle_electra.utils.cache import cache_dir, touch
from paddle_electra.utils.cpuinfo import cpu

logger = logging.getLogger(__name__)
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fused_cpu.c")
CFLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC"]
COMPILE_TIMEOUT = 300  # seconds for each compiler call; the kernels are off when it runs longer
MAX_THREADS = 256


def link_flags():
    """Link against the OpenMP runtime Paddle's MKL uses (its bundled libiomp5, which also serves
    GCC's GOMP_* calls) so the kernels share MKL's threads. With a second runtime, MKL's threads
    spin for 200 ms after every GEMM while the kernels' own threads wait for the cores (the
    kernels ran ~10x slower in a training step). libgomp where Paddle has no libiomp5."""
    libs = os.path.join(os.path.dirname(paddle.__file__), "libs")
    omp = (
        ["-fopenmp"]
        if not os.path.exists(os.path.join(libs, "libiomp5.so"))
        else [f"-L{libs}", "-l:libiomp5.so", f"-Wl,-rpath,{libs}"]
    )
    return ["-shared", *omp, "-lmvec", "-lm"]


_INT, _I64, _PTR, _F32 = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
# name: (argument types after the leading thread count, whether it allocates and returns a status)
SIGNATURES = {
    "split_heads": ([_PTR] * 5 + [_I64] * 5 + [_F32], False),
    "merge_heads": ([_PTR] * 5 + [_I64] * 5 + [_F32], True),
    "softmax_fwd": ([_PTR] * 5 + [_I64] * 3 + [_F32, ctypes.c_uint64], False),
    "softmax_bwd": ([_PTR] * 4 + [_I64] * 2 + [_F32], False),
    "bias_gelu_fwd": ([_PTR] * 4 + [_I64] * 2, False),
    "gelu_bwd": ([_PTR] * 4 + [_I64] * 2, True),
    "residual_ln_fwd": ([_PTR] * 9 + [_I64] * 2 + [_F32, ctypes.c_uint64, _F32], False),
    "residual_ln_bwd": ([_PTR] * 10 + [_I64] * 2 + [_F32], True),
    "ln_dropout_fwd": ([_PTR] * 7 + [_I64] * 2 + [_F32, ctypes.c_uint64, _F32], False),
    "ln_dropout_bwd": ([_PTR] * 8 + [_I64] * 2 + [_F32], True),
}


def _check_status(status, func, args):
    if status != 0:
        raise MemoryError(f"fused CPU kernel {func.__name__}: out of memory for its per-thread sums")
    return status


def compiler():
    return os.environ.get("CC") or "cc"


def supported_platform():
    """Whether the kernels can work here at all: Linux, glibc, x86-64 or aarch64."""
    return (
        sys.platform.startswith("linux")
        and platform.libc_ver()[0] == "glibc"
        and platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")
    )


def build(out_dir):
    """Compile fused_cpu.c into `out_dir`/fused_cpu.so (atomically); returns the path."""
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "fused_cpu.so")
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        obj = tmp[:-3] + ".o"
        try:
            for args in ([*CFLAGS, "-c", SOURCE, "-o", obj], [obj, "-o", tmp, *link_flags()]):
                subprocess.run(
                    [compiler(), *args], check=True, capture_output=True, text=True, timeout=COMPILE_TIMEOUT
                )
        finally:
            if os.path.exists(obj):
                os.remove(obj)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


@functools.lru_cache(maxsize=None)
def kernels():
    """The compiled kernels (ctypes library), built on first use into <cache>/kernels/<hash of the
    source, flags, compiler and CPU>; None, with a warning, where they cannot be built or loaded."""
    if os.environ.get("PADDLE_ELECTRA_FUSED_KERNELS", "1") == "0":
        logger.info("fused CPU kernels off (PADDLE_ELECTRA_FUSED_KERNELS=0)")
        return None
    if not supported_platform():
        logger.warning(
            "fused CPU kernels need Linux with glibc on x86-64 or aarch64 (this is %s, %s): training uses "
            "Paddle's kernels",
            sys.platform,
            platform.machine(),
        )
        return None
    try:
        version = subprocess.run(
            [compiler(), "--version"], capture_output=True, text=True, check=True, timeout=COMPILE_TIMEOUT
        ).stdout
        with open(
            SOURCE, "rb"
        ) as f:  # -march=native: a cache shared by several machines needs the CPU in the key
            key = hashlib.sha1(
                f.read()
                + " ".join(CFLAGS + link_flags()).encode()
                + version.encode()
                + " ".join([cpu()["model"], *sorted(cpu()["flags"])]).encode()
            ).hexdigest()[:16]
        path = os.path.join(cache_dir(), "kernels", key, "fused_cpu.so")
        if not os.path.exists(path):
            logger.info("compiling the fused CPU training kernels (once) ...")
            build(os.path.dirname(path))
        lib = ctypes.CDLL(path)
        touch(os.path.dirname(path))  # used now (`paddle-electra cache list`)
    except (
        OSError,
        subprocess.SubprocessError,
    ) as e:  # no compiler, a failed or timed-out build, a bad library
        detail = getattr(e, "stderr", "") or str(e)
        logger.warning(
            "fused CPU kernels unavailable, training uses Paddle's kernels: %s", detail.strip()[:300]
        )
        return None
    for name, (argtypes, allocates) in SIGNATURES.items():
        func = getattr(lib, name)
        func.argtypes = [_INT, *argtypes]
        func.restype = _INT if allocates else None
        if allocates:
            func.errcheck = _check_status
    return lib


def _ptr(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _dense(t):
    """`t` contiguous (gradients from Paddle usually are already); the kernels need dense rows."""
    return t if t.is_contiguous() else t.contiguous()


def _empty(shape, dtype="float32"):
    return paddle.empty(shape, dtype=dtype)


def _rows(t):
    """(rows, width) of `t` seen as a matrix over its last axis."""
    return t.size // t.shape[-1], t.shape[-1]


def _trainable(ctx, *inputs):
    """Remember which tensor inputs (None: absent) take a gradient: Paddle wants None for the others."""
    ctx.trainable = [not t.stop_gradient for t in inputs if t is not None]


def _gradients(ctx, *grads):
    """The backward's return value: `grads` (one per tensor input), None where no gradient is taken."""
    out = tuple(g if keep else None for g, keep in zip(grads, ctx.trainable))
    return out if len(out) > 1 else out[0]


def _parts(tensors):
    """Up to three tensor pointers, padded with NULLs."""
    return [_ptr(t) for t in tensors] + [None] * (3 - len(tensors))


class SplitHeads(PyLayer):
    """x [B, L, P*H*D] (P = 1..3 projections side by side, e.g. q, k, v from one GEMM) ->
    P tensors [B, H, L, D] of (x + bias), the first times `scale`."""

    @staticmethod
    def forward(ctx, x, bias, parts, heads, scale, threads):
        B, L, width = x.shape
        D = width // (parts * heads)
        outs = [_empty([B, heads, L, D]) for _ in range(parts)]
        kernels().split_heads(threads, _ptr(x), _ptr(bias), *_parts(outs), parts, B, L, heads, D, scale)
        ctx.dims, ctx.threads = (parts, B, L, heads, D, scale), threads
        _trainable(ctx, x, bias)
        return tuple(outs) if parts > 1 else outs[0]

    @staticmethod
    def backward(ctx, *douts):
        P, B, L, H, D, scale = ctx.dims
        dx, dbias = _empty([B, L, P * H * D]), _empty([P * H * D])
        kernels().merge_heads(
            ctx.threads, *_parts([_dense(d) for d in douts]), _ptr(dx), _ptr(dbias), P, B, L, H, D, scale
        )
        return _gradients(ctx, dx, dbias)


class MergeHeads(PyLayer):
    """[B, H, L, D] -> [B, L, H*D]."""

    @staticmethod
    def forward(ctx, x, threads):
        B, H, L, D = x.shape
        out = _empty([B, L, H * D])
        kernels().merge_heads(threads, *_parts([x]), _ptr(out), None, 1, B, L, H, D, 1.0)
        ctx.dims, ctx.threads = (B, L, H, D), threads
        _trainable(ctx, x)
        return out

    @staticmethod
    def backward(ctx, dout):
        B, L, H, D = ctx.dims
        dx = _empty([B, H, L, D])
        kernels().split_heads(ctx.threads, _ptr(_dense(dout)), None, *_parts([dx]), 1, B, L, H, D, 1.0)
        return _gradients(ctx, dx)


class SoftmaxDropout(PyLayer):
    """dropout(softmax(scores + key_mask)) over the last axis; scores [B, H, Lq, Lk], key_mask
    [B, Lk] (additive) or None."""

    @staticmethod
    def forward(ctx, scores, key_mask, p, seed, threads):
        B, H, Lq, Lk = scores.shape
        probs, out = _empty(scores.shape), _empty(scores.shape)
        keep = _empty(scores.shape, "uint8") if p > 0 else None
        kernels().softmax_fwd(
            threads, _ptr(scores), _ptr(key_mask), _ptr(probs), _ptr(out), _ptr(keep), B, H * Lq, Lk, p, seed
        )
        ctx.p, ctx.threads = p, threads
        _trainable(ctx, scores, key_mask)
        ctx.save_for_backward(probs, keep)
        return out

    @staticmethod
    def backward(ctx, dout):
        probs, keep = ctx.saved_tensor()
        dscores = _empty(probs.shape)
        kernels().softmax_bwd(
            ctx.threads, _ptr(probs), _ptr(keep), _ptr(_dense(dout)), _ptr(dscores), *_rows(probs), ctx.p
        )
        return _gradients(ctx, dscores, None)


class BiasGelu(PyLayer):
    """gelu(x + bias), exact (erf) GELU."""

    @staticmethod
    def forward(ctx, x, bias, threads):
        grad, y = _empty(x.shape), _empty(x.shape)  # grad: GELU's derivative, for the backward
        kernels().bias_gelu_fwd(threads, _ptr(x), _ptr(bias), _ptr(grad), _ptr(y), *_rows(x))
        ctx.threads = threads
        _trainable(ctx, x, bias)
        ctx.save_for_backward(grad)
        return y

    @staticmethod
    def backward(ctx, dy):
        (grad,) = ctx.saved_tensor()
        dx, dbias = _empty(grad.shape), _empty([grad.shape[-1]])
        kernels().gelu_bwd(ctx.threads, _ptr(grad), _ptr(_dense(dy)), _ptr(dx), _ptr(dbias), *_rows(grad))
        return _gradients(ctx, dx, dbias)


def _layer_norm_buffers(x, p):
    """(rows, width, out, zhat, rstd, keep) for a LayerNorm kernel over x's last axis; keep (the
    dropout mask) only when p > 0."""
    rows, width = _rows(x)
    keep = _empty(x.shape, "uint8") if p > 0 else None
    return rows, width, _empty(x.shape), _empty(x.shape), _empty([rows]), keep


class ResidualLayerNorm(PyLayer):
    """LayerNorm(residual + dropout(y + bias)) * gamma + beta over the last axis."""

    @staticmethod
    def forward(ctx, y, bias, residual, gamma, beta, p, seed, eps, threads):
        rows, width, out, zhat, rstd, keep = _layer_norm_buffers(y, p)
        kernels().residual_ln_fwd(
            threads,
            _ptr(y),
            _ptr(bias),
            _ptr(_dense(residual)),
            _ptr(gamma),
            _ptr(beta),
            _ptr(out),
            _ptr(zhat),
            _ptr(rstd),
            _ptr(keep),
            rows,
            width,
            p,
            seed,
            eps,
        )
        ctx.p, ctx.threads = p, threads
        _trainable(ctx, y, bias, residual, gamma, beta)
        ctx.save_for_backward(zhat, rstd, gamma, keep)
        return out

    @staticmethod
    def backward(ctx, dout):
        zhat, rstd, gamma, keep = ctx.saved_tensor()
        width = zhat.shape[-1]
        dz, dy = _empty(zhat.shape), _empty(zhat.shape)
        dgamma, dbeta, dbias = _empty([width]), _empty([width]), _empty([width])
        kernels().residual_ln_bwd(
            ctx.threads,
            _ptr(_dense(dout)),
            _ptr(zhat),
            _ptr(rstd),
            _ptr(gamma),
            _ptr(keep),
            _ptr(dz),
            _ptr(dy),
            _ptr(dgamma),
            _ptr(dbeta),
            _ptr(dbias),
            *_rows(zhat),
            ctx.p,
        )
        return _gradients(ctx, dy, dbias, dz, dgamma, dbeta)


class LayerNormDropout(PyLayer):
    """dropout(LayerNorm(x) * gamma + beta) over the last axis (ELECTRA's embeddings)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, p, seed, eps, threads):
        rows, width, out, zhat, rstd, keep = _layer_norm_buffers(x, p)
        kernels().ln_dropout_fwd(
            threads,
            _ptr(_dense(x)),
            _ptr(gamma),
            _ptr(beta),
            _ptr(out),
            _ptr(zhat),
            _ptr(rstd),
            _ptr(keep),
            rows,
            width,
            p,
            seed,
            eps,
        )
        ctx.p, ctx.threads = p, threads
        _trainable(ctx, x, gamma, beta)
        ctx.save_for_backward(zhat, rstd, gamma, keep)
        return out

    @staticmethod
    def backward(ctx, dout):
        zhat, rstd, gamma, keep = ctx.saved_tensor()
        width = zhat.shape[-1]
        dx, dgamma, dbeta = _empty(zhat.shape), _empty([width]), _empty([width])
        kernels().ln_dropout_bwd(
            ctx.threads,
            _ptr(_dense(dout)),
            _ptr(zhat),
            _ptr(rstd),
            _ptr(gamma),
            _ptr(keep),
            _ptr(dx),
            _ptr(dgamma),
            _ptr(dbeta),
            *_rows(zhat),
            ctx.p,
        )
        return _gradients(ctx, dx, dgamma, dbeta)


def dropout_seed():
    """A 64-bit seed for one dropout mask, drawn from Paddle's generator, so `paddle.seed` makes
    the masks repeat (also after a resume that re-seeds)."""
    high, low = (int(v) for v in paddle.randint(0, 2**31 - 1, [2]).numpy())
    return (high << 32) | low


def fusable(layer):
    """Whether `layer` is a Transformer layer the fused forward computes exactly: post-LN,
    exact GELU, no activation dropout, "upscale_in_train" dropout, float32, every bias and
    LayerNorm parameter present (ELECTRA's layers)."""
    if not isinstance(layer, paddle.nn.TransformerEncoderLayer):
        return False
    attn = layer.self_attn
    params = [
        attn.q_proj.bias,
        attn.k_proj.bias,
        attn.v_proj.bias,
        attn.out_proj.bias,
        layer.linear1.bias,
        layer.linear2.bias,
        layer.norm1.weight,
        layer.norm1.bias,
        layer.norm2.weight,
        layer.norm2.bias,
    ]
    return (
        not layer.normalize_before
        and layer.activation is F.gelu
        and layer.dropout.p == 0
        and layer.dropout1.mode == layer.dropout2.mode == "upscale_in_train"
        and all(p is not None and p.dtype == paddle.float32 for p in [*params, layer.linear1.weight])
    )


def _is_key_mask(mask, batch, length):
    """None or an additive float32 [B, 1, 1, L] mask (the encoder's), the masks the kernels take."""
    return mask is None or (mask.dtype == paddle.float32 and list(mask.shape) == [batch, 1, 1, length])


def _fusable_call(layer, src, src_mask, cache=None, output_attentions=False):
    """Whether the kernels compute this call of `layer`: training, float32 on CPU, no cache, no
    attention output, and a key mask they take (`_is_key_mask`)."""
    B, L, _ = src.shape
    return (
        layer.training
        and cache is None
        and not output_attentions
        and src.dtype == paddle.float32
        and src.place.is_cpu_place()
        and _is_key_mask(src_mask, B, L)
    )


def _fused_attention(layer, query, src, key_mask, threads):
    """Multi-head self-attention of `query` (all of `src`, or its first row) over `src`, through
    the kernels: the heads' context merged back, [B, Lq, H], before the output projection."""
    attn = layer.self_attn
    scale = attn.head_dim**-0.5
    if query is src:
        qkv_weight = paddle.concat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], axis=1)
        qkv_bias = paddle.concat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
        q, k, v = SplitHeads.apply(
            paddle.matmul(src, qkv_weight), qkv_bias, 3, attn.num_heads, scale, threads
        )
    else:
        q = SplitHeads.apply(
            paddle.matmul(query, attn.q_proj.weight), attn.q_proj.bias, 1, attn.num_heads, scale, threads
        )
        kv_weight = paddle.concat([attn.k_proj.weight, attn.v_proj.weight], axis=1)
        kv_bias = paddle.concat([attn.k_proj.bias, attn.v_proj.bias])
        k, v = SplitHeads.apply(paddle.matmul(src, kv_weight), kv_bias, 2, attn.num_heads, 1.0, threads)
    probs = SoftmaxDropout.apply(
        paddle.matmul(q, k, transpose_y=True), key_mask, attn.dropout, dropout_seed(), threads
    )
    return MergeHeads.apply(paddle.matmul(probs, v), threads)


def _fused_block(layer, query, src, src_mask, threads):
    """The layer's output at the positions of `query` (all of `src`, or its first row)."""
    B, L, _ = src.shape
    key_mask = None if src_mask is None else _dense(src_mask.reshape([B, L]))
    context = _fused_attention(layer, query, src, key_mask, threads)
    out_proj = layer.self_attn.out_proj
    h = ResidualLayerNorm.apply(
        paddle.matmul(context, out_proj.weight),
        out_proj.bias,
        query,
        layer.norm1.weight,
        layer.norm1.bias,
        layer.dropout1.p,
        dropout_seed(),
        layer.norm1._epsilon,
        threads,
    )
    f = BiasGelu.apply(paddle.matmul(h, layer.linear1.weight), layer.linear1.bias, threads)
    return ResidualLayerNorm.apply(
        paddle.matmul(f, layer.linear2.weight),
        layer.linear2.bias,
        h,
        layer.norm2.weight,
        layer.norm2.bias,
        layer.dropout2.p,
        dropout_seed(),
        layer.norm2._epsilon,
        threads,
    )


def _fused_forward(layer, threads):
    """The fused training forward of `layer`, and its first-position-only version (see
    `modeling.first_position_output`); each falls back (None for the latter) where the kernels do
    not apply."""

    def forward(src, src_mask=None, cache=None, output_attentions=False):  # paddlenlp adds output_attentions
        if not _fusable_call(layer, src, src_mask, cache, output_attentions):
            return type(layer).forward(
                layer, src, src_mask, cache, **({"output_attentions": True} if output_attentions else {})
            )
        return _fused_block(layer, src, src, src_mask, threads)

    def first_position(src, src_mask):
        if not _fusable_call(layer, src, src_mask):
            return None
        return _fused_block(layer, _dense(src[:, :1]), src, src_mask, threads)

    return forward, first_position


def _fused_embeddings_forward(embeddings, threads):
    def forward(input_ids, token_type_ids):
        norm = embeddings.layer_norm
        if (
            not embeddings.training
            or norm.weight.dtype != paddle.float32
            or not norm.weight.place.is_cpu_place()
        ):
            return type(embeddings).forward(embeddings, input_ids, token_type_ids)
        return LayerNormDropout.apply(
            embeddings.sum(input_ids, token_type_ids),
            norm.weight,
            norm.bias,
            embeddings.dropout.p,
            dropout_seed(),
            norm._epsilon,
            threads,
        )

    return forward


@contextlib.contextmanager
def fused_encoder_layers(net, threads=1):
    """Within the block, every fusable Transformer layer of `net` (and the LayerNorm + dropout of
    its ELECTRA embeddings) trains through the fused kernels on `threads` threads; yields how many
    Transformer layers that is (0 where the kernels are unavailable)."""
    from paddle_electra.models.modeling import ElectraEmbeddings

    threads = max(1, min(int(threads), MAX_THREADS))
    sublayers = net.sublayers(include_self=True) if kernels() is not None else []
    layers = [layer for layer in sublayers if fusable(layer)]
    patched = [(layer, _fused_forward(layer, threads)) for layer in layers] + [
        (emb, (_fused_embeddings_forward(emb, threads), None))
        for emb in sublayers
        if isinstance(emb, ElectraEmbeddings) and emb.dropout.mode == "upscale_in_train"
    ]
    for layer, (forward, first_position) in patched:
        layer.forward = forward
        if first_position is not None:
            layer.fused_first_position = first_position  # read by modeling.first_position_output
    try:
        yield len(layers)
    finally:
        for layer, (_, first_position) in patched:
            del layer.forward
            if first_position is not None:
                del layer.fused_first_position
