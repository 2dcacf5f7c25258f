/* libdiorama — the denoising loop: sampler plans, the DiT, classifier-free guidance and frame
 * replacement (cosmos-reference.md §2; tests/fixtures/pipelines/README.md).
 *
 * The latent x lives in rectified-flow space (x = (1 - σ) x0 + σ ε) on the backend, f32. Per step:
 *  1. the DiT input is x with the first n latent frames replaced by the clean conditioning latents;
 *     the timestep is σ_i (time_input=sigma, the diffusers pipeline) or the sampler's timestep
 *     (time_input=timestep), and cond_timestep on the conditioned frames;
 *  2. the DiT runs with the prompt and, for guidance, the negative prompt; the guided velocity is
 *     v_c + g (v_c - v_u) ("v2w", the Predict 2.5 Video2World rule) or v_u + g (v_c - v_u)
 *     ("standard"), as one AXPBY;
 *  3. on conditioned frames the velocity is overwritten with (ε0 - cond), ε0 the initial noise, so
 *     those frames stay on the straight path to the condition;
 *  4. the sampler's plan — linear combinations of x, the velocity, fresh noise and history slots,
 *     all read as they were when the step began — gives the next x and the stores.
 * The initial noise is the host generator's (numpy's by default: a seed gives the reference's
 * latents), scaled by the sampler's initial_noise_scale; chunk k of a long video uses seed + k.
 * Coefficients go to AXPBY as f32: the sampler computes them in f64, the rounding to f32 costs
 * about 1e-7 relative per term, far inside the pipeline tolerances. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_internal.h"

typedef struct denoise_state {
    run_state *rs;
    run_value x, v, noise, out_pos, out_neg, tin, timestep, mask, init, gt, tmp[3];
    run_value hist[DIO_SAMPLER_MAX_HISTORY];
    int hist_set[DIO_SAMPLER_MAX_HISTORY];
    dio_noise *gen;
    int64_t shape[5];
    int noise_drawn;
} denoise_state;

static dio_status axpby(run_state *rs, const dio_tensor *y, float a, const dio_tensor *x, float b,
                        const dio_tensor *z)
{
    dio_axpby_params p = {sizeof(p), a, b};
    const dio_tensor *in[2] = {x, z};
    const dio_tensor *out[1] = {y};
    dio_status st = dio_run(&rs->ref, rs->stream, DIO_OP_AXPBY, in, z ? 2 : 1, out, 1, &p);
    if (st != DIO_OK && !dio_last_error()[0]) dio_set_error(st, "pipeline: the backend's AXPBY failed");
    return st;
}

static dio_status copy_op(run_state *rs, const dio_tensor *y, const dio_tensor *x)
{
    const dio_tensor *in[1] = {x};
    const dio_tensor *out[1] = {y};
    return dio_run(&rs->ref, rs->stream, DIO_OP_COPY, in, 1, out, 1, NULL);
}

/* A view of the first n frames (dim 2) of a [1, C, T, H, W] value. */
static dio_tensor first_frames(const run_value *v, int64_t n)
{
    dio_tensor t = v->t;
    t.shape[2] = n;
    return t;
}

static const dio_tensor *operand(denoise_state *d, const dio_sampler_term *term, dio_status *st)
{
    *st = DIO_OK;
    switch (term->operand) {
    case DIO_SAMPLER_X: return &d->x.t;
    case DIO_SAMPLER_MODEL_OUTPUT: return &d->v.t;
    case DIO_SAMPLER_NOISE: {
        if (!d->noise_drawn) {
            int64_t n = dio_tensor_numel(&d->noise.t);
            float *h = malloc((size_t)n * sizeof(float));
            if (!h) {
                *st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory for noise");
                return NULL;
            }
            if ((*st = dio_noise_normal_f32(d->gen, h, (size_t)n)) == DIO_OK)
                *st = run_upload(d->rs, &d->noise, h);
            free(h);
            if (*st != DIO_OK) return NULL;
            d->noise_drawn = 1;
        }
        return &d->noise.t;
    }
    case DIO_SAMPLER_HISTORY:
        if (term->slot < 0 || term->slot >= DIO_SAMPLER_MAX_HISTORY) {
            *st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: sampler plan names history slot %d",
                                term->slot);
            return NULL;
        }
        return d->hist_set[term->slot] ? &d->hist[term->slot].t : NULL; /* never stored: zeros */
    default:
        *st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: sampler plan has operand %d", term->operand);
    }
    return NULL;
}

