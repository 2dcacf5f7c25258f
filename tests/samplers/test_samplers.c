/* The sampler plugins (plugins/samplers) through the host API against tests/fixtures/schedulers
 * (tests/reference/gen_schedulers.py, diffusers 0.42.1 and the rules written from the notes).
 *
 * Plans are applied here, on the host, as a runner would: every combination of a plan reads the operands
 * as they were when the step began, then the stores are written and x is replaced; a history slot never
 * stored reads as zeros. The applier runs in float64 (the rule itself) and in float32 (what a device
 * runner does: coefficients rounded to f32, terms accumulated in f32).
 * Modes:
 *  tables  every table.{A,B}.{diffusers,native}.N{1,4,10,35,36}: sigmas exact in f32 (native: within
 *          1 ulp), timesteps exact, from both flow samplers; schedule A is not diffusers' own Wan grid.
 *  unipc   every UniPC run (schedules B and A, N = 4 and 10): the schedule, then x0_pred.i (the plan's
 *          store), corrected.i (store2) and sample.{i+1} (the next latent) per step, both from the stored
 *          state of step i and along the whole chain, within atol 1e-6 + rtol 1e-6 (the float32 chain,
 *          two f32 orders against each other, within twice that); the last plan is exactly the x0
 *          estimate.
 *  dmd2    the 4-step chain against dmd2.*: the fixture is in TrigFlow space and the runner in RF space,
 *          x_rf = x_trig/(cos τ + sin τ), which is exactly the preconditioned net input x_trig·c_in; so
 *          net_input.k is compared with our x_k directly and x.{k+1} with our x_{k+1}·(cos τ + sin τ);
 *          the output x0.3 is clean (the same in both spaces).
 *  rcm     the 1-, 2- and 4-step chains against rcm.N{n}.* (t_0·noise start, fresh noise per step,
 *          net_time = t·1000), within 1e-6.
 *  euler   flow-euler on an exactly linear flow (v = ε − x0 at every step) lands on x0.
 *  errors  unknown sampler, unknown / out-of-range / badly typed parameters, inconsistent ones, and step
 *          counts that do not fit (dmd2 n ≠ 4, rCM n outside 1 ... 4, native karras n = 1, i outside n).
 *  abi10   an ABI 1.0 plugin: initial_noise_scale 1.0 and plans with store2 absent.
 * Usage: test_samplers MODE PLUGIN_DIR FIXTURE_DIR FAKE_V10_PLUGIN */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"
#include "fixture_read.h"

static int failures;
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL line %d: ", __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

static const char *plugin_dir, *fix_dir, *fake_path;
static dio_context *ctx;
static fixture *fx;
static cJSON *meta;

#define N_LAT (1 * 16 * 2 * 4 * 6)

/* ---- helpers ---- */

static cJSON *load_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;
    cJSON *j = NULL;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        char *q;
        buf[n] = 0;
        /* Python's json writes the h = inf of the last UniPC step as Infinity, which is not JSON: make it
         * a number that strtod reads as infinity (same length, so nothing moves). */
        while ((q = strstr(buf, "Infinity"))) memcpy(q, "1e999   ", 8);
        j = cJSON_Parse(buf);
    }
    free(buf);
    fclose(f);
    return j;
}

static double *get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static double *get(const char *fmt, ...)
{
    char name[256];
    va_list ap;
    double *v;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    v = fixture_f64(fx, name, NULL);
    CHECK(v, "fixture tensor %s missing", name);
    return v;
}

static size_t count_of(const char *name)
{
    size_t n = 0;
    return fixture_raw(fx, name, NULL, &n) ? n : 0;
}

static dio_sampler *make(const char *name, const dio_kv *kv, size_t n)
{
    dio_sampler *s = NULL;
    dio_status st = dio_sampler_create(ctx, name, kv, n, &s);
    CHECK(st == DIO_OK && s, "dio_sampler_create(%s): %s", name, dio_last_error());
    return s;
}

/* Distance in float32 ulps (both finite). */
static long ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = (int32_t)0x80000000 - ia;
    if (ib < 0) ib = (int32_t)0x80000000 - ib;
    return labs((long)ia - (long)ib);
}

typedef struct errstat {
    double max_abs, max_ratio; /* ratio: error / (atol + rtol·|ref|) */
} errstat;

