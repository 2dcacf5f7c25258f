/* samplers — the shared schedule code (see sched.h).
 *
 * Schedule B follows diffusers' Karras branch (ramp = linspace(0, 1, n) as numpy forms it, i·(1/(n−1))
 * with the last point exactly 1) for convention=diffusers, and the native formula (ramp = i/N, N + 1
 * points for N steps) for convention=native; both then take σ_edm^(1/ρ) interpolation to the power ρ,
 * map to σ/(1+σ), round to float32 and append 0. Schedule A takes linspace(σ_max, σ_min, N+1)[:N] as numpy
 * forms it (i·step + start), shifts it by s·σ/(1 + (s−1)·σ), rounds to float32 and appends 0; σ_max is
 * held as float32 first, as the native train grid holds 0.999. Timesteps truncate the float64 σ·1000. */
#include "sched.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const dio_param_desc flow_sched_params[FLOW_SCHED_N_PARAMS] = {
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "schedule", "karras", 0, -1, "karras|shift",
     "karras: schedule B, EDM sigmas from sigma_max to sigma_min with rho, mapped to s/(1+s), then 0 (the "
     "diffusers Cosmos-Predict2.5 scheduler, native 2B post-trained); shift: schedule A, "
     "linspace(sigma_max, sigma_min, N+1)[:N] shifted by s*x/(1+(s-1)*x), then 0 (native 2B pre-trained, "
     "14B, "
     "Transfer2.5)"},
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "convention", "diffusers", 0, -1, "diffusers|native",
     "karras only: the step count. diffusers: N steps are N Karras points (N evaluations); native: N steps "
     "are N+1 points i/N (N+1 evaluations), so native 35 = diffusers 36"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "shift", "5", 1e-3, 1e3, NULL,
     "shift schedule: the flow shift s (native default 5)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "sigma_max", NULL, 1e-6, 1e6, NULL,
     "karras: the largest EDM sigma (default 200); shift: the top of the unshifted grid, at most 1, held as "
     "float32 (default 0.999)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "sigma_min", NULL, 0, 1e6, NULL,
     "karras: the smallest EDM sigma, above 0 (default 0.01); shift: the bottom of the unshifted grid, which "
     "linspace(...)[:N] leaves out (default 0)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rho", "7", 0.1, 100, NULL, "karras: the EDM rho (default 7)"},
};

static const char *param(const dio_kv *params, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (params[i].key && strcmp(params[i].key, key) == 0) return params[i].value;
    return NULL;
}

static dio_status num(const dio_host_services *host, const char *who, const char *key, const char *v,
                      double *out)
{
    char *end = NULL;
    double x;
    errno = 0;
    x = strtod(v, &end);
    if (!v[0] || *end || errno == ERANGE || !isfinite(x))
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: parameter \"%s\" = \"%s\" is not a number", who,
                               key, v);
    *out = x;
    return DIO_OK;
}

dio_status flow_sched_parse(const dio_host_services *host, const char *who, const dio_kv *params,
                            size_t n_params, flow_sched *out)
{
    flow_sched s;
    const char *v;
    dio_status st;
    memset(&s, 0, sizeof(s));
    v = param(params, n_params, "schedule");
    if (v && strcmp(v, "karras") && strcmp(v, "shift"))
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: schedule \"%s\" is not one of karras|shift",
                               who, v);
    s.karras = !v || strcmp(v, "karras") == 0;
    v = param(params, n_params, "convention");
    if (v && strcmp(v, "diffusers") && strcmp(v, "native"))
        return host->set_error(DIO_ERR_INVALID_ARGUMENT,
                               "%s: convention \"%s\" is not one of diffusers|native", who, v);
    s.native = v && strcmp(v, "native") == 0;
    s.shift = 5.0;
    s.rho = 7.0;
    s.sigma_max = s.karras ? 200.0 : 0.999;
    s.sigma_min = s.karras ? 0.01 : 0.0;
    if ((v = param(params, n_params, "shift")) && (st = num(host, who, "shift", v, &s.shift)) != DIO_OK)
        return st;
    if ((v = param(params, n_params, "rho")) && (st = num(host, who, "rho", v, &s.rho)) != DIO_OK) return st;
    if ((v = param(params, n_params, "sigma_max")) &&
        (st = num(host, who, "sigma_max", v, &s.sigma_max)) != DIO_OK)
        return st;
    if ((v = param(params, n_params, "sigma_min")) &&
        (st = num(host, who, "sigma_min", v, &s.sigma_min)) != DIO_OK)
        return st;
    if (s.shift <= 0 || s.rho <= 0)
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: shift and rho must be positive", who);
    if (!s.karras) s.sigma_max = (double)(float)s.sigma_max;
    if (!(s.sigma_min >= 0 && s.sigma_min < s.sigma_max))
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: sigma_min = %g must lie in [0, sigma_max = %g)",
                               who, s.sigma_min, s.sigma_max);
    if (s.karras && s.sigma_min <= 0)
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: the karras schedule needs sigma_min > 0", who);
    if (!s.karras && s.sigma_max > 1.0)
        return host->set_error(
            DIO_ERR_INVALID_ARGUMENT,
            "%s: the shift schedule's sigma_max = %g is a flow sigma and must be at most 1", who,
            s.sigma_max);
    *out = s;
    return DIO_OK;
}