/* y = Σ coef · operand, reading only values of the step's start (y is a scratch buffer). */
static dio_status combine(denoise_state *d, const dio_sampler_term *terms, int32_t n, const run_value *y)
{
    const dio_tensor *ops[DIO_SAMPLER_MAX_TERMS];
    double coefs[DIO_SAMPLER_MAX_TERMS];
    int m = 0;
    dio_status st;
    if (n < 0 || n > DIO_SAMPLER_MAX_TERMS)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: sampler plan has %d terms", n);
    for (int32_t i = 0; i < n; i++) {
        const dio_tensor *t = operand(d, &terms[i], &st);
        if (st != DIO_OK) return st;
        if (!t || terms[i].coef == 0.0) continue;
        ops[m] = t;
        coefs[m++] = terms[i].coef;
    }
    if (m == 0) return axpby(d->rs, &y->t, 0.0f, &d->x.t, 0.0f, NULL);
    if ((st = axpby(d->rs, &y->t, (float)coefs[0], ops[0], m > 1 ? (float)coefs[1] : 0.0f,
                    m > 1 ? ops[1] : NULL)) != DIO_OK)
        return st;
    for (int k = 2; k < m; k++)
        if ((st = axpby(d->rs, &y->t, 1.0f, &y->t, (float)coefs[k], ops[k])) != DIO_OK) return st;
    return DIO_OK;
}

static dio_status apply_plan(denoise_state *d, const dio_sampler_plan *plan)
{
    dio_status st;
    int s1 = plan->store_slot,
        s2 = plan->struct_size >= offsetof(dio_sampler_plan, store2_terms) ? plan->store2_slot : -1;
    d->noise_drawn = 0;
    if ((st = combine(d, plan->terms, plan->n_terms, &d->tmp[0])) != DIO_OK) return st;
    if (s1 >= 0 && (st = combine(d, plan->store_terms, plan->n_store_terms, &d->tmp[1])) != DIO_OK) return st;
    if (s2 >= 0 && (st = combine(d, plan->store2_terms, plan->n_store2_terms, &d->tmp[2])) != DIO_OK)
        return st;
    if (s1 >= DIO_SAMPLER_MAX_HISTORY || s2 >= DIO_SAMPLER_MAX_HISTORY || (s1 >= 0 && s1 == s2))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: sampler plan stores to slots %d and %d", s1,
                             s2);
    /* Commit: swap buffers, so no combination ever read a value written in this step. */
    run_value t = d->x;
    d->x = d->tmp[0];
    d->tmp[0] = t;
    if (s1 >= 0) {
        if (!d->hist[s1].buf && (st = run_value_alloc(d->rs, 5, d->shape, &d->hist[s1])) != DIO_OK) return st;
        t = d->hist[s1];
        d->hist[s1] = d->tmp[1];
        d->tmp[1] = t;
        d->hist_set[s1] = 1;
    }
    if (s2 >= 0) {
        if (!d->hist[s2].buf && (st = run_value_alloc(d->rs, 5, d->shape, &d->hist[s2])) != DIO_OK) return st;
        t = d->hist[s2];
        d->hist[s2] = d->tmp[2];
        d->tmp[2] = t;
        d->hist_set[s2] = 1;
    }
    return DIO_OK;
}

static dio_status inspect_step(run_state *rs, const graph_node *nd, int i, const char *what,
                               const run_value *v)
{
    char name[160];
    snprintf(name, sizeof(name), "%s.step%d.%s", nd->id, i, what);
    return run_inspect(rs, name, v);
}