static void compare(errstat *e, const char *what, const double *got, const double *ref, size_t n, double atol,
                    double rtol)
{
    double worst = 0, worst_ratio = 0;
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs(got[k] - ref[k]), r = d / (atol + rtol * fabs(ref[k]));
        if (!(r <= worst_ratio)) {
            worst_ratio = r;
            at = k;
        }
        if (d > worst) worst = d;
    }
    if (e) {
        if (worst > e->max_abs) e->max_abs = worst;
        if (worst_ratio > e->max_ratio) e->max_ratio = worst_ratio;
    }
    CHECK(worst_ratio <= 1.0, "%s: [%zu] %.9g vs %.9g (error %.3g, tolerance %.3g)", what, at, got[at],
          ref[at], fabs(got[at] - ref[at]), atol + rtol * fabs(ref[at]));
}

/* ---- the host-side plan applier ---- */

typedef struct chain {
    double *x;
    double *hist[DIO_SAMPLER_MAX_HISTORY]; /* NULL: never stored (zeros) */
    int f32;                               /* apply in float32 */
} chain;

static void chain_free(chain *c)
{
    free(c->x);
    for (int k = 0; k < DIO_SAMPLER_MAX_HISTORY; k++) free(c->hist[k]);
    memset(c, 0, sizeof(*c));
}

static void chain_set(double **dst, const double *src)
{
    if (!*dst) *dst = malloc(N_LAT * sizeof(double));
    memcpy(*dst, src, N_LAT * sizeof(double));
}

/* out = Σ terms over the chain's state; 0 when an operand is missing. */
static int combine(const chain *c, const dio_sampler_term *t, int32_t n_terms, const double *mo,
                   const double *noise, double *out)
{
    for (size_t e = 0; e < N_LAT; e++) out[e] = 0;
    if (c->f32) {
        float *acc = calloc(N_LAT, sizeof(float));
        for (int32_t k = 0; k < n_terms; k++) {
            const double *src = t[k].operand == DIO_SAMPLER_X              ? c->x
                                : t[k].operand == DIO_SAMPLER_MODEL_OUTPUT ? mo
                                : t[k].operand == DIO_SAMPLER_NOISE        ? noise
                                                                           : c->hist[t[k].slot];
            float coef = (float)t[k].coef;
            if (!src && t[k].operand != DIO_SAMPLER_HISTORY) {
                free(acc);
                return 0;
            }
            if (src)
                for (size_t e = 0; e < N_LAT; e++) acc[e] = acc[e] + coef * (float)src[e];
        }
        for (size_t e = 0; e < N_LAT; e++) out[e] = acc[e];
        free(acc);
        return 1;
    }
    for (int32_t k = 0; k < n_terms; k++) {
        const double *src = t[k].operand == DIO_SAMPLER_X              ? c->x
                            : t[k].operand == DIO_SAMPLER_MODEL_OUTPUT ? mo
                            : t[k].operand == DIO_SAMPLER_NOISE        ? noise
                                                                       : c->hist[t[k].slot];
        if (!src && t[k].operand != DIO_SAMPLER_HISTORY) return 0;
        if (src)
            for (size_t e = 0; e < N_LAT; e++) out[e] += t[k].coef * src[e];
    }
    return 1;
}

/* Applies plan p; the stored combinations are returned in st1/st2 (when the plan has them). */
static void chain_apply(chain *c, const dio_sampler_plan *p, const double *mo, const double *noise,
                        double *st1, double *st2)
{
    double next[N_LAT];
    CHECK(combine(c, p->terms, p->n_terms, mo, noise, next), "a plan reads an operand the test did not give");
    if (p->store_slot >= 0)
        CHECK(combine(c, p->store_terms, p->n_store_terms, mo, noise, st1), "store operand");
    if (p->store2_slot >= 0)
        CHECK(combine(c, p->store2_terms, p->n_store2_terms, mo, noise, st2), "store2 operand");
    if (p->store_slot >= 0) chain_set(&c->hist[p->store_slot], st1);
    if (p->store2_slot >= 0) chain_set(&c->hist[p->store2_slot], st2);
    chain_set(&c->x, next);
}

/* ---- tables ---- */