int32_t flow_sched_num_steps(const flow_sched *s, const dio_host_services *host, const char *who,
                             int32_t requested)
{
    int32_t extra = s->karras && s->native ? 1 : 0;
    if (requested < 1 || requested > SCHED_MAX_STEPS - extra) {
        host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: %d steps requested; the flow schedules take 1 ... %d",
                        who, requested, SCHED_MAX_STEPS - extra);
        return 0;
    }
    return requested + extra;
}

dio_status flow_sched_build(const flow_sched *s, const dio_host_services *host, const char *who, int32_t n,
                            double *sigmas, double *timesteps)
{
    if (n < 1 || n > SCHED_MAX_STEPS)
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: a schedule of %d steps (1 ... %d)", who, n,
                               SCHED_MAX_STEPS);
    if (s->karras) {
        double max_inv = pow(s->sigma_max, 1.0 / s->rho), min_inv = pow(s->sigma_min, 1.0 / s->rho);
        double step = 0;
        if (s->native && n < 2)
            return host->set_error(
                DIO_ERR_INVALID_ARGUMENT,
                "%s: with convention=native, N karras steps are N+1 >= 2 evaluations; n = %d is "
                "not a count num_steps returns",
                who, n);
        if (!s->native && n > 1) step = 1.0 / (double)(n - 1);
        for (int32_t i = 0; i < n; i++) {
            double ramp, edm, f;
            if (s->native)
                ramp = (double)i / (double)(n - 1);
            else
                ramp = i == n - 1 && n > 1 ? 1.0 : (double)i * step;
            edm = pow(max_inv + ramp * (min_inv - max_inv), s->rho);
            f = edm / (1.0 + edm);
            sigmas[i] = (double)(float)f;
            timesteps[i] = (double)(int64_t)(f * 1000.0);
        }
    } else {
        double delta = s->sigma_min - s->sigma_max, step = delta / (double)n;
        for (int32_t i = 0; i < n; i++) {
            double g = (double)i * step + s->sigma_max;
            double f = s->shift * g / (1.0 + (s->shift - 1.0) * g);
            sigmas[i] = (double)(float)f;
            timesteps[i] = (double)(int64_t)(f * 1000.0);
        }
    }
    sigmas[n] = 0.0;
    return DIO_OK;
}

dio_status flow_table_get(flow_table *t, const flow_sched *s, const dio_host_services *host, const char *who,
                          int32_t n)
{
    double *sg = NULL, *ts = NULL;
    dio_status st;
    if (t->n == n) return DIO_OK;
    if (n < 1 || n > SCHED_MAX_STEPS)
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: a schedule of %d steps (1 ... %d)", who, n,
                               SCHED_MAX_STEPS);
    sg = malloc(sizeof(double) * (size_t)(n + 1));
    ts = malloc(sizeof(double) * (size_t)n);
    if (!sg || !ts) {
        st = host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for a schedule of %d steps", who,
                             n);
        goto fail;
    }
    if ((st = flow_sched_build(s, host, who, n, sg, ts)) != DIO_OK) goto fail;
    flow_table_free(t);
    t->sigmas = sg;
    t->timesteps = ts;
    t->n = n;
    return DIO_OK;
fail:
    free(sg);
    free(ts);
    return st;
}

void flow_table_free(flow_table *t)
{
    free(t->sigmas);
    free(t->timesteps);
    t->sigmas = t->timesteps = NULL;
    t->n = 0;
}

double trig_to_rf(double tau)
{
    return sin(tau) / (cos(tau) + sin(tau));
}

void lin_axpby(lin_comb *out, double a, const lin_comb *p, double b, const lin_comb *q)
{
    lin_comb r;
    memset(&r, 0, sizeof(r));
    if (p) {
        r.x += a * p->x;
        r.model += a * p->model;
        r.noise += a * p->noise;
        for (int k = 0; k < DIO_SAMPLER_MAX_HISTORY; k++) r.hist[k] += a * p->hist[k];
    }
    if (q) {
        r.x += b * q->x;
        r.model += b * q->model;
        r.noise += b * q->noise;
        for (int k = 0; k < DIO_SAMPLER_MAX_HISTORY; k++) r.hist[k] += b * q->hist[k];
    }
    *out = r;
}

static int32_t add_term(dio_sampler_term *t, int32_t n, int32_t operand, int32_t slot, double coef)
{
    if (coef == 0.0) return n;
    t[n].operand = operand;
    t[n].slot = slot;
    t[n].coef = coef;
    return n + 1;
}

int32_t lin_to_terms(const lin_comb *c, dio_sampler_term *terms)
{
    int32_t n = 0;
    n = add_term(terms, n, DIO_SAMPLER_X, 0, c->x);
    n = add_term(terms, n, DIO_SAMPLER_MODEL_OUTPUT, 0, c->model);
    n = add_term(terms, n, DIO_SAMPLER_NOISE, 0, c->noise);
    for (int32_t k = 0; k < DIO_SAMPLER_MAX_HISTORY; k++)
        n = add_term(terms, n, DIO_SAMPLER_HISTORY, k, c->hist[k]);
    return n;
}

void plan_init(dio_sampler_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->struct_size = sizeof(*p);
    p->store_slot = -1;
    p->store2_slot = -1;
}

dio_status check_step(const dio_host_services *host, const char *who, int32_t i, int32_t n)
{
    if (n < 1 || i < 0 || i >= n)
        return host->set_error(DIO_ERR_INVALID_ARGUMENT, "%s: step %d of %d does not exist", who, i, n);
    return DIO_OK;
}
