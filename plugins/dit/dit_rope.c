/* cosmos-dit — host-side tables: the 3D RoPE cos/sin per token and the timestep sinusoid.
 *
 * Both depend only on shapes and a handful of scalars, and need cos/sin/exp, which the op table does
 * not have; they are filled here in f32 (as the reference does) and uploaded by dit_forward.c.
 * RoPE: head_dim d splits into t/h/w parts of d - 2·(d/6·2), d/6·2, d/6·2 (44/42/42 at d = 128); each
 * axis has θ = 10000 · ratio^(dim/(dim-2)) (NTK extrapolation) and frequencies θ^(-2j/dim); a token
 * (t, h, w) gets the angles [t·f_t, h·f_h, w·f_w] (d/2 values), duplicated to d for rotate-half; with
 * an fps given (diffusers' optional argument) t becomes t / fps · 24.
 * Sinusoid: half = D/2, f_k = exp(-ln(10000)·k/half), output [cos(t·f), sin(t·f)], cos first. */
#include <math.h>

#include "dit.h"

/* Frequencies of one axis of `dim` rotary dims, in f32 as the reference computes them. */
static void axis_freqs(int32_t dim, float ratio, float *out)
{
    double ntk = pow((double)ratio, (double)dim / (double)(dim - 2));
    float theta = (float)(10000.0 * ntk);
    for (int32_t j = 0; j < dim / 2; j++) {
        float r = (float)(2 * j) / (float)dim;
        out[j] = 1.0f / powf(theta, r);
    }
}

void dit_rope_tables(const dit_config *c, int64_t tp, int64_t hp, int64_t wp, float *cos_out, float *sin_out)
{
    int32_t d = c->head_dim, dh = d / 6 * 2, dw = dh, dt = d - dh - dw, half = d / 2;
    float ft[64], fh[64], fw[64]; /* head_dim <= 256: each axis has at most 64 frequencies */
    axis_freqs(dt, c->rope_ratio[0], ft);
    axis_freqs(dh, c->rope_ratio[1], fh);
    axis_freqs(dw, c->rope_ratio[2], fw);
    for (int64_t t = 0; t < tp; t++)
        for (int64_t y = 0; y < hp; y++)
            for (int64_t x = 0; x < wp; x++) {
                int64_t row = ((t * hp) + y) * wp + x;
                float *co = cos_out + row * d, *si = sin_out + row * d;
                for (int32_t j = 0; j < half; j++) {
                    float a;
                    if (j < dt / 2)
                        a = (c->fps > 0 ? (float)t / c->fps * 24.0f : (float)t) * ft[j];
                    else if (j < dt / 2 + dh / 2)
                        a = (float)y * fh[j - dt / 2];
                    else
                        a = (float)x * fw[j - dt / 2 - dh / 2];
                    co[j] = co[j + half] = cosf(a);
                    si[j] = si[j + half] = sinf(a);
                }
            }
}

void dit_timestep_sinusoid(int32_t dim, const float *t, int64_t n, float scale, float *out)
{
    int32_t half = dim / 2;
    float ln = (float)log(10000.0);
    for (int64_t i = 0; i < n; i++) {
        float ts = t[i] * scale;
        for (int32_t k = 0; k < half; k++) {
            float e = -ln * (float)k / (float)half;
            float a = ts * expf(e);
            out[i * dim + k] = cosf(a);
            out[i * dim + half + k] = sinf(a);
        }
    }
}