static void check_table(const char *sampler, const char *tag, const char *conv, int n_req, errstat *ulp_stat)
{
    char key[128];
    int karras = tag[0] == 'B', native = !strcmp(conv, "native");
    dio_kv kv[2] = {{"schedule", karras ? "karras" : "shift"},
                    {"convention", native ? "native" : "diffusers"}};
    dio_sampler *s = make(sampler, kv, 2);
    double *ref_s, *ref_t, sig[64], ts[64];
    size_t ns, nt;
    int32_t n;
    long worst = 0;
    int bad_t = 0;
    if (!s) return;
    snprintf(key, sizeof(key), "table.%s.%s.N%d.sigmas", tag, conv, n_req);
    ns = count_of(key);
    ref_s = get("%s", key);
    snprintf(key, sizeof(key), "table.%s.%s.N%d.timesteps", tag, conv, n_req);
    nt = count_of(key);
    ref_t = get("%s", key);
    n = dio_sampler_num_steps(s, n_req);
    CHECK(n >= 1 && (size_t)n == nt && (size_t)n + 1 == ns, "%s %s/%s N=%d: %d steps, the table has %zu",
          sampler, tag, conv, n_req, n, nt);
    if (ref_s && ref_t && n >= 1 && (size_t)n == nt && n < 63) {
        CHECK(dio_sampler_schedule(s, n, sig, ts) == DIO_OK, "schedule: %s", dio_last_error());
        for (int32_t i = 0; i <= n; i++) {
            long u = ulps((float)sig[i], (float)ref_s[i]);
            CHECK(sig[i] == (double)(float)sig[i], "sigma %d is not a float32 value", i);
            if (u > worst) worst = u;
        }
        for (int32_t i = 0; i < n; i++) bad_t += ts[i] != ref_t[i];
        CHECK(worst <= (native ? 1 : 0), "%s table %s/%s N=%d: sigmas %ld ulp off", sampler, tag, conv, n_req,
              worst);
        CHECK(!bad_t, "%s table %s/%s N=%d: %d timesteps differ", sampler, tag, conv, n_req, bad_t);
        if (worst > ulp_stat->max_abs) ulp_stat->max_abs = (double)worst;
    }
    free(ref_s);
    free(ref_t);
    dio_sampler_destroy(s);
}

static void run_tables(void)
{
    static const int steps[] = {1, 4, 10, 35, 36};
    static const char *const samplers[] = {"flow-unipc", "flow-euler"};
    errstat st[4] = {{0}};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 5; j++) {
            check_table(samplers[k], "B", "diffusers", steps[j], &st[0]);
            check_table(samplers[k], "B", "native", steps[j], &st[1]);
            check_table(samplers[k], "A", "diffusers", steps[j], &st[2]);
            check_table(samplers[k], "A", "native", steps[j], &st[3]);
        }
    printf(
        "tables: max sigma ulps B/diffusers %g, B/native %g, A/diffusers %g, A/native %g (timesteps exact)\n",
        st[0].max_abs, st[1].max_abs, st[2].max_abs, st[3].max_abs);
    /* schedule A is not diffusers' own flow grid (table.A_wan_grid) */
    for (int j = 1; j < 5; j++) {
        dio_kv kv = {"schedule", "shift"};
        dio_sampler *s = make("flow-unipc", &kv, 1);
        double sig[64], ts[64], *wan = get("table.A_wan_grid.diffusers.N%d.timesteps", steps[j]);
        int same = 1;
        if (s && wan && dio_sampler_schedule(s, steps[j], sig, ts) == DIO_OK)
            for (int i = 0; i < steps[j]; i++) same &= ts[i] == wan[i];
        CHECK(!same, "schedule A N=%d equals diffusers' Wan grid", steps[j]);
        free(wan);
        dio_sampler_destroy(s);
    }
    /* diffusers N=36 is native N=35 */
    {
        dio_kv kd = {"convention", "diffusers"}, kn = {"convention", "native"};
        dio_sampler *a = make("flow-unipc", &kd, 1), *b = make("flow-unipc", &kn, 1);
        double s1[40], t1[40], s2[40], t2[40];
        if (a && b) {
            CHECK(dio_sampler_num_steps(a, 36) == 36 && dio_sampler_num_steps(b, 35) == 36, "36 / 35 steps");
            dio_sampler_schedule(a, 36, s1, t1);
            dio_sampler_schedule(b, 36, s2, t2);
            CHECK(!memcmp(s1, s2, sizeof(double) * 37) && !memcmp(t1, t2, sizeof(double) * 36),
                  "diffusers 36 and native 35 differ");
        }
        dio_sampler_destroy(a);
        dio_sampler_destroy(b);
    }
}

/* ---- UniPC ---- */

