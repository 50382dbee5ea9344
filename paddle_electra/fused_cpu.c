/* Fused CPU kernels for training the ELECTRA encoder (paddle_electra/fused_cpu.py wraps them).

Paddle's CPU element-wise kernels run on one thread without SIMD (about 3-4 ns per element here),
and each op makes its own pass over memory. These kernels fuse what the Transformer layer does
between its GEMMs, run on every OpenMP thread and vectorize (erff / expf from glibc's libmvec):

  split_heads / merge_heads   [B, L, H*D] (+ bias, * scale) <-> [B, H, L, D]
  softmax_fwd / softmax_bwd   softmax(scores + additive key mask), then dropout
  bias_gelu_fwd / gelu_bwd    exact (erf) GELU of x + bias
  residual_ln_fwd / _bwd      LayerNorm(residual + dropout(y + bias))
  col_sum, ln_param_grads     column sums for bias, gamma and beta gradients

All tensors are contiguous float32. Dropout keeps an element where a counter-based hash of
(seed, element index) is >= p * 2^32 (the splitmix64 finalizer), so a mask depends only on the
seed, not on the thread count; kept elements are scaled by 1 / (1 - p) ("upscale_in_train"). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <omp.h>

__attribute__((simd("notinbranch"))) float erff(float);
__attribute__((simd("notinbranch"))) float expf(float);

static int n_threads = 1;

/* Threads for every kernel (Paddle sets OMP_NUM_THREADS=1, so OpenMP's default is no guide). */
void set_threads(int n) { n_threads = n > 0 ? n : 1; }

static inline uint32_t keep_hash(uint64_t seed, uint64_t i) {
    uint64_t z = seed ^ ((i + 1) * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static inline uint32_t drop_threshold(float p) {
    return p <= 0.0f ? 0u : (uint32_t)fmin((double)p * 4294967296.0, 4294967295.0);
}

/* out[b, h, l, d] = (x[b, l, h * D + d] + bias[h * D + d]) * scale; bias may be NULL. */
void split_heads(const float *x, const float *bias, float *out, int64_t B, int64_t L, int64_t H, int64_t D,
                 float scale) {
    #pragma omp parallel for collapse(2) schedule(static) num_threads(n_threads)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t l = 0; l < L; l++) {
                const float *src = x + (b * L + l) * H * D + h * D;
                const float *bh = bias ? bias + h * D : NULL;
                float *dst = out + ((b * H + h) * L + l) * D;
                #pragma omp simd
                for (int64_t d = 0; d < D; d++) dst[d] = (src[d] + (bh ? bh[d] : 0.0f)) * scale;
            }
}

/* out[b, l, h * D + d] = x[b, h, l, d] * scale. */
void merge_heads(const float *x, float *out, int64_t B, int64_t L, int64_t H, int64_t D, float scale) {
    #pragma omp parallel for collapse(2) schedule(static) num_threads(n_threads)
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++)
            for (int64_t h = 0; h < H; h++) {
                const float *src = x + ((b * H + h) * L + l) * D;
                float *dst = out + (b * L + l) * H * D + h * D;
                #pragma omp simd
                for (int64_t d = 0; d < D; d++) dst[d] = src[d] * scale;
            }
}

/* Column sums of x [n, d] (and, with y, of x * y) into out (out2): each thread sums a fixed block
   of rows into its own row of `partial` [threads, d], then the blocks are added in order, so the
   result does not depend on scheduling. */
#define MAX_THREADS 256
static void col_sums(const float *x, const float *y, float *out, float *out2, int64_t n, int64_t d) {
    const int nt = n_threads < MAX_THREADS ? n_threads : MAX_THREADS;
    float *partial = calloc((size_t)nt * d * (y ? 2 : 1), sizeof(float));
    #pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), used = omp_get_num_threads();
        const int64_t lo = n * t / used, hi = n * (t + 1) / used;
        float *acc = partial + (int64_t)t * d, *acc2 = y ? partial + (int64_t)(nt + t) * d : NULL;
        for (int64_t i = lo; i < hi; i++) {
            const float *xi = x + i * d, *yi = y ? y + i * d : NULL;
            #pragma omp simd
            for (int64_t j = 0; j < d; j++) acc[j] += xi[j];
            if (yi) {
                #pragma omp simd
                for (int64_t j = 0; j < d; j++) acc2[j] += xi[j] * yi[j];
            }
        }
    }
    for (int64_t j = 0; j < d; j++) {
        float s = 0.0f, s2 = 0.0f;
        for (int t = 0; t < nt; t++) {
            s += partial[(int64_t)t * d + j];
            if (y) s2 += partial[(int64_t)(nt + t) * d + j];
        }
        out[j] = s;
        if (y) out2[j] = s2;
    }
    free(partial);
}

/* out[j] = sum_i x[i, j] for x [n, d]. */
void col_sum(const float *x, float *out, int64_t n, int64_t d) { col_sums(x, NULL, out, NULL, n, d); }

