/* Fused CPU kernels for training the ELECTRA encoder (paddle_electra/training/fused_cpu.py wraps them).

Paddle's CPU element-wise kernels run on one thread without SIMD (about 3-4 ns per element here),
and each op makes its own pass over memory. These kernels fuse what the Transformer layer does
between its GEMMs, run on every OpenMP thread and vectorize (erff / expf from glibc's libmvec):

  split_heads / merge_heads   [B, L, P*H*D] (+ bias, part 0 * scale) <-> P x [B, H, L, D]; the
                              merge also sums the bias gradient
  softmax_fwd / softmax_bwd   softmax(scores + additive key mask), then dropout
  bias_gelu_fwd / gelu_bwd    exact (erf) GELU of x + bias; the backward also sums the bias gradient
  residual_ln_fwd / _bwd      LayerNorm(residual + dropout(y + bias)), with every parameter gradient
  ln_dropout_fwd / _bwd       dropout(LayerNorm(x)) (the embeddings), with gamma / beta gradients

All tensors are contiguous float32. Dropout keeps an element where a counter-based hash of
(seed, element index) is >= p * 2^32 (the splitmix64 finalizer), so a mask depends only on the
seed, not on the thread count; kept elements are scaled by 1 / (1 - p) ("upscale_in_train").
Column sums (bias, gamma, beta gradients) are added per thread over a fixed block of rows, then
over threads in order, so they do not depend on scheduling.

Every kernel takes its thread count (`threads`, first argument: Paddle sets OMP_NUM_THREADS=1,
so OpenMP's default is no guide); nothing is kept between calls, so several trainers may call the
kernels at once with different counts. The kernels that allocate (per-thread column sums) return
NO_MEMORY when malloc fails, and OK otherwise. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <omp.h>

__attribute__((simd("notinbranch"))) float erff(float);
__attribute__((simd("notinbranch"))) float expf(float);

#define MAX_PARTS 3
#define OK 0
#define NO_MEMORY 1

static inline uint32_t keep_hash(uint64_t seed, uint64_t i) {
    uint64_t z = seed ^ ((i + 1) * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static inline uint32_t drop_threshold(float p) {
    return p <= 0.0f ? 0u : (uint32_t)fmin((double)p * 4294967296.0, 4294967295.0);
}

/* Rows [*lo, *hi) of n for the calling thread of the current parallel region. */
static inline void my_rows(int64_t n, int64_t *lo, int64_t *hi) {
    const int t = omp_get_thread_num(), used = omp_get_num_threads();
    *lo = n * t / used;
    *hi = n * (t + 1) / used;
}

/* out[k][j] = sum over threads t (in order) of partial[t * sums + k][j], for k < sums; frees partial. */
static void reduce_partials(float *partial, int threads, int sums, int64_t d, float **out) {
    for (int k = 0; k < sums; k++)
        if (out[k])
            for (int64_t j = 0; j < d; j++) {
                float s = 0.0f;
                for (int t = 0; t < threads; t++) s += partial[((int64_t)t * sums + k) * d + j];
                out[k][j] = s;
            }
    free(partial);
}

/* outs[p][b, h, l, :] = (x[b, l, (p * H + h) * D : ...] + bias[(p * H + h) * D : ...]) * (p == 0 ?
   scale0 : 1) for p < P (q, k, v from one GEMM); bias may be NULL. */
void split_heads(int threads, const float *x, const float *bias, float *out0, float *out1, float *out2, int64_t P, int64_t B,
                 int64_t L, int64_t H, int64_t D, float scale0) {
    float *outs[MAX_PARTS] = {out0, out1, out2};
    const int64_t width = P * H * D;
    #pragma omp parallel for collapse(3) schedule(static) num_threads(threads)
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++)
            for (int64_t h = 0; h < H; h++) {
                const float s = p == 0 ? scale0 : 1.0f, *bh = bias ? bias + (p * H + h) * D : NULL;
                for (int64_t l = 0; l < L; l++) {
                    const float *src = x + (b * L + l) * width + (p * H + h) * D;
                    float *dst = outs[p] + ((b * H + h) * L + l) * D;
                    #pragma omp simd
                    for (int64_t d = 0; d < D; d++) dst[d] = (src[d] + (bh ? bh[d] : 0.0f)) * s;
                }
            }
}