static void run_unipc_case(const char *tag, int n_req, errstat *per_step, errstat *whole, errstat *whole32)
{
    dio_kv kv = {"schedule", tag[0] == 'B' ? "karras" : "shift"};
    dio_sampler *s = make("flow-unipc", &kv, 1);
    char pre[64];
    double sig[16], ts[16], *rs, *rt;
    double *sample[12] = {0}, *mo[12] = {0}, *x0p[12] = {0}, *corr[12] = {0};
    dio_sampler_plan plans[12];
    double st1[N_LAT], st2[N_LAT];
    int32_t n;
    if (!s) return;
    snprintf(pre, sizeof(pre), "unipc.%s.N%d", tag, n_req);
    n = dio_sampler_num_steps(s, n_req);
    CHECK(n == n_req, "%s: %d steps", pre, n);
    if (n != n_req) goto done;
    rs = get("%s.sigmas", pre);
    rt = get("%s.timesteps", pre);
    CHECK(dio_sampler_schedule(s, n, sig, ts) == DIO_OK, "%s schedule: %s", pre, dio_last_error());
    if (rs && rt) {
        for (int i = 0; i <= n; i++)
            CHECK((float)sig[i] == (float)rs[i], "%s sigma %d: %.9g vs %.9g", pre, i, sig[i], rs[i]);
        for (int i = 0; i < n; i++) CHECK(ts[i] == rt[i], "%s timestep %d: %g vs %g", pre, i, ts[i], rt[i]);
    }
    free(rs);
    free(rt);
    for (int i = 0; i <= n; i++) sample[i] = get("%s.sample.%d", pre, i);
    for (int i = 0; i < n; i++) {
        mo[i] = get("%s.model_output.%d", pre, i);
        x0p[i] = get("%s.x0_pred.%d", pre, i);
        corr[i] = i ? get("%s.corrected.%d", pre, i) : NULL;
        CHECK(dio_sampler_step(s, i, n, &plans[i]) == DIO_OK, "%s step %d: %s", pre, i, dio_last_error());
        CHECK(plans[i].store_slot >= 0 && plans[i].store2_slot >= 0, "%s step %d: UniPC stores m and x^c",
              pre, i);
    }
    for (int i = 0; i <= n; i++)
        if (!sample[i]) goto done;
    for (int i = 0; i < n; i++)
        if (!mo[i] || !x0p[i] || (i && !corr[i])) goto done;
    /* the last plan is exactly the x0 estimate: the same terms as its store */
    CHECK(plans[n - 1].n_terms == plans[n - 1].n_store_terms &&
              !memcmp(plans[n - 1].terms, plans[n - 1].store_terms,
                      sizeof(dio_sampler_term) * (size_t)plans[n - 1].n_terms),
          "%s: the last step is not exactly m", pre);

    /* per step, from the stored state of step i */
    for (int i = 0; i < n; i++) {
        chain c = {0};
        char what[128];
        chain_set(&c.x, sample[i]);
        for (int j = 0; j < i; j++) {
            chain_set(&c.hist[plans[j].store_slot], x0p[j]);
            chain_set(&c.hist[plans[j].store2_slot], j ? corr[j] : sample[0]);
        }
        chain_apply(&c, &plans[i], mo[i], NULL, st1, st2);
        snprintf(what, sizeof(what), "%s per-step %d x0_pred", pre, i);
        compare(per_step, what, st1, x0p[i], N_LAT, 1e-6, 1e-6);
        snprintf(what, sizeof(what), "%s per-step %d corrected", pre, i);
        compare(per_step, what, st2, i ? corr[i] : sample[0], N_LAT, 1e-6, 1e-6);
        snprintf(what, sizeof(what), "%s per-step %d sample.%d", pre, i, i + 1);
        compare(per_step, what, c.x, sample[i + 1], N_LAT, 1e-6, 1e-6);
        chain_free(&c);
    }
    /* the whole chain from sample.0, in float64 and in float32 */
    for (int f32 = 0; f32 < 2; f32++) {
        chain c = {0};
        errstat *e = f32 ? whole32 : whole;
        /* float64: the fixture's tolerance. float32: two f32 evaluations in different orders (ours and
         * diffusers'), each within the README's f32 noise (8.7e-7) of the exact rule, so twice it. */
        double tol = f32 ? 2e-6 : 1e-6;
        c.f32 = f32;
        chain_set(&c.x, sample[0]);
        for (int i = 0; i < n; i++) {
            char what[128];
            chain_apply(&c, &plans[i], mo[i], NULL, st1, st2);
            snprintf(what, sizeof(what), "%s chain(%s) %d x0_pred", pre, f32 ? "f32" : "f64", i);
            compare(e, what, st1, x0p[i], N_LAT, tol, tol);
            snprintf(what, sizeof(what), "%s chain(%s) %d corrected", pre, f32 ? "f32" : "f64", i);
            compare(e, what, st2, i ? corr[i] : sample[0], N_LAT, tol, tol);
            snprintf(what, sizeof(what), "%s chain(%s) sample.%d", pre, f32 ? "f32" : "f64", i + 1);
            compare(e, what, c.x, sample[i + 1], N_LAT, tol, tol);
        }
        chain_free(&c);
    }
done:
    for (int i = 0; i < 12; i++) {
        free(sample[i]);
        free(mo[i]);
        free(x0p[i]);
        free(corr[i]);
    }
    dio_sampler_destroy(s);
}