/* Rows of scores [rows, Lk], rows = B * H * Lq; mask [B, Lk] added to every row of batch item b
   (NULL: none). probs = softmax(scores + mask); out = probs * keep / (1 - p); keep (uint8) is
   written only when p > 0. */
void softmax_fwd(const float *scores, const float *mask, float *probs, float *out, uint8_t *keep,
                 int64_t B, int64_t rows_per_b, int64_t Lk, float p, uint64_t seed) {
    const uint32_t threshold = drop_threshold(p);
    const float upscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(n_threads)
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
void softmax_bwd(const float *probs, const uint8_t *keep, const float *dout, float *dscores, int64_t rows,
                 int64_t Lk, float p) {
    const float upscale = keep ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(n_threads)
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

/* u = x + bias (saved for the backward), y = u * Phi(u), x [n, d]. */
void bias_gelu_fwd(const float *x, const float *bias, float *u, float *y, int64_t n, int64_t d) {
    #pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *ui = u + i * d, *yi = y + i * d;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) {
            ui[j] = xi[j] + bias[j];
            yi[j] = 0.5f * ui[j] * (1.0f + erff(ui[j] * 0.70710678118654752f));
        }
    }
}

/* du = dy * (Phi(u) + u * phi(u)). */
void gelu_bwd(const float *u, const float *dy, float *du, int64_t n) {
    #pragma omp parallel for simd schedule(static) num_threads(n_threads)
    for (int64_t i = 0; i < n; i++) {
        float cdf = 0.5f * (1.0f + erff(u[i] * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * u[i] * u[i]);
        du[i] = dy[i] * (cdf + u[i] * pdf);
    }
}

/* z = residual + dropout(y + bias); out = zhat * gamma + beta with zhat = (z - mean) * rstd, over
   rows of width d. Saves zhat, rstd and (p > 0) keep. */
void residual_ln_fwd(const float *y, const float *bias, const float *residual, const float *gamma,
                     const float *beta, float *out, float *zhat, float *rstd, uint8_t *keep, int64_t n, int64_t d,
                     float p, uint64_t seed, float eps) {
    const uint32_t threshold = drop_threshold(p);
    const float upscale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y + i * d, *ri = residual + i * d;
        float *z = zhat + i * d, *o = out + i * d, mean = 0.0f, var = 0.0f;
        uint8_t *k = threshold ? keep + i * d : NULL;
        #pragma omp simd reduction(+ : mean)
        for (int64_t j = 0; j < d; j++) {
            float v = yi[j] + bias[j];
            if (k) {
                k[j] = keep_hash(seed, (uint64_t)(i * d + j)) >= threshold;
                v = k[j] ? v * upscale : 0.0f;
            }
            z[j] = ri[j] + v;
            mean += z[j];
        }
        mean /= (float)d;
        #pragma omp simd reduction(+ : var)
        for (int64_t j = 0; j < d; j++) {
            z[j] -= mean;
            var += z[j] * z[j];
        }
        const float rs = 1.0f / sqrtf(var / (float)d + eps);
        rstd[i] = rs;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) {
            z[j] *= rs;
            o[j] = z[j] * gamma[j] + beta[j];
        }
    }
}

/* dz = rstd * (g - mean(g) - zhat * mean(g * zhat)) with g = dout * gamma (the residual's
   gradient), dy = dz * keep / (1 - p) (keep NULL: dy = dz). */
void residual_ln_bwd(const float *dout, const float *zhat, const float *rstd, const float *gamma,
                     const uint8_t *keep, float *dz, float *dy, int64_t n, int64_t d, float p) {
    const float upscale = keep ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t i = 0; i < n; i++) {
        const float *go = dout + i * d, *z = zhat + i * d;
        float *dzi = dz + i * d, *dyi = dy + i * d, mg = 0.0f, mgz = 0.0f;
        const uint8_t *k = keep ? keep + i * d : NULL;
        #pragma omp simd reduction(+ : mg, mgz)
        for (int64_t j = 0; j < d; j++) {
            float g = go[j] * gamma[j];
            mg += g;
            mgz += g * z[j];
        }
        mg /= (float)d;
        mgz /= (float)d;
        #pragma omp simd
        for (int64_t j = 0; j < d; j++) {
            dzi[j] = rstd[i] * (go[j] * gamma[j] - mg - z[j] * mgz);
            dyi[j] = k ? (k[j] ? dzi[j] * upscale : 0.0f) : dzi[j];
        }
    }
}

/* dbeta[j] = sum_i dout[i, j], dgamma[j] = sum_i dout[i, j] * zhat[i, j]. */
void ln_param_grads(const float *dout, const float *zhat, float *dgamma, float *dbeta, int64_t n, int64_t d) {
    col_sums(dout, zhat, dbeta, dgamma, n, d);
}