/* The inverse layout: out[b, l, (p * H + h) * D + d] = xs[p][b, h, l, d] * (p == 0 ? scale0 : 1);
   with dbias, also dbias = column sums of out (split_heads' backward). */
int merge_heads(int threads, const float *x0, const float *x1, const float *x2, float *out, float *dbias, int64_t P, int64_t B,
                 int64_t L, int64_t H, int64_t D, float scale0) {
    const float *xs[MAX_PARTS] = {x0, x1, x2};
    const int64_t width = P * H * D;
    float *partial = dbias ? calloc((size_t)threads * width, sizeof(float)) : NULL;
    if (dbias && !partial) return NO_MEMORY;
    #pragma omp parallel num_threads(threads)
    {
        int64_t lo, hi;
        my_rows(B * L, &lo, &hi);
        float *acc = partial ? partial + omp_get_thread_num() * width : NULL;
        for (int64_t i = lo; i < hi; i++) {
            const int64_t b = i / L, l = i % L;
            for (int64_t p = 0; p < P; p++)
                for (int64_t h = 0; h < H; h++) {
                    const float s = p == 0 ? scale0 : 1.0f, *src = xs[p] + ((b * H + h) * L + l) * D;
                    float *dst = out + i * width + (p * H + h) * D, *a = acc ? acc + (p * H + h) * D : NULL;
                    #pragma omp simd
                    for (int64_t d = 0; d < D; d++) dst[d] = src[d] * s;
                    if (a) {
                        #pragma omp simd
                        for (int64_t d = 0; d < D; d++) a[d] += dst[d];
                    }
                }
        }
    }
    if (partial) reduce_partials(partial, threads, 1, width, &dbias);
    return OK;
}

/* Rows of scores [rows, Lk], rows = B * H * Lq; mask [B, Lk] added to every row of batch item b
   (NULL: none). probs = softmax(scores + mask); out = probs * keep / (1 - p); keep (uint8) is
   written only when p > 0. */
void softmax_fwd(int threads, const float *scores, const float *mask, float *probs, float *out, uint8_t *keep,
                 int64_t B, int64_t rows_per_b, int64_t Lk, float p, uint64_t seed) {
    const uint32_t threshold = drop_threshold(p);
    const float upscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < B * rows_per_b; r++) {
        const float *s = scores + r * Lk, *m = mask ? mask + (r / rows_per_b) * Lk : NULL;
        float *pr = probs + r * Lk, *o = out + r * Lk;
        float mx = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j < Lk; j++) {
            pr[j] = s[j] + (m ? m[j] : 0.0f);
            mx = pr[j] > mx ? pr[j] : mx;
        }
        #pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < Lk; j++) {
            pr[j] = expf(pr[j] - mx);
            sum += pr[j];
        }
        const float inv = 1.0f / sum;
        if (threshold == 0u) {
            #pragma omp simd
            for (int64_t j = 0; j < Lk; j++) o[j] = pr[j] = pr[j] * inv;
            continue;
        }
        uint8_t *k = keep + r * Lk;
        #pragma omp simd
        for (int64_t j = 0; j < Lk; j++) {
            pr[j] *= inv;
            k[j] = keep_hash(seed, (uint64_t)(r * Lk + j)) >= threshold;
            o[j] = k[j] ? pr[j] * upscale : 0.0f;
        }
    }
}

/* dscores = probs * (g - sum_j g * probs) with g = dout * keep / (1 - p) (keep NULL: g = dout). */
void softmax_bwd(int threads, const float *probs, const uint8_t *keep, const float *dout, float *dscores, int64_t rows,
                 int64_t Lk, float p) {
    const float upscale = keep ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = probs + r * Lk, *g = dout + r * Lk;
        const uint8_t *k = keep ? keep + r * Lk : NULL;
        float *ds = dscores + r * Lk, dot = 0.0f;
        #pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < Lk; j++) {
            ds[j] = k ? (k[j] ? g[j] * upscale : 0.0f) : g[j];
            dot += ds[j] * pr[j];
        }
        #pragma omp simd
        for (int64_t j = 0; j < Lk; j++) ds[j] = pr[j] * (ds[j] - dot);
    }
}