static void run_unipc(void)
{
    errstat per = {0}, whole = {0}, whole32 = {0};
    run_unipc_case("B", 4, &per, &whole, &whole32);
    run_unipc_case("B", 10, &per, &whole, &whole32);
    run_unipc_case("A", 4, &per, &whole, &whole32);
    run_unipc_case("A", 10, &per, &whole, &whole32);
    printf(
        "unipc: max abs error per-step f64 %.3g (%.2f of tolerance), chain f64 %.3g (%.2f), chain f32 %.3g "
        "(%.2f)\n",
        per.max_abs, per.max_ratio, whole.max_abs, whole.max_ratio, whole32.max_abs, whole32.max_ratio);
}

/* ---- DMD2 ---- */

static void run_dmd2(void)
{
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(meta, "dmd2_trigflow");
    const cJSON *taus = cJSON_GetObjectItemCaseSensitive(dm, "taus"),
                *steps = cJSON_GetObjectItemCaseSensitive(dm, "steps");
    dio_sampler *s = make("dmd2", NULL, 0);
    double sig[8], ts[8], *init = NULL, *f[4] = {0}, *nin[4] = {0}, *xs[4] = {0}, *x0 = NULL, st1[N_LAT],
                          st2[N_LAT];
    errstat e = {0};
    chain c = {0};
    if (!s || !cJSON_IsArray(taus) || !cJSON_IsArray(steps)) {
        CHECK(0, "dmd2: no sampler or no fixture metadata");
        goto done;
    }
    CHECK(dio_sampler_num_steps(s, 4) == 4 && dio_sampler_num_steps(s, 35) == 4,
          "dmd2 num_steps is not fixed to 4");
    CHECK(dio_sampler_initial_noise_scale(s, 4) == 1.0, "dmd2 starts at the noise itself");
    CHECK(dio_sampler_schedule(s, 4, sig, ts) == DIO_OK, "dmd2 schedule: %s", dio_last_error());
    for (int k = 0; k < 4; k++) {
        const cJSON *st = cJSON_GetArrayItem(steps, k);
        double t = cJSON_GetObjectItemCaseSensitive(st, "rf_t")->valuedouble;
        double cn = cJSON_GetObjectItemCaseSensitive(st, "c_noise")->valuedouble;
        CHECK(fabs(sig[k] - t) <= 1e-15 && fabs(ts[k] - cn) <= 1e-15,
              "dmd2 time %d: %.17g / %.17g vs %.17g / %.17g", k, sig[k], ts[k], t, cn);
    }
    CHECK(sig[4] == 0.0, "dmd2 last sigma %g", sig[4]);
    init = get("dmd2.init_noise");
    x0 = get("dmd2.x0.3");
    for (int k = 0; k < 4; k++) {
        f[k] = get("dmd2.net_output.%d", k);
        nin[k] = get("dmd2.net_input.%d", k);
        if (k) xs[k] = get("dmd2.x.%d", k);
    }
    if (!init || !x0) goto done;
    chain_set(&c.x, init);
    for (int k = 0; k < 4; k++) {
        dio_sampler_plan p;
        char what[64];
        if (!f[k] || !nin[k]) goto done;
        snprintf(what, sizeof(what), "dmd2 net_input.%d", k);
        compare(&e, what, c.x, nin[k], N_LAT, 1e-6, 0);
        CHECK(dio_sampler_step(s, k, 4, &p) == DIO_OK, "dmd2 step %d: %s", k, dio_last_error());
        CHECK(p.n_terms <= 3, "dmd2 plan of %d terms", p.n_terms);
        chain_apply(&c, &p, f[k], NULL, st1, st2);
        if (k < 3 && xs[k + 1]) {
            double tau = cJSON_GetArrayItem(taus, k + 1)->valuedouble, sc = cos(tau) + sin(tau), trig[N_LAT];
            for (size_t i = 0; i < N_LAT; i++) trig[i] = c.x[i] * sc;
            snprintf(what, sizeof(what), "dmd2 x.%d (TrigFlow)", k + 1);
            compare(&e, what, trig, xs[k + 1], N_LAT, 1e-6, 0);
        }
    }
    compare(&e, "dmd2 output x0.3", c.x, x0, N_LAT, 1e-6, 0);
    printf("dmd2: max abs error %.3g over net inputs, x.1-3 and x0.3\n", e.max_abs);
done:
    chain_free(&c);
    free(init);
    free(x0);
    for (int k = 0; k < 4; k++) {
        free(f[k]);
        free(nin[k]);
        free(xs[k]);
    }
    dio_sampler_destroy(s);
}

/* ---- rCM ---- */