dio_status run_denoise(run_state *rs, const graph_node *nd, run_value *out)
{
    denoise_state d;
    dio_component *dit = NULL;
    dio_sampler *sampler = NULL;
    long long W, H, F, steps, seed, nc, C, sf, tf;
    double g, cond_t;
    const char *formula = graph_node_param(nd, "guidance_formula"),
               *tin_mode = graph_node_param(nd, "time_input");
    const char *noise_name = graph_node_param(nd, "noise");
    const run_value *pos = run_input(rs, nd, "positive"), *neg = run_input(rs, nd, "negative");
    const run_value *cond = run_input(rs, nd, "cond_latents");
    double *sigmas = NULL, *timesteps = NULL;
    float *host = NULL;
    dio_noise_kind kind = DIO_NOISE_NUMPY;
    dio_status st;
    int32_t n;
    int by_timestep = tin_mode && strcmp(tin_mode, "timestep") == 0;
    memset(&d, 0, sizeof(d));
    d.rs = rs;
    if ((st = graph_param_int(nd, "width", 0, 8, 16384, &W)) != DIO_OK ||
        (st = graph_param_int(nd, "height", 0, 8, 16384, &H)) != DIO_OK ||
        (st = graph_param_int(nd, "frames", 0, 1, 100000, &F)) != DIO_OK ||
        (st = graph_param_int(nd, "steps", 0, 1, 10000, &steps)) != DIO_OK ||
        (st = graph_param_int(nd, "seed", 0, 0, 4294967295LL, &seed)) != DIO_OK ||
        (st = graph_param_int(nd, "cond_frames", 0, 0, 64, &nc)) != DIO_OK ||
        (st = graph_param_int(nd, "latent_channels", 16, 1, 1024, &C)) != DIO_OK ||
        (st = graph_param_int(nd, "spatial_factor", 8, 1, 64, &sf)) != DIO_OK ||
        (st = graph_param_int(nd, "temporal_factor", 4, 1, 64, &tf)) != DIO_OK ||
        (st = graph_param_double(nd, "guidance", 0, 0, 100, &g)) != DIO_OK ||
        (st = graph_param_double(nd, "cond_timestep", by_timestep ? 0.1 : 0.0001, 0, 1000, &cond_t)) !=
            DIO_OK)
        return st;
    if (noise_name && (st = dio_noise_kind_from_name(noise_name, &kind)) != DIO_OK) return st;
    F = rs->chunk_frames ? rs->chunk_frames : F;
    if (rs->chunk > 0) {
        nc = rs->chunk_cond_frames;
        cond = rs->chunk_cond;
        seed += rs->chunk;
    }
    if ((F - 1) % tf)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "pipeline: %s.params.frames: %lld is not 1 + %lld·k frames", nd->path, F, tf);
    if (W % sf || H % sf)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "pipeline: %s.params: %lldx%lld is not a multiple of %lld", nd->path, W, H, sf);
    d.shape[0] = 1;
    d.shape[1] = C;
    d.shape[2] = 1 + (F - 1) / tf;
    d.shape[3] = H / sf;
    d.shape[4] = W / sf;
    if (nc > d.shape[2])
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: %s: %lld conditioned latent frames of %lld",
                             nd->path, nc, (long long)d.shape[2]);
    if (nc > 0) {
        if (!cond)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                 "pipeline: %s: cond_frames is %lld but no cond_latents input", nd->path, nc);
        for (int i = 0; i < 5; i++)
            if (cond->t.ndim != 5 || cond->t.shape[i] != d.shape[i]) {
                char a[64], b[64];
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "pipeline: %s.inputs.cond_latents: shape %s, expected %s", nd->path,
                                     dio_shape_format(cond->t.ndim, cond->t.shape, a, sizeof(a)),
                                     dio_shape_format(5, d.shape, b, sizeof(b)));
            }
    }
    if ((st = run_get_sampler(rs, nd->uses[graph_node_use(nd, "sampler")].instance, &sampler)) != DIO_OK)
        return st;
    if ((n = dio_sampler_num_steps(sampler, (int32_t)steps)) < 1) return DIO_ERR_INVALID_ARGUMENT;
    if (!(sigmas = calloc((size_t)n + 1, sizeof(double))) ||
        !(timesteps = calloc((size_t)n, sizeof(double)))) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
        goto fail;
    }
    if ((st = dio_sampler_schedule(sampler, n, sigmas, timesteps)) != DIO_OK) goto fail;
    int64_t numel = 1, tshape[5] = {1, 1, d.shape[2], 1, 1},
            mshape[5] = {1, 1, d.shape[2], d.shape[3], d.shape[4]};
    for (int i = 0; i < 5; i++) numel *= d.shape[i];
    if ((st = run_value_alloc(rs, 5, d.shape, &d.x)) || (st = run_value_alloc(rs, 5, d.shape, &d.v)) ||
        (st = run_value_alloc(rs, 5, d.shape, &d.noise)) ||
        (st = run_value_alloc(rs, 5, d.shape, &d.out_pos)) ||
        (st = run_value_alloc(rs, 5, d.shape, &d.tin)) ||
        (st = run_value_alloc(rs, 5, tshape, &d.timestep)) ||
        (st = run_value_alloc(rs, 5, mshape, &d.mask)) || (st = run_value_alloc(rs, 5, d.shape, &d.tmp[0])) ||
        (st = run_value_alloc(rs, 5, d.shape, &d.tmp[1])) ||
        (st = run_value_alloc(rs, 5, d.shape, &d.tmp[2])) ||
        (neg && (st = run_value_alloc(rs, 5, d.shape, &d.out_neg))))
        goto fail;
    /* Initial noise, then x = scale · noise. */
    if ((st = dio_noise_create(kind, (uint64_t)seed, &d.gen)) != DIO_OK) goto fail;
    if (!(host = malloc((size_t)numel * sizeof(float)))) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
        goto fail;
    }
    if ((st = dio_noise_normal_f32(d.gen, host, (size_t)numel)) != DIO_OK) goto fail;
    if ((st = run_upload(rs, &d.noise, host)) != DIO_OK) goto fail;
    {
        double scale = dio_sampler_initial_noise_scale(sampler, n);
        if ((st = axpby(rs, &d.x.t, (float)scale, &d.noise.t, 0.0f, NULL)) != DIO_OK) goto fail;
    }
    {
        char name[160];
        snprintf(name, sizeof(name), "%s.latents_init", nd->id);
        if ((st = run_inspect(rs, name, &d.x)) != DIO_OK) goto fail;
    }
    if (nc > 0) {
        dio_tensor gt, in0, c0;
        if ((st = run_value_alloc(rs, 5, d.shape, &d.gt)) != DIO_OK) goto fail;
        gt = first_frames(&d.gt, nc);
        in0 = first_frames(&d.noise, nc);
        c0 = first_frames(cond, nc);
        if ((st = axpby(rs, &gt, 1.0f, &in0, -1.0f, &c0)) != DIO_OK) goto fail;
        char name[160];
        snprintf(name, sizeof(name), "%s.cond_latents", nd->id);
        if ((st = run_inspect(rs, name, cond)) != DIO_OK) goto fail;
    }
    /* The condition mask: 1 on conditioned frames. */
    {
        size_t plane = (size_t)(d.shape[3] * d.shape[4]);
        float *m = host; /* numel >= mask size */
        for (int64_t t = 0; t < d.shape[2]; t++)
            for (size_t p = 0; p < plane; p++) m[(size_t)t * plane + p] = t < nc ? 1.0f : 0.0f;
        if ((st = run_upload(rs, &d.mask, m)) != DIO_OK) goto fail;
    }
    if ((st = run_get_component(rs, nd->uses[graph_node_use(nd, "dit")].instance, &dit)) != DIO_OK) goto fail;
    const dio_component_iface *ci = dio_component_get_iface(dit);
    if (ci->n_inputs < 4) {
        st = dio_set_error(DIO_ERR_NOT_SUPPORTED,
                           "pipeline: %s: the dit needs latents, timestep, text_embeddings "
                           "and condition_mask ports",
                           nd->path);
        goto fail;
    }
    for (int32_t i = 0; i < n; i++) {
        dio_sampler_plan plan;
        const dio_tensor *in[5] = {&d.tin.t, &d.timestep.t, &pos->t, &d.mask.t, NULL};
        const dio_tensor *outp[1] = {&d.out_pos.t};
        if (run_cancelled(rs)) {
            st = dio_set_error(DIO_ERR_CANCELLED, "pipeline: cancelled at step %d of %d", i + 1, n);
            goto fail;
        }
        /* 1. inputs */
        if ((st = copy_op(rs, &d.tin.t, &d.x.t)) != DIO_OK) goto fail;
        if (nc > 0) {
            dio_tensor a = first_frames(&d.tin, nc), b = first_frames(cond, nc);
            if ((st = copy_op(rs, &a, &b)) != DIO_OK) goto fail;
        }
        for (int64_t t = 0; t < d.shape[2]; t++)
            host[t] = t < nc ? (float)cond_t : (float)(by_timestep ? timesteps[i] : sigmas[i]);
        if ((st = run_upload(rs, &d.timestep, host)) != DIO_OK) goto fail;
        if ((st = inspect_step(rs, nd, i, "transformer_in", &d.tin)) != DIO_OK ||
            (st = inspect_step(rs, nd, i, "timestep_in", &d.timestep)) != DIO_OK)
            goto fail;
        /* 2. the DiT, guided */
        if ((st = dio_component_run(dit, in, outp)) != DIO_OK) goto dit_failed;
        if ((st = inspect_step(rs, nd, i, "out_pos", &d.out_pos)) != DIO_OK) goto fail;
        if (neg) {
            in[2] = &neg->t;
            outp[0] = &d.out_neg.t;
            if ((st = dio_component_run(dit, in, outp)) != DIO_OK) goto dit_failed;
            if ((st = inspect_step(rs, nd, i, "out_neg", &d.out_neg)) != DIO_OK) goto fail;
            int v2w = !formula || strcmp(formula, "v2w") == 0;
            float a = v2w ? (float)(1.0 + g) : (float)g, b = v2w ? (float)-g : (float)(1.0 - g);
            if ((st = axpby(rs, &d.v.t, a, &d.out_pos.t, b, &d.out_neg.t)) != DIO_OK) goto fail;
        } else if ((st = copy_op(rs, &d.v.t, &d.out_pos.t)) != DIO_OK) {
            goto fail;
        }
        /* 3. conditioned frames follow the straight path to the condition */
        if (nc > 0) {
            dio_tensor a = first_frames(&d.v, nc), b = first_frames(&d.gt, nc);
            if ((st = copy_op(rs, &a, &b)) != DIO_OK) goto fail;
        }
        if ((st = inspect_step(rs, nd, i, "velocity", &d.v)) != DIO_OK) goto fail;
        /* 4. the sampler */
        memset(&plan, 0, sizeof(plan));
        plan.struct_size = sizeof(plan);
        plan.store_slot = plan.store2_slot = -1;
        if ((st = dio_sampler_step(sampler, i, n, &plan)) != DIO_OK) goto fail;
        if ((st = apply_plan(&d, &plan)) != DIO_OK) goto fail;
        if ((st = inspect_step(rs, nd, i, "latents", &d.x)) != DIO_OK) goto fail;
        run_progress(rs, "denoise", nd->id, i + 1, n);
    }
    *out = d.x;
    memset(&d.x, 0, sizeof(d.x));
    st = DIO_OK;
    goto fail;
dit_failed : {
    char msg[900];
    snprintf(msg, sizeof(msg), "%s", dio_last_error());
    st = dio_set_error(st, "pipeline: %s: the dit: %s", nd->path, msg);
}
fail:
    run_value_free(rs, &d.x);
    run_value_free(rs, &d.v);
    run_value_free(rs, &d.noise);
    run_value_free(rs, &d.out_pos);
    run_value_free(rs, &d.out_neg);
    run_value_free(rs, &d.tin);
    run_value_free(rs, &d.timestep);
    run_value_free(rs, &d.mask);
    run_value_free(rs, &d.gt);
    for (int i = 0; i < 3; i++) run_value_free(rs, &d.tmp[i]);
    for (int i = 0; i < DIO_SAMPLER_MAX_HISTORY; i++) run_value_free(rs, &d.hist[i]);
    dio_noise_destroy(d.gen);
    free(host);
    free(sigmas);
    free(timesteps);
    return st;
}