/* y = u * Phi(u) with u = x + bias, x [n, d]; also writes GELU's derivative at u,
   Phi(u) + u * phi(u), for the backward (which is then one multiply, with no erf / exp). */
void bias_gelu_fwd(int threads, const float *x, const float *bias, float *grad, float *y, int64_t n, int64_t d) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *gi = grad + i * d, *yi = y + i * d;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) {
            const float u = xi[j] + bias[j], cdf = 0.5f * (1.0f + erff(u * 0.70710678118654752f));
            yi[j] = u * cdf;
            gi[j] = cdf + u * 0.39894228040143268f * expf(-0.5f * u * u);
        }
    }
}

/* dx = dy * grad (grad from bias_gelu_fwd), dbias = column sums of dx. */
int gelu_bwd(int threads, const float *grad, const float *dy, float *dx, float *dbias, int64_t n, int64_t d) {
    float *partial = calloc((size_t)threads * d, sizeof(float));
    if (!partial) return NO_MEMORY;
    #pragma omp parallel num_threads(threads)
    {
        int64_t lo, hi;
        my_rows(n, &lo, &hi);
        float *acc = partial + omp_get_thread_num() * d;
        for (int64_t i = lo; i < hi; i++) {
            const float *gi = grad + i * d, *dyi = dy + i * d;
            float *dxi = dx + i * d;
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) {
                dxi[j] = dyi[j] * gi[j];
                acc[j] += dxi[j];
            }
        }
    }
    reduce_partials(partial, threads, 1, d, &dbias);
    return OK;
}

/* LayerNorm of one row z (overwritten by zhat = (z - mean) * rstd): out = zhat * gamma + beta. */
static inline float ln_row(float *z, const float *gamma, const float *beta, float *out, int64_t d, float eps) {
    float mean = 0.0f, var = 0.0f;
    #pragma omp simd reduction(+ : mean)
    for (int64_t j = 0; j < d; j++) mean += z[j];
    mean /= (float)d;
    #pragma omp simd reduction(+ : var)
    for (int64_t j = 0; j < d; j++) {
        z[j] -= mean;
        var += z[j] * z[j];
    }
    const float rs = 1.0f / sqrtf(var / (float)d + eps);
    #pragma omp simd
    for (int64_t j = 0; j < d; j++) {
        z[j] *= rs;
        out[j] = z[j] * gamma[j] + beta[j];
    }
    return rs;
}

/* LayerNorm backward of one row, g = d(out): dz = rstd * (g * gamma - mean(g * gamma) - zhat *
   mean(g * gamma * zhat)); adds g * zhat to acc_gamma and g to acc_beta. */
static inline void ln_row_bwd(const float *g, const float *zhat, float rstd, const float *gamma, float *dz,
                              float *acc_gamma, float *acc_beta, int64_t d) {
    float mg = 0.0f, mgz = 0.0f;
    #pragma omp simd reduction(+ : mg, mgz)
    for (int64_t j = 0; j < d; j++) {
        mg += g[j] * gamma[j];
        mgz += g[j] * gamma[j] * zhat[j];
        acc_gamma[j] += g[j] * zhat[j];
        acc_beta[j] += g[j];
    }
    mg /= (float)d;
    mgz /= (float)d;
    #pragma omp simd
    for (int64_t j = 0; j < d; j++) dz[j] = rstd * (g[j] * gamma[j] - mg - zhat[j] * mgz);
}

/* z = residual + dropout(y + bias); out = LayerNorm(z) * gamma + beta over rows of width d.
   Saves zhat, rstd and (p > 0) keep. */
void residual_ln_fwd(int threads, const float *y, const float *bias, const float *residual, const float *gamma,
                     const float *beta, float *out, float *zhat, float *rstd, uint8_t *keep, int64_t n, int64_t d,
                     float p, uint64_t seed, float eps) {
    const uint32_t threshold = drop_threshold(p);
    const float upscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y + i * d, *ri = residual + i * d;
        float *z = zhat + i * d;
        uint8_t *k = threshold ? keep + i * d : NULL;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) {
            float v = yi[j] + bias[j];
            if (k) {
                k[j] = keep_hash(seed, (uint64_t)(i * d + j)) >= threshold;
                v = k[j] ? v * upscale : 0.0f;
            }
            z[j] = ri[j] + v;
        }
        rstd[i] = ln_row(z, gamma, beta, out + i * d, d, eps);
    }
}