static void run_rcm(void)
{
    static const int ns[] = {1, 2, 4};
    errstat e = {0};
    double max_t = 0;
    for (int j = 0; j < 3; j++) {
        int n = ns[j];
        char key[32];
        const cJSON *m, *rf;
        dio_sampler *s = make("rcm", NULL, 0);
        double sig[8], ts[8], scale, *init, *x, st1[N_LAT], st2[N_LAT];
        chain c = {0};
        snprintf(key, sizeof(key), "N%d", n);
        m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(meta, "rcm"), key);
        rf = cJSON_GetObjectItemCaseSensitive(m, "rf_t");
        if (!s || !cJSON_IsArray(rf)) {
            CHECK(0, "rcm N%d: no sampler or metadata", n);
            dio_sampler_destroy(s);
            continue;
        }
        CHECK(dio_sampler_num_steps(s, n) == n, "rcm: %d steps for %d", dio_sampler_num_steps(s, n), n);
        CHECK(dio_sampler_schedule(s, n, sig, ts) == DIO_OK, "rcm schedule: %s", dio_last_error());
        for (int k = 0; k <= n; k++) {
            double t = cJSON_GetArrayItem(rf, k)->valuedouble;
            CHECK(fabs(sig[k] - t) <= 1e-15, "rcm N%d t_%d %.17g vs %.17g", n, k, sig[k], t);
            if (fabs(sig[k] - t) > max_t) max_t = fabs(sig[k] - t);
        }
        for (int k = 0; k < n; k++) {
            double *nt = get("rcm.N%d.net_time.%d", n, k);
            if (nt)
                CHECK(fabs(ts[k] - nt[0]) <= 1e-12, "rcm N%d net_time %d: %.17g vs %.17g", n, k, ts[k],
                      nt[0]);
            free(nt);
        }
        scale = dio_sampler_initial_noise_scale(s, n);
        init = get("rcm.N%d.init_noise", n);
        x = get("rcm.N%d.x.0", n);
        if (init && x) {
            for (size_t i = 0; i < N_LAT; i++) init[i] *= scale;
            compare(&e, "rcm x.0 = t0 * noise", init, x, N_LAT, 1e-6, 0);
            chain_set(&c.x, init);
            for (int k = 0; k < n; k++) {
                dio_sampler_plan p;
                double *v = get("rcm.N%d.v.%d", n, k),
                       *fresh = k + 1 < n ? get("rcm.N%d.fresh_noise.%d", n, k) : NULL;
                double *ref = get("rcm.N%d.x.%d", n, k + 1);
                char what[64];
                CHECK(dio_sampler_step(s, k, n, &p) == DIO_OK, "rcm step: %s", dio_last_error());
                if (v && ref) {
                    chain_apply(&c, &p, v, fresh, st1, st2);
                    snprintf(what, sizeof(what), "rcm N%d x.%d", n, k + 1);
                    compare(&e, what, c.x, ref, N_LAT, 1e-6, 0);
                }
                free(v);
                free(fresh);
                free(ref);
            }
        }
        free(init);
        free(x);
        chain_free(&c);
        dio_sampler_destroy(s);
    }
    printf("rcm: max abs error %.3g over x.0 ... x.n (n = 1, 2, 4); times within %.3g\n", e.max_abs, max_t);
}

/* ---- Euler ---- */

static void run_euler(void)
{
    static const char *const sched[] = {"karras", "shift"};
    double worst = 0;
    for (int k = 0; k < 2; k++) {
        dio_kv kv = {"schedule", sched[k]};
        dio_sampler *s = make("flow-euler", &kv, 1);
        double eps[N_LAT], x0[N_LAT], v[N_LAT], sig[16], ts[16], st1[N_LAT], st2[N_LAT];
        chain c = {0};
        int32_t n;
        if (!s) continue;
        for (size_t i = 0; i < N_LAT; i++) {
            eps[i] = sin(0.37 * (double)i + 1.0) * 1.7;
            x0[i] = cos(0.11 * (double)i) * 0.5;
            v[i] = eps[i] - x0[i];
        }
        n = dio_sampler_num_steps(s, 10);
        CHECK(n == 10 && dio_sampler_schedule(s, n, sig, ts) == DIO_OK, "euler schedule");
        for (size_t e = 0; e < N_LAT; e++) st1[e] = (1.0 - sig[0]) * x0[e] + sig[0] * eps[e];
        chain_set(&c.x, st1);
        for (int i = 0; i < n; i++) {
            dio_sampler_plan p;
            double want[N_LAT];
            CHECK(dio_sampler_step(s, i, n, &p) == DIO_OK, "euler step: %s", dio_last_error());
            chain_apply(&c, &p, v, NULL, st1, st2);
            for (size_t e = 0; e < N_LAT; e++) want[e] = (1.0 - sig[i + 1]) * x0[e] + sig[i + 1] * eps[e];
            compare(NULL, "euler on a linear flow", c.x, want, N_LAT, 1e-12, 0);
            for (size_t e = 0; e < N_LAT; e++) worst = fmax(worst, fabs(c.x[e] - want[e]));
        }
        chain_free(&c);
        dio_sampler_destroy(s);
    }
    printf("euler: exact linear flow reproduced within %.3g\n", worst);
}

/* ---- errors ---- */

static void expect_create_fails(const char *name, const dio_kv *kv, size_t n, const char *needle)
{
    dio_sampler *s = NULL;
    dio_status st = dio_sampler_create(ctx, name, kv, n, &s);
    CHECK(st != DIO_OK && !s && strstr(dio_last_error(), needle),
          "%s with %s=%s: status %d, \"%s\" (wanted \"%s\")", name, n ? kv[0].key : "-",
          n ? kv[0].value : "-", (int)st, dio_last_error(), needle);
    printf("  %s: %s\n", name, dio_last_error());
    dio_sampler_destroy(s);
}

static void run_errors(void)
{
    dio_kv unknown = {"stepz", "4"}, range = {"shift", "0"}, rho = {"rho", "1000"},
           notnum = {"shift", "five"};
    dio_kv badenum = {"schedule", "linear"}, order[2] = {{"sigma_min", "300"}, {"sigma_max", "200"}};
    dio_kv shift_hi[2] = {{"schedule", "shift"}, {"sigma_max", "1.5"}},
           shift1[2] = {{"schedule", "shift"}, {"sigma_max", "1"}};
    dio_kv rcm_max = {"sigma_max", "1600"};
    dio_sampler *s;
    dio_sampler_plan p;
    double sig[16], ts[16];
    printf("errors:\n");
    expect_create_fails("flow-heun", NULL, 0, "flow-unipc");
    expect_create_fails("flow-unipc", &unknown, 1, "stepz");
    expect_create_fails("flow-euler", &range, 1, "outside");
    expect_create_fails("flow-unipc", &rho, 1, "rho");
    expect_create_fails("flow-unipc", &notnum, 1, "shift");
    expect_create_fails("flow-unipc", &badenum, 1, "karras|shift");
    expect_create_fails("flow-unipc", order, 2, "sigma_min");
    expect_create_fails("flow-euler", shift_hi, 2, "at most 1");
    expect_create_fails("flow-unipc", shift1, 2, "below 1");
    expect_create_fails("dmd2", &unknown, 1, "stepz");
    expect_create_fails("rcm", &range, 1, "shift");
    /* flow-euler does run sigma_max = 1 on the shift grid */
    if ((s = make("flow-euler", shift1, 2))) {
        CHECK(dio_sampler_schedule(s, 4, sig, ts) == DIO_OK && sig[0] == 1.0, "euler shift grid from 1: %g",
              sig[0]);
        dio_sampler_destroy(s);
    }

    /* step counts */
    if ((s = make("dmd2", NULL, 0))) {
        CHECK(dio_sampler_schedule(s, 3, sig, ts) == DIO_ERR_INVALID_ARGUMENT &&
                  strstr(dio_last_error(), "4"),
              "dmd2 schedule(3): %s", dio_last_error());
        printf("  dmd2 schedule(3): %s\n", dio_last_error());
        CHECK(dio_sampler_step(s, 0, 5, &p) == DIO_ERR_INVALID_ARGUMENT, "dmd2 step(0, 5) accepted");
        CHECK(dio_sampler_step(s, 4, 4, &p) == DIO_ERR_INVALID_ARGUMENT, "dmd2 step(4, 4) accepted");
        dio_sampler_destroy(s);
    }
    if ((s = make("rcm", NULL, 0))) {
        CHECK(dio_sampler_num_steps(s, 5) == 0 && strstr(dio_last_error(), "1, 2, 3 or 4"), "rcm 5 steps: %s",
              dio_last_error());
        printf("  rcm num_steps(5): %s\n", dio_last_error());
        CHECK(dio_sampler_num_steps(s, 3) == 3 && dio_sampler_schedule(s, 3, sig, ts) == DIO_OK,
              "rcm 3 steps");
        CHECK(dio_sampler_schedule(s, 6, sig, ts) == DIO_ERR_INVALID_ARGUMENT, "rcm schedule(6) accepted");
        CHECK(dio_sampler_step(s, 1, 1, &p) == DIO_ERR_INVALID_ARGUMENT, "rcm step(1, 1) accepted");
        CHECK(fabs(dio_sampler_initial_noise_scale(s, 2) - 0.98765432098765) < 1e-12, "rcm t0 %.17g",
              dio_sampler_initial_noise_scale(s, 2));
        dio_sampler_destroy(s);
    }
    if ((s = make("rcm", &rcm_max, 1))) {
        double t0 = dio_sampler_initial_noise_scale(s, 4);
        CHECK(fabs(t0 - 1600.0 / 1601.0) < 1e-12, "rcm sigma_max 1600: t0 %.17g", t0);
        dio_sampler_destroy(s);
    }
    {
        dio_kv kv = {"convention", "native"};
        if ((s = make("flow-unipc", &kv, 1))) {
            CHECK(dio_sampler_schedule(s, 1, sig, ts) == DIO_ERR_INVALID_ARGUMENT,
                  "native karras schedule(1) accepted");
            printf("  native schedule(1): %s\n", dio_last_error());
            CHECK(dio_sampler_num_steps(s, 1) == 2, "native karras 1 step = 2 evaluations");
            CHECK(dio_sampler_step(s, 1, 1, &p) == DIO_ERR_INVALID_ARGUMENT, "step(1, 1) accepted");
            CHECK(dio_sampler_step(s, -1, 4, &p) == DIO_ERR_INVALID_ARGUMENT, "step(-1, 4) accepted");
            CHECK(dio_sampler_num_steps(s, 0) == 0 && dio_last_error()[0], "0 steps accepted");
            dio_sampler_destroy(s);
        }
    }
    CHECK(dio_sampler_get_iface(NULL) == NULL && dio_sampler_initial_noise_scale(NULL, 1) == 1.0,
          "NULL sampler");
    dio_sampler_destroy(NULL);
}