/* residual_ln_fwd's backward: dz (the residual's gradient), dy = dz * keep / (1 - p) (keep NULL:
   dy = dz), and the column sums dgamma, dbeta, dbias. */
int residual_ln_bwd(int threads, const float *dout, const float *zhat, const float *rstd, const float *gamma,
                     const uint8_t *keep, float *dz, float *dy, float *dgamma, float *dbeta, float *dbias,
                     int64_t n, int64_t d, float p) {
    const float upscale = keep ? 1.0f / (1.0f - p) : 1.0f;
    float *partial = calloc((size_t)threads * 3 * d, sizeof(float));
    if (!partial) return NO_MEMORY;
    #pragma omp parallel num_threads(threads)
    {
        int64_t lo, hi;
        my_rows(n, &lo, &hi);
        float *acc = partial + omp_get_thread_num() * 3 * d;
        for (int64_t i = lo; i < hi; i++) {
            float *dzi = dz + i * d, *dyi = dy + i * d;
            const uint8_t *k = keep ? keep + i * d : NULL;
            ln_row_bwd(dout + i * d, zhat + i * d, rstd[i], gamma, dzi, acc, acc + d, d);
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) {
                dyi[j] = k ? (k[j] ? dzi[j] * upscale : 0.0f) : dzi[j];
                acc[2 * d + j] += dyi[j];
            }
        }
    }
    float *sums[3] = {dgamma, dbeta, dbias};
    reduce_partials(partial, threads, 3, d, sums);
    return OK;
}

/* out = dropout(LayerNorm(x) * gamma + beta) over rows of width d (ELECTRA's embeddings); saves
   zhat, rstd and (p > 0) keep. */
void ln_dropout_fwd(int threads, const float *x, const float *gamma, const float *beta, float *out, float *zhat, float *rstd,
                    uint8_t *keep, int64_t n, int64_t d, float p, uint64_t seed, float eps) {
    const uint32_t threshold = drop_threshold(p);
    const float upscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *z = zhat + i * d, *o = out + i * d;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) z[j] = x[i * d + j];
        rstd[i] = ln_row(z, gamma, beta, o, d, eps);
        if (threshold) {
            uint8_t *k = keep + i * d;
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) {
                k[j] = keep_hash(seed, (uint64_t)(i * d + j)) >= threshold;
                o[j] = k[j] ? o[j] * upscale : 0.0f;
            }
        }
    }
}

/* ln_dropout_fwd's backward: dx, dgamma, dbeta. */
int ln_dropout_bwd(int threads, const float *dout, const float *zhat, const float *rstd, const float *gamma, const uint8_t *keep,
                    float *dx, float *dgamma, float *dbeta, int64_t n, int64_t d, float p) {
    const float upscale = keep ? 1.0f / (1.0f - p) : 1.0f;
    /* per thread: the dgamma and dbeta sums, then a row of scratch */
    float *partial = calloc((size_t)threads * 3 * d, sizeof(float));
    if (!partial) return NO_MEMORY;
    #pragma omp parallel num_threads(threads)
    {
        int64_t lo, hi;
        my_rows(n, &lo, &hi);
        float *acc = partial + omp_get_thread_num() * 2 * d, *g = partial + ((int64_t)threads * 2 + omp_get_thread_num()) * d;
        for (int64_t i = lo; i < hi; i++) {
            const float *go = dout + i * d;
            const uint8_t *k = keep ? keep + i * d : NULL;
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) g[j] = k ? (k[j] ? go[j] * upscale : 0.0f) : go[j];
            ln_row_bwd(g, zhat + i * d, rstd[i], gamma, dx + i * d, acc, acc + d, d);
        }
    }
    float *sums[2] = {dgamma, dbeta};
    reduce_partials(partial, threads, 2, d, sums);
    return OK;
}