/* ---- ABI 1.0 ---- */

static void run_abi10(void)
{
    dio_sampler *s;
    dio_sampler_plan p;
    dio_status st = dio_context_load(ctx, fake_path);
    CHECK(st == DIO_OK, "loading %s: %s", fake_path, dio_last_error());
    if (st != DIO_OK) return;
    if (!(s = make("fake-v10", NULL, 0))) return;
    CHECK(dio_sampler_initial_noise_scale(s, 2) == 1.0, "a 1.0 table's initial_noise_scale was called (%g)",
          dio_sampler_initial_noise_scale(s, 2));
    for (int i = 0; i < 2; i++) {
        memset(&p, 0x5a, sizeof(p));
        st = dio_sampler_step(s, i, 2, &p);
        CHECK(st == DIO_OK, "fake step: %s", dio_last_error());
        CHECK(p.store2_slot == -1 && p.n_store2_terms == 0, "1.0 plan: store2 slot %d, %d terms",
              p.store2_slot, p.n_store2_terms);
        CHECK(p.store_slot == 1 && p.n_store_terms == 1 && p.n_terms == 2 && p.struct_size == sizeof(p),
              "1.0 plan not passed through");
    }
    dio_sampler_destroy(s);
    printf("abi10: noise scale 1.0, store2 absent\n");
}

int main(int argc, char **argv)
{
    dio_context_options o;
    char p[4096];
    const char *mode;
    if (argc != 5) {
        fprintf(stderr, "usage: test_samplers MODE PLUGIN_DIR FIXTURE_DIR FAKE_V10_PLUGIN\n");
        return 2;
    }
    mode = argv[1];
    plugin_dir = argv[2];
    fix_dir = argv[3];
    fake_path = argv[4];
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.no_env = 1;
    o.no_default_dirs = 1;
    if (dio_context_create(&o, &ctx) != DIO_OK || dio_context_load(ctx, plugin_dir) != DIO_OK) {
        printf("FAIL: context / plugins in %s: %s\n", plugin_dir, dio_last_error());
        return 1;
    }
    snprintf(p, sizeof(p), "%s/schedulers.safetensors", fix_dir);
    fx = fixture_open(p);
    snprintf(p, sizeof(p), "%s/schedulers.json", fix_dir);
    meta = load_json(p);
    if (!fx || !meta) {
        printf("FAIL: cannot read the fixture in %s\n", fix_dir);
        return 1;
    }
    if (!strcmp(mode, "tables"))
        run_tables();
    else if (!strcmp(mode, "unipc"))
        run_unipc();
    else if (!strcmp(mode, "dmd2"))
        run_dmd2();
    else if (!strcmp(mode, "rcm"))
        run_rcm();
    else if (!strcmp(mode, "euler"))
        run_euler();
    else if (!strcmp(mode, "errors"))
        run_errors();
    else if (!strcmp(mode, "abi10"))
        run_abi10();
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    fixture_close(fx);
    cJSON_Delete(meta);
    dio_context_destroy(ctx);
    printf("%s: %d failure(s)\n", mode, failures);
    return failures ? 1 : 0;
}
