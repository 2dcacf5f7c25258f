/* The wan-vae-encoder / wan-vae-decoder components against the Wan 2.1 VAE golden fixtures
 * (tests/fixtures/vae, tests/reference/gen_vae.py).
 *
 * Every encode case (1, 5, 13 frames) and decode case (1, 2, 4 latent frames): every per-chunk hook
 * (encoder conv_in, down_blocks.0-10, mid_block, conv_out; decoder conv_in, mid_block, up_blocks.0-3,
 * conv_out), quant_conv, mode, post_quant_conv and the final latents / sample, through the component's
 * `stage` parameter, within atol 1e-4 + rtol 1e-4 (the fixture README's rule); plus the decoder without
 * clamp (against the concatenated per-chunk conv_out) and without normalisation (fed `dec{T}.z`).
 * Batch 2 (two copies of a case) must give the fixture per sample. Weight variants: the diffusers
 * safetensors, the native tokenizer.pth (a torch pickle read by the host), native names written here as bf16
 * safetensors from keys.txt (relative L2 below 5e-2 against the f32 golden: the tiny random decoder amplifies
 * the weights' rounding to ~4 %; the bf16 path itself is checked against the same rounded values held as f32,
 * within 1e-4). Broken weights (a missing key, a wrong shape, a wrong dtype) must fail naming the tensor.
 * Tiled decode (tests/fixtures/vae_tiled, tests/reference/gen_vae_tiled.py): diffusers' tiled_decode of a
 * 6×10 latent with 32-pixel tiles every 16 pixels within atol 1e-4 + rtol 1e-4; one tile covering the
 * frame equals the untiled decode within 1e-6; tiled vs untiled on the fixtures and on a random 12×20
 * latent (96×160 pixels) is reported and bounded loosely (tiny random weights and the global mid-block
 * attention make tiles differ from the whole frame far more than trained weights do); an out-of-memory
 * decode (the `max_alloc_bytes` testing limit) is retried with halved tiles and then equals a run at the
 * final tile size exactly, and fails cleanly with tiling=off.
 * Tiled encode (no diffusers fixture exists for it): against diffusers' tiled_encode rule composed in this
 * file from untiled encodes of each pixel tile, blended here (raw and normalised; within 1e-5, the f32
 * rounding of the blend), on enc13.x / enc5.x and on a random 5×96×160 video; against the untiled encode
 * the max difference is printed and every latent cell must lie within the convex bound of the tiles that
 * cover it (what the rule implies); one tile covering the frame equals the untiled encode exactly; the
 * out-of-memory retry as for decode; tiling=auto tiles a 528×528 frame.
 * Bad inputs get clear errors from output_shapes and from run: encoder frame counts 2, 4, 6 (not 1 + 4k),
 * sizes 20×40, 24×36, 7×7 (not multiples of 8), channels the weights do not take, a 4-D or i32 input, an
 * empty dim, a wrong-shaped output; mismatched weights too: the DiT's weights, the diffusers file read as
 * layout=native, a latents_mean of 3 values for z 16.
 * The --cli-input / --cli-check modes write a fixture tensor under a port name and compare a
 * `diorama component run` output with the fixture, for the CLI tests of tests/vae/CMakeLists.txt.
 * Usage: test_vae PLUGIN_DIR FIXTURE_DIR WORK_DIR
 *        test_vae --cli-input OUT PORT FILE NAME [PORT FILE NAME]...
 *        test_vae --cli-check OUT PORT FILE NAME */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"
#include "test_backend.h"
#include "weights_rewrite.h"

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

static const char *plugin_dir, *fix_dir, *work;
static dio_context *ctx;
static dio_backend *be;
static dio_weights *fx; /* tensors.safetensors */

static const char *const enc_hooks[] = {
    "encoder.conv_in",       "encoder.down_blocks.0", "encoder.down_blocks.1", "encoder.down_blocks.2",
    "encoder.down_blocks.3", "encoder.down_blocks.4", "encoder.down_blocks.5", "encoder.down_blocks.6",
    "encoder.down_blocks.7", "encoder.down_blocks.8", "encoder.down_blocks.9", "encoder.down_blocks.10",
    "encoder.mid_block",     "encoder.conv_out"};
static const char *const dec_hooks[] = {"decoder.conv_in",     "decoder.mid_block",   "decoder.up_blocks.0",
                                        "decoder.up_blocks.1", "decoder.up_blocks.2", "decoder.up_blocks.3",
                                        "decoder.conv_out"};
#define N_ENC_HOOKS ((int)(sizeof(enc_hooks) / sizeof(enc_hooks[0])))
#define N_DEC_HOOKS ((int)(sizeof(dec_hooks) / sizeof(dec_hooks[0])))

/* ---- weight variants ---- */

/* keys.txt: diffusers<TAB>[shape]<TAB>native. Returns the native name of `d` in out, or copies d. */
static void native_name(const char *d, char *out, size_t n)
{
    char p[4096], line[1024];
    FILE *f;
    snprintf(out, n, "%s", d);
    snprintf(p, sizeof(p), "%s/keys.txt", fix_dir);
    if (!(f = fopen(p, "r"))) return;
    while (fgets(line, sizeof(line), f)) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        *t1 = '\0';
        t2[strcspn(t2, "\r\n")] = '\0';
        if (!strcmp(line, d)) {
            snprintf(out, n, "%s", t2 + 1);
            break;
        }
    }
    fclose(f);
}

/* The fixture's diffusers weights rewritten (tests/common/weights_rewrite.h): native names when `native`,
 * stored as `dtype`, with `drop` / `reshape` / `retype` breaking one tensor. 0 on success. */
static int write_variant(const char *path, int native, int32_t dtype, const char *drop, const char *reshape,
                         const char *retype)
{
    char src[4096];
    snprintf(src, sizeof(src), "%s/diffusion_pytorch_model.safetensors", fix_dir);
    return dio_test_rewrite_weights(src, path, native ? native_name : NULL, dtype, drop, reshape, retype);
}

/* ---- running ---- */

typedef struct input {
    dio_tensor t;
    dio_buffer *buf;
} input;

static int input_load(const char *name, input *in)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_weight_info w;
    memset(in, 0, sizeof(*in));
    w.struct_size = sizeof(w);
    if (dio_weights_find(fx, name, &w) != DIO_OK) return 1;
    if (r.iface->buffer_alloc(r.ctx, 0, w.nbytes, &in->buf) != DIO_OK) return 1;
    if (r.iface->buffer_upload(r.ctx, NULL, in->buf, 0, w.data, w.nbytes) != DIO_OK) return 1;
    dio_tensor_init(&in->t, w.dtype, w.ndim, w.shape, in->buf, 0);
    return 0;
}

static void input_free(input *in)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    if (in->buf) r.iface->buffer_free(r.ctx, in->buf);
    memset(in, 0, sizeof(*in));
}

/* Creates `comp_name` with params, runs it on `in`; a malloc'd f32 copy of the output, or NULL. */
static float *run(const char *comp_name, dio_weights *w, const dio_kv *kv, size_t nkv, const input *in,
                  dio_tensor *shape)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_component *comp = NULL;
    dio_buffer *ob = NULL;
    float *host = NULL;
    uint64_t bytes;
    const dio_tensor *ip[1] = {&in->t};
    if (dio_component_create(ctx, be, comp_name, w, kv, nkv, &comp) != DIO_OK) goto fail;
    if (dio_component_output_shapes(comp, ip, shape) != DIO_OK) goto fail;
    bytes = (uint64_t)dio_tensor_numel(shape) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, bytes, &ob) != DIO_OK) goto fail;
    dio_tensor_init(shape, DIO_DTYPE_F32, shape->ndim, shape->shape, ob, 0);
    if (!(host = malloc(bytes))) goto fail;
    {
        const dio_tensor *o[] = {shape};
        if (dio_component_run(comp, ip, o) != DIO_OK) goto fail;
    }
    if (r.iface->buffer_download(r.ctx, NULL, ob, 0, host, bytes) != DIO_OK) goto fail;
    r.iface->buffer_free(r.ctx, ob);
    dio_component_destroy(comp);
    return host;
fail:
    printf("  run %s failed: %s\n", comp_name, dio_last_error());
    if (ob) r.iface->buffer_free(r.ctx, ob);
    dio_component_destroy(comp);
    free(host);
    return NULL;
}

/* Compares got (shaped `gs`) with ref; fills the max abs error, the worst excess over atol + rtol·|ref|
 * and the relative L2 error. Returns 0 when the shapes agree. */
typedef struct cmp_ {
    double max_abs, excess, rel_l2;
} cmp_;

static int compare(const float *got, const dio_tensor *gs, const float *ref, int32_t rndim,
                   const int64_t *rshape, cmp_ *c)
{
    double e2 = 0, r2 = 0;
    int64_t n = dio_tensor_numel(gs);
    memset(c, 0, sizeof(*c));
    c->excess = -INFINITY;
    if (rndim != gs->ndim) return 1;
    for (int i = 0; i < rndim; i++)
        if (rshape[i] != gs->shape[i]) return 1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]), x = e - (1e-4 + 1e-4 * fabs(ref[i]));
        if (!(e <= c->max_abs)) c->max_abs = isnan(e) ? INFINITY : e;
        if (!(x <= c->excess)) c->excess = isnan(x) ? INFINITY : x;
        e2 += e * e;
        r2 += (double)ref[i] * ref[i];
    }
    c->rel_l2 = sqrt(e2 / (r2 > 1e-30 ? r2 : 1e-30));
    return 0;
}

/* Runs one stage and checks it against fixture tensor `ref`; bf16: the relative-L2 rule. Returns the
 * max abs error (or relative L2), -1 on failure. */
static double check_stage(const char *label, const char *comp_name, dio_weights *w, const input *in,
                          const char *stage, const char *ref_name, int bf16, const dio_kv *extra,
                          size_t nextra)
{
    dio_kv kv[6];
    size_t n = 0;
    dio_tensor shape;
    dio_weight_info ref;
    float *got;
    cmp_ c;
    double r = -1;
    for (size_t i = 0; i < nextra; i++) kv[n++] = extra[i];
    if (stage[0]) kv[n++] = (dio_kv){"stage", stage};
    ref.struct_size = sizeof(ref);
    if (dio_weights_find(fx, ref_name, &ref) != DIO_OK) {
        CHECK(0, "%s: fixture has no %s", label, ref_name);
        return -1;
    }
    got = run(comp_name, w, kv, n, in, &shape);
    if (!got) {
        CHECK(0, "%s: stage \"%s\" did not run", label, stage);
        return -1;
    }
    if (compare(got, &shape, ref.data, ref.ndim, ref.shape, &c)) {
        CHECK(0, "%s: stage \"%s\": shape differs from %s", label, stage, ref_name);
    } else if (bf16) {
        CHECK(c.rel_l2 < 5e-2, "%s: %s relative L2 %.3g >= 5e-2", label, ref_name, c.rel_l2);
        r = c.rel_l2;
    } else {
        CHECK(c.excess <= 0, "%s: %s max abs err %.3g beyond atol 1e-4 + rtol 1e-4", label, ref_name,
              c.max_abs);
        r = c.max_abs;
    }
    free(got);
    return r;
}

static void check_encoder(const char *label, dio_weights *w, int bf16)
{
    static const int ns[] = {1, 5, 13};
    for (int i = 0; i < 3; i++) {
        input in;
        char nm[128], rn[160];
        double worst = 0, e, finals[3];
        char worst_at[160] = "";
        snprintf(nm, sizeof(nm), "enc%d.x", ns[i]);
        if (input_load(nm, &in)) {
            CHECK(0, "%s: cannot load %s", label, nm);
            input_free(&in);
            continue;
        }
        for (int c = 0; c < 1 + (ns[i] - 1) / 4; c++)
            for (int h = 0; h < N_ENC_HOOKS; h++) {
                snprintf(nm, sizeof(nm), "chunk%d.%s", c, enc_hooks[h]);
                snprintf(rn, sizeof(rn), "enc%d.chunk%d.%s", ns[i], c, enc_hooks[h]);
                e = check_stage(label, "wan-vae-encoder", w, &in, nm, rn, bf16, NULL, 0);
                if (e > worst) worst = e, snprintf(worst_at, sizeof(worst_at), "%s", rn);
            }
        snprintf(rn, sizeof(rn), "enc%d.quant_conv", ns[i]);
        finals[0] = check_stage(label, "wan-vae-encoder", w, &in, "quant_conv", rn, bf16, NULL, 0);
        snprintf(rn, sizeof(rn), "enc%d.mode", ns[i]);
        finals[1] = check_stage(label, "wan-vae-encoder", w, &in, "mode", rn, bf16, NULL, 0);
        snprintf(rn, sizeof(rn), "enc%d.latents", ns[i]);
        finals[2] = check_stage(label, "wan-vae-encoder", w, &in, "", rn, bf16, NULL, 0);
        printf("  %-14s enc%-2d stages worst %s %.3g (%s); quant_conv %.3g mode %.3g latents %.3g\n", label,
               ns[i], bf16 ? "rel-L2" : "max-abs", worst, worst_at, finals[0], finals[1], finals[2]);
        input_free(&in);
    }
}

static void check_decoder(const char *label, dio_weights *w, int bf16)
{
    static const int ts[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        input in, zin;
        char nm[128], rn[160];
        double worst = 0, e, finals[3] = {-1, -1, -1}, pre = -1;
        char worst_at[160] = "";
        snprintf(nm, sizeof(nm), "dec%d.latents", ts[i]);
        if (input_load(nm, &in)) {
            CHECK(0, "%s: cannot load %s", label, nm);
            input_free(&in);
            continue;
        }
        snprintf(rn, sizeof(rn), "dec%d.post_quant_conv", ts[i]);
        finals[0] = check_stage(label, "wan-vae-decoder", w, &in, "post_quant_conv", rn, bf16, NULL, 0);
        for (int c = 0; c < ts[i]; c++)
            for (int h = 0; h < N_DEC_HOOKS; h++) {
                snprintf(nm, sizeof(nm), "chunk%d.%s", c, dec_hooks[h]);
                snprintf(rn, sizeof(rn), "dec%d.chunk%d.%s", ts[i], c, dec_hooks[h]);
                e = check_stage(label, "wan-vae-decoder", w, &in, nm, rn, bf16, NULL, 0);
                if (e > worst) worst = e, snprintf(worst_at, sizeof(worst_at), "%s", rn);
            }
        snprintf(rn, sizeof(rn), "dec%d.sample", ts[i]);
        finals[1] = check_stage(label, "wan-vae-decoder", w, &in, "", rn, bf16, NULL, 0);
        /* normalize=false on the de-normalised input z gives the same sample */
        snprintf(nm, sizeof(nm), "dec%d.z", ts[i]);
        if (!input_load(nm, &zin)) {
            dio_kv kv[1] = {{"normalize", "false"}};
            finals[2] = check_stage(label, "wan-vae-decoder", w, &zin, "", rn, bf16, kv, 1);
        } else
            CHECK(0, "%s: cannot load %s", label, nm);
        input_free(&zin);
        /* clamp=false: the concatenated per-chunk conv_out */
        {
            dio_kv kv[1] = {{"clamp", "false"}};
            dio_tensor shape;
            float *got = run("wan-vae-decoder", w, kv, 1, &in, &shape);
            if (got) {
                int64_t fr = 0, plane = 3 * shape.shape[3] * shape.shape[4];
                double m = 0;
                (void)plane;
                for (int c = 0; c < ts[i]; c++) {
                    dio_weight_info r;
                    int64_t hw = shape.shape[3] * shape.shape[4], p;
                    r.struct_size = sizeof(r);
                    snprintf(rn, sizeof(rn), "dec%d.chunk%d.decoder.conv_out", ts[i], c);
                    if (dio_weights_find(fx, rn, &r) != DIO_OK) {
                        CHECK(0, "no %s", rn);
                        break;
                    }
                    p = r.shape[2];
                    for (int64_t ch = 0; ch < 3; ch++)
                        for (int64_t t = 0; t < p; t++)
                            for (int64_t k = 0; k < hw; k++) {
                                double a = got[(ch * shape.shape[2] + fr + t) * hw + k];
                                double b = ((const float *)r.data)[(ch * p + t) * hw + k];
                                double d = fabs(a - b);
                                if (!(d <= m)) m = isnan(d) ? INFINITY : d;
                            }
                    fr += p;
                }
                CHECK(fr == shape.shape[2], "%s: clamp=false gives %lld frames, chunks %lld", label,
                      (long long)shape.shape[2], (long long)fr);
                CHECK(m <= (bf16 ? 2e-1 : 2e-4), "%s: dec%d clamp=false max abs err %.3g", label, ts[i], m);
                pre = m;
                free(got);
            } else
                CHECK(0, "%s: clamp=false did not run", label);
        }
        printf("  %-14s dec%d stages worst %s %.3g (%s); post_quant_conv %.3g sample %.3g sample(z in) %.3g "
               "unclamped %.3g\n",
               label, ts[i], bf16 ? "rel-L2" : "max-abs", worst, worst_at, finals[0], finals[1], finals[2],
               pre);
        input_free(&in);
    }
}

/* bf16 weights against the same values held as f32: the bf16 path (conv weights used as bf16, gammas and
 * biases converted) must agree closely, so the golden gap above is the weights' rounding alone. */
static void check_bf16_path(const char *bf16_path, const char *rounded_path)
{
    static const char *const comps[2] = {"wan-vae-encoder", "wan-vae-decoder"};
    static const char *const ins[2] = {"enc13.x", "dec4.latents"};
    dio_weights *wb = NULL, *wr = NULL;
    if (dio_weights_open(bf16_path, &wb) != DIO_OK || dio_weights_open(rounded_path, &wr) != DIO_OK) {
        CHECK(0, "bf16 path: %s", dio_last_error());
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        input in;
        dio_kv kv[1] = {{"clamp", "false"}};
        dio_tensor sa, sb;
        float *a = NULL, *b = NULL;
        double m = 0;
        if (input_load(ins[k], &in)) {
            CHECK(0, "bf16 path: cannot load %s", ins[k]);
            input_free(&in);
            continue;
        }
        a = run(comps[k], wb, kv, 1, &in, &sa);
        b = run(comps[k], wr, kv, 1, &in, &sb);
        if (a && b && dio_tensor_numel(&sa) == dio_tensor_numel(&sb)) {
            for (int64_t i = 0; i < dio_tensor_numel(&sa); i++) {
                double d = fabs((double)a[i] - b[i]);
                if (!(d <= m)) m = isnan(d) ? INFINITY : d;
            }
            CHECK(m <= 1e-4, "bf16 path: %s on %s differs from bf16-rounded f32 weights by %.3g", comps[k],
                  ins[k], m);
            printf("  bf16 weights vs bf16-rounded f32 weights, %s %s: max abs %.3g\n", comps[k], ins[k], m);
        } else
            CHECK(0, "bf16 path: %s did not run", comps[k]);
        free(a);
        free(b);
        input_free(&in);
    }
done:
    dio_weights_close(wb);
    dio_weights_close(wr);
}

/* Batch 2 (the case's input twice): each sample equals the fixture's output. */
static void check_batch2(dio_weights *w, const char *comp_name, const char *in_name, const char *ref_name,
                         const dio_kv *kv, size_t nkv)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_weight_info x, ref;
    input in;
    dio_tensor shape;
    float *got;
    double m = 0;
    memset(&in, 0, sizeof(in));
    x.struct_size = ref.struct_size = sizeof(x);
    if (dio_weights_find(fx, in_name, &x) != DIO_OK || dio_weights_find(fx, ref_name, &ref) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, 2 * x.nbytes, &in.buf) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, in.buf, 0, x.data, x.nbytes) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, in.buf, x.nbytes, x.data, x.nbytes) != DIO_OK) {
        CHECK(0, "batch 2: cannot prepare %s", in_name);
        input_free(&in);
        return;
    }
    x.shape[0] = 2;
    dio_tensor_init(&in.t, x.dtype, x.ndim, x.shape, in.buf, 0);
    got = run(comp_name, w, kv, nkv, &in, &shape);
    if (got && shape.shape[0] == 2 && dio_tensor_numel(&shape) == 2 * (int64_t)(ref.nbytes / 4)) {
        int64_t n = (int64_t)(ref.nbytes / 4);
        for (int64_t i = 0; i < 2 * n; i++) {
            double d = fabs((double)got[i] - ((const float *)ref.data)[i % n]);
            if (!(d <= m)) m = isnan(d) ? INFINITY : d;
        }
        CHECK(m <= 2e-4, "batch 2: %s on %s max abs err %.3g", comp_name, in_name, m);
        printf("  batch 2 %s %s vs %s: max abs %.3g\n", comp_name, in_name, ref_name, m);
    } else
        CHECK(0, "batch 2: %s did not run or has the wrong shape", comp_name);
    free(got);
    input_free(&in);
}

static void check_bad(const char *what, const char *path, const char *comp_name, const char *tensor)
{
    dio_weights *w = NULL;
    dio_component *comp = NULL;
    if (dio_weights_open(path, &w) != DIO_OK) {
        CHECK(0, "%s: cannot open %s", what, path);
        return;
    }
    CHECK(dio_component_create(ctx, be, comp_name, w, NULL, 0, &comp) != DIO_OK, "%s: %s accepted", what,
          comp_name);
    CHECK(strstr(dio_last_error(), tensor) != NULL, "%s: message \"%s\" does not name %s", what,
          dio_last_error(), tensor);
    printf("  %s -> %s\n", what, dio_last_error());
    dio_component_destroy(comp);
    dio_weights_close(w);
}

/* An f32 input from host values. */
static int input_host(const float *x, int32_t ndim, const int64_t *shape, input *in)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    int64_t n = 1;
    memset(in, 0, sizeof(*in));
    for (int32_t i = 0; i < ndim; i++) n *= shape[i];
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)n * 4, &in->buf) != DIO_OK) return 1;
    if (r.iface->buffer_upload(r.ctx, NULL, in->buf, 0, x, (uint64_t)n * 4) != DIO_OK) return 1;
    dio_tensor_init(&in->t, DIO_DTYPE_F32, ndim, shape, in->buf, 0);
    return 0;
}

/* Max abs difference and relative L2 of two decodes of `in` with different parameters; -1 if one failed. */
static double decode_pair(dio_weights *w, const input *in, const dio_kv *ka, size_t na, const dio_kv *kb,
                          size_t nb, double *rel_l2)
{
    dio_tensor sa, sb;
    float *a = run("wan-vae-decoder", w, ka, na, in, &sa), *b = run("wan-vae-decoder", w, kb, nb, in, &sb);
    double m = -1, e2 = 0, r2 = 0;
    if (a && b && dio_tensor_numel(&sa) == dio_tensor_numel(&sb)) {
        m = 0;
        for (int64_t i = 0; i < dio_tensor_numel(&sa); i++) {
            double d = fabs((double)a[i] - b[i]);
            if (!(d <= m)) m = isnan(d) ? INFINITY : d;
            e2 += d * d;
            r2 += (double)b[i] * b[i];
        }
    }
    *rel_l2 = sqrt(e2 / (r2 > 1e-30 ? r2 : 1e-30));
    free(a);
    free(b);
    return m;
}

static void check_tiled(dio_weights *w)
{
    char p[4096];
    dio_weights *tf = NULL;
    dio_weight_info z, ref;
    input in = {0};
    float *lat = NULL, *got = NULL;
    dio_tensor shape;
    cmp_ c;
    double m, rl;
    uint32_t seed = 12345;
    const dio_kv raw_tiled[] = {
        {"normalize", "false"}, {"tiling", "on"}, {"tile_size", "32"}, {"tile_overlap", "16"}};
    const dio_kv raw_untiled[] = {{"normalize", "false"}, {"tiling", "off"}};
    /* 1. diffusers' tiled_decode */
    snprintf(p, sizeof(p), "%s/../vae_tiled/tensors.safetensors", fix_dir);
    z.struct_size = ref.struct_size = sizeof(z);
    if (dio_weights_open(p, &tf) != DIO_OK || dio_weights_find(tf, "z", &z) != DIO_OK ||
        dio_weights_find(tf, "sample", &ref) != DIO_OK || input_host(z.data, z.ndim, z.shape, &in)) {
        CHECK(0, "tiled fixture %s: %s", p, dio_last_error());
        goto fail;
    }
    got = run("wan-vae-decoder", w, raw_tiled, 4, &in, &shape);
    CHECK(got, "tiled decode did not run");
    if (got) {
        CHECK(!compare(got, &shape, ref.data, ref.ndim, ref.shape, &c), "tiled decode: shape differs");
        CHECK(c.excess <= 0, "tiled decode vs diffusers tiled_decode: max abs %.3g beyond 1e-4 + 1e-4·|ref|",
              c.max_abs);
        printf("  tiled 6x10 latent, tile 32 px overlap 16 (3x5 tiles) vs diffusers tiled_decode: max abs "
               "%.3g\n",
               c.max_abs);
    }
    m = decode_pair(w, &in, raw_tiled, 4, raw_untiled, 2, &rl);
    printf("  same, tiled vs untiled: max abs %.3g rel L2 %.3g (diffusers: 1.34, 0.678)\n", m, rl);
    CHECK(m >= 0 && rl < 1.0, "tiled vs untiled rel L2 %.3g", rl);
    input_free(&in);
    /* 2. the fixture latents with 16-pixel tiles */
    if (input_load("dec4.latents", &in)) {
        CHECK(0, "no dec4.latents");
        goto fail;
    }
    {
        const dio_kv t[] = {{"tiling", "on"}, {"tile_size", "16"}, {"tile_overlap", "8"}};
        const dio_kv u[] = {{"tiling", "off"}};
        const dio_kv one[] = {{"tiling", "on"}, {"tile_size", "64"}, {"tile_overlap", "16"}};
        m = decode_pair(w, &in, t, 3, u, 1, &rl);
        printf("  dec4 (3x5 latent) tile 16 px overlap 8 vs untiled: max abs %.3g rel L2 %.3g\n", m, rl);
        CHECK(m >= 0 && rl < 1.0, "dec4 tiled vs untiled rel L2 %.3g", rl);
        m = decode_pair(w, &in, one, 3, u, 1, &rl);
        CHECK(m >= 0 && m <= 1e-6, "dec4 one tile vs untiled: max abs %.3g", m);
    }
    input_free(&in);
    /* 3. a random 3×12×20 latent (96×160 pixels, 13 frames) */
    {
        int64_t sh[5] = {1, 16, 3, 12, 20}, n = 16 * 3 * 12 * 20;
        const dio_kv u[] = {{"tiling", "off"}};
        const dio_kv t64[] = {{"tiling", "on"}, {"tile_size", "64"}, {"tile_overlap", "32"}};
        const dio_kv t96[] = {{"tiling", "on"}, {"tile_size", "96"}, {"tile_overlap", "32"}};
        const dio_kv one[] = {{"tiling", "on"}, {"tile_size", "192"}, {"tile_overlap", "32"}};
        const dio_kv t32[] = {{"tiling", "on"}, {"tile_size", "32"}, {"tile_overlap", "16"}};
        const dio_kv oom[] = {
            {"tiling", "on"}, {"tile_size", "64"}, {"tile_overlap", "32"}, {"max_alloc_bytes", "200000"}};
        const dio_kv t32b[] = {{"tiling", "on"}, {"tile_size", "32"}, {"tile_overlap", "8"}};
        const dio_kv oom_auto[] = {{"max_alloc_bytes", "200000"}};
        const dio_kv oom_off[] = {{"tiling", "off"}, {"max_alloc_bytes", "200000"}};
        dio_tensor osh;
        float *o;
        if (!(lat = malloc(sizeof(float) * (size_t)n))) goto fail;
        for (int64_t i = 0; i < n; i++) { /* uniform in [-2, 2): latents of the normalised scale */
            seed = seed * 1664525u + 1013904223u;
            lat[i] = (float)((double)(seed >> 8) / 16777216.0 * 4.0 - 2.0);
        }
        if (input_host(lat, 5, sh, &in)) {
            CHECK(0, "cannot upload the random latent");
            goto fail;
        }
        m = decode_pair(w, &in, t64, 3, u, 1, &rl);
        printf("  random 12x20 latent, tile 64 px overlap 32 vs untiled: max abs %.3g rel L2 %.3g\n", m, rl);
        CHECK(m >= 0 && rl < 0.5, "random tile 64 vs untiled rel L2 %.3g", rl);
        m = decode_pair(w, &in, t96, 3, u, 1, &rl);
        printf("  random 12x20 latent, tile 96 px overlap 32 vs untiled: max abs %.3g rel L2 %.3g\n", m, rl);
        CHECK(m >= 0 && rl < 0.5, "random tile 96 vs untiled rel L2 %.3g", rl);
        m = decode_pair(w, &in, one, 3, u, 1, &rl);
        CHECK(m >= 0 && m <= 1e-6, "random one tile vs untiled: max abs %.3g", m);
        /* out of memory: 64-pixel tiles need a 442 KB tile buffer, 32-pixel ones fit under 200 KB */
        m = decode_pair(w, &in, oom, 4, t32, 3, &rl);
        printf("  max_alloc_bytes 200000, tile 64 -> retried at 32: vs a 32 px run max abs %.3g\n", m);
        CHECK(m == 0, "OOM retry (tile 64 -> 32) vs a direct 32-pixel run: max abs %.3g", m);
        m = decode_pair(w, &in, oom_auto, 1, t32b, 3, &rl);
        printf(
            "  max_alloc_bytes 200000, auto: untiled -> 256 -> ... -> 32 px: vs a 32 px run max abs %.3g\n",
            m);
        CHECK(m == 0, "OOM retry from untiled vs a direct 32-pixel run: max abs %.3g", m);
        o = run("wan-vae-decoder", w, oom_off, 2, &in, &osh);
        CHECK(!o && strstr(dio_last_error(), "max_alloc_bytes"), "tiling=off must fail out of memory: %s",
              dio_last_error());
        free(o);
    }
    {
        dio_component *comp = NULL;
        const dio_kv bad[] = {{"tile_size", "36"}};
        CHECK(dio_component_create(ctx, be, "wan-vae-decoder", w, bad, 1, &comp) != DIO_OK &&
                  strstr(dio_last_error(), "tile_size"),
              "tile_size 36 must be refused: %s", dio_last_error());
        dio_component_destroy(comp);
    }
fail:
    input_free(&in);
    free(lat);
    free(got);
    if (tf) dio_weights_close(tf);
}

/* ---- tiled encode ---- */

/* Runs the encoder on host pixels [1, 3, T, H, W]; a malloc'd f32 copy of its output, or NULL. */
static float *encode_host(dio_weights *w, const float *px, const int64_t *sh, const dio_kv *kv, size_t nkv,
                          dio_tensor *shape)
{
    input in;
    float *got;
    if (input_host(px, 5, sh, &in)) {
        input_free(&in);
        return NULL;
    }
    got = run("wan-vae-encoder", w, kv, nkv, &in, shape);
    input_free(&in);
    return got;
}

/* One latent tile of the reference composition: [16, T, h, w] at latent (y0, x0). */
typedef struct ltile {
    float *d;
    int64_t t, h, w, y0, x0;
} ltile;

/* b[.., y, ..] = a[.., n_a - e + y, ..]·(1 - y/e) + b[.., y, ..]·(y/e) over axis 0 (rows) or 1 (columns),
 * e = min(a's, b's extent, ext): diffusers' blend_v / blend_h, weights rounded to f32 as torch rounds a
 * Python scalar, products and sum in f32. */
static void ref_blend(const ltile *a, ltile *b, int64_t ext, int cols, int64_t zc)
{
    int64_t na = cols ? a->w : a->h, nb = cols ? b->w : b->h, e = ext;
    if (na < e) e = na;
    if (nb < e) e = nb;
    for (int64_t y = 0; y < e; y++) {
        float wa = (float)(1.0 - (double)y / (double)e), wb = (float)((double)y / (double)e);
        for (int64_t c = 0; c < zc; c++)
            for (int64_t t = 0; t < b->t; t++) {
                int64_t n = cols ? b->h : b->w;
                for (int64_t k = 0; k < n; k++) {
                    int64_t ia = cols ? ((c * a->t + t) * a->h + k) * a->w + (na - e + y)
                                      : ((c * a->t + t) * a->h + (na - e + y)) * a->w + k;
                    int64_t ib = cols ? ((c * b->t + t) * b->h + k) * b->w + y
                                      : ((c * b->t + t) * b->h + y) * b->w + k;
                    float pa = a->d[ia] * wa, pb = b->d[ib] * wb;
                    b->d[ib] = pb + pa;
                }
            }
    }
}

/* The tiled-encode rule composed here, independently of the plugin's tile loop: every pixel tile of
 * `tile` pixels every tile - overlap pixels (cut at the edges) encoded alone by an untiled run
 * (tiling=off, normalize=false), then, row by row and left to right, blended into by the tile above and
 * the tile to its left (both as already blended) over overlap/8 latent cells, its top-left
 * (tile - overlap)/8 cells kept. `ref` gets the raw blended mode [16, Tl, H/8, W/8]; `dev` the largest
 * |tile - untiled| over the tiles that cover each cell (the rule makes every output cell a convex
 * combination of those tiles' values, so |tiled - untiled| <= dev cell by cell). 0 on success. */
static int ref_tiled_encode(dio_weights *w, const float *px, const int64_t *sh, int64_t tile, int64_t overlap,
                            const float *untiled, float *ref, float *dev)
{
    const dio_kv raw_off[] = {{"normalize", "false"}, {"tiling", "off"}};
    int64_t T = sh[2], H = sh[3], W = sh[4], stride = tile - overlap, nr = (H + stride - 1) / stride,
            nc = (W + stride - 1) / stride, lh = H / 8, lw = W / 8, tl = 1 + (T - 1) / 4, keep = stride / 8,
            ext = tile / 8 - stride / 8;
    ltile *tiles = calloc((size_t)(nr * nc), sizeof(*tiles));
    int rc = 1;
    if (!tiles) return 1;
    for (int64_t i = 0; i < lh * lw * 16 * tl; i++) dev[i] = 0;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++) {
            ltile *lt = &tiles[r * nc + c];
            int64_t y0 = r * stride, x0 = c * stride, th = H - y0 < tile ? H - y0 : tile,
                    tw = W - x0 < tile ? W - x0 : tile, csh[5] = {1, 3, T, th, tw};
            float *crop = malloc(sizeof(float) * (size_t)(3 * T * th * tw));
            dio_tensor os;
            if (!crop) goto done;
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t y = 0; y < th; y++)
                        memcpy(crop + ((ch * T + t) * th + y) * tw, px + ((ch * T + t) * H + y0 + y) * W + x0,
                               sizeof(float) * (size_t)tw);
            lt->d = encode_host(w, crop, csh, raw_off, 2, &os);
            free(crop);
            if (!lt->d) goto done;
            lt->t = os.shape[2], lt->h = os.shape[3], lt->w = os.shape[4], lt->y0 = y0 / 8, lt->x0 = x0 / 8;
            for (int64_t z = 0; z < 16; z++)
                for (int64_t t = 0; t < tl; t++)
                    for (int64_t y = 0; y < lt->h; y++)
                        for (int64_t x = 0; x < lt->w; x++) {
                            int64_t o = ((z * tl + t) * lh + lt->y0 + y) * lw + lt->x0 + x;
                            float d = fabsf(lt->d[((z * tl + t) * lt->h + y) * lt->w + x] - untiled[o]);
                            if (d > dev[o]) dev[o] = d;
                        }
        }
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++) {
            ltile *lt = &tiles[r * nc + c];
            if (r > 0) ref_blend(&tiles[(r - 1) * nc + c], lt, ext, 0, 16);
            if (c > 0) ref_blend(&tiles[r * nc + c - 1], lt, ext, 1, 16);
            for (int64_t z = 0; z < 16; z++)
                for (int64_t t = 0; t < tl; t++)
                    for (int64_t y = 0; y < lt->h && y < keep; y++)
                        for (int64_t x = 0; x < lt->w && x < keep; x++)
                            ref[((z * tl + t) * lh + lt->y0 + y) * lw + lt->x0 + x] =
                                lt->d[((z * tl + t) * lt->h + y) * lt->w + x];
        }
    rc = 0;
done:
    for (int64_t i = 0; i < nr * nc; i++) free(tiles[i].d);
    free(tiles);
    return rc;
}

/* Tiled encode of host pixels `px` with tile/overlap against (1) the rule composed above, within 1e-5
 * (the composition repeats the plugin's f32 operations, so only the blend's rounding could differ: a few
 * ulp of O(1) values), raw and normalised with explicit latents_mean/std; (2) the untiled encode: the
 * max difference and relative L2 are printed, and every cell must lie within the rule's bound `dev`. */
static void check_tiled_encode_case(dio_weights *w, const char *label, const float *px, const int64_t *sh,
                                    int64_t tile, int64_t overlap)
{
    static const char mean_s[] = "0.5,-0.25,0.125,-1,0.75,0.3,-0.6,0.2,0.1,-0.1,0.9,-0.8,0.05,-0.05,0.4,-0.4";
    static const char std_s[] = "2,1.5,0.5,3,1.25,0.75,2.5,1,1.75,0.8,1.1,2.2,0.9,1.3,0.6,1.6";
    char ts[32], os_[32];
    const dio_kv raw_off[] = {{"normalize", "false"}, {"tiling", "off"}};
    dio_kv raw_on[4] = {{"normalize", "false"}, {"tiling", "on"}, {"tile_size", ts}, {"tile_overlap", os_}};
    dio_kv norm_on[5] = {{"tiling", "on"},
                         {"tile_size", ts},
                         {"tile_overlap", os_},
                         {"latents_mean", mean_s},
                         {"latents_std", std_s}};
    int64_t tl = 1 + (sh[2] - 1) / 4, n = 16 * tl * (sh[3] / 8) * (sh[4] / 8), hw = (sh[3] / 8) * (sh[4] / 8);
    float *u = NULL, *t = NULL, *tn = NULL, *ref = NULL, *dev = NULL, mean[16], inv[16];
    dio_tensor s1, s2, s3;
    double m_ref = 0, m_norm = 0, m_u = 0, e2 = 0, r2 = 0, over = -INFINITY;
    const char *p;
    snprintf(ts, sizeof(ts), "%lld", (long long)tile);
    snprintf(os_, sizeof(os_), "%lld", (long long)overlap);
    p = mean_s;
    for (int i = 0; i < 16; i++) mean[i] = strtof(p, (char **)&p), p += *p == ',';
    p = std_s;
    for (int i = 0; i < 16; i++) inv[i] = 1.0f / strtof(p, (char **)&p), p += *p == ',';
    u = encode_host(w, px, sh, raw_off, 2, &s1);
    t = encode_host(w, px, sh, raw_on, 4, &s2);
    tn = encode_host(w, px, sh, norm_on, 5, &s3);
    ref = malloc(sizeof(float) * (size_t)n);
    dev = malloc(sizeof(float) * (size_t)n);
    if (!u || !t || !tn || !ref || !dev || dio_tensor_numel(&s1) != n || dio_tensor_numel(&s2) != n ||
        dio_tensor_numel(&s3) != n || ref_tiled_encode(w, px, sh, tile, overlap, u, ref, dev)) {
        CHECK(0, "tiled encode %s: a run failed", label);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)t[i] - ref[i]), du = fabs((double)t[i] - u[i]), x = du - dev[i];
        float rn = (ref[i] + -mean[i / (n / 16)]) * inv[i / (n / 16)];
        double dn = fabs((double)tn[i] - rn);
        if (!(d <= m_ref)) m_ref = isnan(d) ? INFINITY : d;
        if (!(dn <= m_norm)) m_norm = isnan(dn) ? INFINITY : dn;
        if (!(du <= m_u)) m_u = isnan(du) ? INFINITY : du;
        if (!(x <= over)) over = isnan(x) ? INFINITY : x;
        e2 += du * du;
        r2 += (double)u[i] * u[i];
    }
    (void)hw;
    CHECK(m_ref <= 1e-5, "tiled encode %s vs the tiled_encode rule: max abs %.3g > 1e-5", label, m_ref);
    CHECK(m_norm <= 1e-5, "tiled encode %s normalised vs the rule: max abs %.3g > 1e-5", label, m_norm);
    CHECK(over <= 1e-5, "tiled encode %s: a cell is %.3g beyond the convex bound of its tiles", label, over);
    printf(
        "  tiled encode %s, tile %lld overlap %lld: vs the rule raw %.3g normalised %.3g; vs untiled max abs "
        "%.3g rel L2 %.3g (worst cell vs its tiles' convex bound %+.3g)\n",
        label, (long long)tile, (long long)overlap, m_ref, m_norm, m_u, sqrt(e2 / (r2 > 1e-30 ? r2 : 1e-30)),
        over);
done:
    free(u);
    free(t);
    free(tn);
    free(ref);
    free(dev);
}

static void check_tiled_encode(dio_weights *w)
{
    static const char *const fx_in[2] = {"enc13.x", "enc5.x"};
    static const int64_t fx_tile[2][2] = {{16, 8}, {24, 8}};
    float *px = NULL, *a = NULL, *b = NULL;
    dio_tensor sa, sb;
    uint32_t seed = 777;
    double m;
    /* the fixtures' inputs (24×40: latent 3×5) */
    for (int k = 0; k < 2; k++) {
        dio_weight_info x;
        x.struct_size = sizeof(x);
        if (dio_weights_find(fx, fx_in[k], &x) != DIO_OK) {
            CHECK(0, "no %s", fx_in[k]);
            continue;
        }
        check_tiled_encode_case(w, fx_in[k], x.data, x.shape, fx_tile[k][0], fx_tile[k][1]);
    }
    /* a random 5×96×160 video (latent 2×12×20), and one tile covering it equals the untiled encode */
    {
        int64_t sh[5] = {1, 3, 5, 96, 160}, n = 3 * 5 * 96 * 160;
        const dio_kv u[] = {{"tiling", "off"}};
        const dio_kv one[] = {
            {"tiling", "on"}, {"tile_size", "192"}, {"tile_overlap", "32"}}; /* stride 160: one tile */
        const dio_kv t32[] = {{"tiling", "on"}, {"tile_size", "32"}, {"tile_overlap", "16"}};
        const dio_kv t64[] = {{"tiling", "on"}, {"tile_size", "64"}, {"tile_overlap", "32"}};
        const dio_kv oom[] = {
            {"tiling", "on"}, {"tile_size", "64"}, {"tile_overlap", "32"}, {"max_alloc_bytes", "200000"}};
        const dio_kv oom_off[] = {{"tiling", "off"}, {"max_alloc_bytes", "200000"}};
        if (!(px = malloc(sizeof(float) * (size_t)n))) return;
        for (int64_t i = 0; i < n; i++) { /* uniform in [-1, 1): pixels */
            seed = seed * 1664525u + 1013904223u;
            px[i] = (float)((double)(seed >> 8) / 16777216.0 * 2.0 - 1.0);
        }
        check_tiled_encode_case(w, "random 5x96x160", px, sh, 64, 32);
        check_tiled_encode_case(w, "random 5x96x160", px, sh, 96, 32);
        a = encode_host(w, px, sh, one, 3, &sa);
        b = encode_host(w, px, sh, u, 1, &sb);
        m = -1;
        if (a && b && dio_tensor_numel(&sa) == dio_tensor_numel(&sb)) {
            m = 0;
            for (int64_t i = 0; i < dio_tensor_numel(&sa); i++)
                if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
        }
        CHECK(m == 0, "tiled encode with one tile covering the frame vs untiled: max abs %.3g", m);
        free(a), free(b);
        /* out of memory: the 64-pixel tiles' buffers exceed 200 KB, the 32-pixel ones fit */
        a = encode_host(w, px, sh, oom, 4, &sa);
        b = encode_host(w, px, sh, t32, 3, &sb);
        m = -1;
        if (a && b && dio_tensor_numel(&sa) == dio_tensor_numel(&sb)) {
            m = 0;
            for (int64_t i = 0; i < dio_tensor_numel(&sa); i++)
                if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
        }
        printf("  encode max_alloc_bytes 200000, tile 64 -> retried at 32: vs a 32 px run max abs %.3g\n", m);
        CHECK(m == 0, "encode OOM retry (tile 64 -> 32) vs a direct 32-pixel run: max abs %.3g", m);
        free(a);
        a = encode_host(w, px, sh, t64, 3, &sa);
        m = -1;
        if (a && b && dio_tensor_numel(&sa) == dio_tensor_numel(&sb)) {
            m = 0;
            for (int64_t i = 0; i < dio_tensor_numel(&sa); i++)
                if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
        }
        CHECK(m > 0, "tile 64 and tile 32 encodes must differ (else the retry check proves nothing)");
        free(a), free(b);
        a = encode_host(w, px, sh, oom_off, 2, &sa);
        CHECK(!a && strstr(dio_last_error(), "max_alloc_bytes"),
              "encode tiling=off must fail out of memory: %s", dio_last_error());
        free(a);
        a = b = NULL;
        free(px);
        px = NULL;
    }
    /* auto: a 1×528×528 frame (above 512×512) is tiled with the defaults (256 / 64); 256×256 is not */
    {
        int64_t sh[5] = {1, 3, 1, 528, 528}, n = 3 * 528 * 528;
        const dio_kv dflt[] = {{"tiling", "auto"}};
        const dio_kv on[] = {{"tiling", "on"}};
        const dio_kv off[] = {{"tiling", "off"}};
        float *c = NULL;
        dio_tensor sc;
        if (!(px = malloc(sizeof(float) * (size_t)n))) return;
        for (int64_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            px[i] = (float)((double)(seed >> 8) / 16777216.0 * 2.0 - 1.0);
        }
        a = encode_host(w, px, sh, dflt, 1, &sa);
        b = encode_host(w, px, sh, on, 1, &sb);
        c = encode_host(w, px, sh, off, 1, &sc);
        if (a && b && c) {
            double mab = 0, mac = 0;
            for (int64_t i = 0; i < dio_tensor_numel(&sa); i++) {
                if (fabs((double)a[i] - b[i]) > mab) mab = fabs((double)a[i] - b[i]);
                if (fabs((double)a[i] - c[i]) > mac) mac = fabs((double)a[i] - c[i]);
            }
            CHECK(mab == 0 && mac > 0,
                  "encode tiling=auto at 528x528: vs on %.3g (want 0), vs off %.3g (want > 0)", mab, mac);
            printf("  encode 528x528 tiling auto vs on: %.3g, vs off: %.3g\n", mab, mac);
        } else
            CHECK(0, "encode 528x528 did not run");
        free(a), free(b), free(c);
        free(px);
    }
}

/* ---- bad inputs and mismatched weights: clear errors ---- */

/* An input of `shape` / `dtype` (zeros) must be refused by output_shapes and by run, the message holding
 * `needle`. */
static void expect_input_error(dio_weights *w, const char *comp_name, int32_t ndim, const int64_t *shape,
                               int32_t dtype, const char *needle, const char *what)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_component *comp = NULL;
    dio_buffer *ib = NULL, *ob = NULL;
    dio_tensor it, ot, os;
    int64_t n = 1, oshape[5] = {1, 16, 1, 3, 5};
    void *zeros = NULL;
    dio_status st;
    for (int32_t i = 0; i < ndim; i++) n *= shape[i];
    if (dio_component_create(ctx, be, comp_name, w, NULL, 0, &comp) != DIO_OK ||
        !(zeros = calloc((size_t)(n > 0 ? n : 1), 4)) ||
        r.iface->buffer_alloc(r.ctx, 0, (uint64_t)(n > 0 ? n : 1) * 4, &ib) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, ib, 0, zeros, (uint64_t)(n > 0 ? n : 1) * 4) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, 4096 * 4, &ob) != DIO_OK) {
        CHECK(0, "%s: setup: %s", what, dio_last_error());
        goto done;
    }
    dio_tensor_init(&it, dtype, ndim, shape, ib, 0);
    dio_tensor_init(&ot, DIO_DTYPE_F32, 5, oshape, ob, 0);
    {
        const dio_tensor *ip[1] = {&it}, *op[1] = {&ot};
        st = dio_component_output_shapes(comp, ip, &os);
        CHECK(st != DIO_OK && strstr(dio_last_error(), needle),
              "%s: output_shapes %s (\"%s\"), want an error with \"%s\"", what,
              st == DIO_OK ? "accepted it" : "failed", dio_last_error(), needle);
        printf("  %s -> %s\n", what, dio_last_error());
        st = dio_component_run(comp, ip, op);
        CHECK(st != DIO_OK && strstr(dio_last_error(), needle),
              "%s: run %s (\"%s\"), want an error with \"%s\"", what, st == DIO_OK ? "accepted it" : "failed",
              dio_last_error(), needle);
    }
done:
    if (ib) r.iface->buffer_free(r.ctx, ib);
    if (ob) r.iface->buffer_free(r.ctx, ob);
    free(zeros);
    dio_component_destroy(comp);
}

static void check_bad_inputs(dio_weights *w)
{
    static const int64_t bad_t[3] = {2, 4, 6};
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    char label[96], p[4096];
    dio_weights *dit = NULL;
    dio_component *comp = NULL;
    /* encoder: frame counts other than 1 + 4k */
    for (int i = 0; i < 3; i++) {
        int64_t sh[5] = {1, 3, bad_t[i], 24, 40};
        snprintf(label, sizeof(label), "encode %lld frames", (long long)bad_t[i]);
        expect_input_error(w, "wan-vae-encoder", 5, sh, DIO_DTYPE_F32, "T must be 1 + 4", label);
    }
    /* encoder: sizes not multiples of 8 (the frame count right) */
    {
        int64_t sh1[5] = {1, 3, 5, 20, 40}, sh2[5] = {1, 3, 1, 24, 36}, sh3[5] = {1, 3, 1, 7, 7};
        expect_input_error(w, "wan-vae-encoder", 5, sh1, DIO_DTYPE_F32, "multiples of 8", "encode 20x40");
        expect_input_error(w, "wan-vae-encoder", 5, sh2, DIO_DTYPE_F32, "multiples of 8", "encode 24x36");
        expect_input_error(w, "wan-vae-encoder", 5, sh3, DIO_DTYPE_F32, "multiples of 8", "encode 7x7");
    }
    /* channels that do not match the weights; not 5-D; not float; an empty dim */
    {
        int64_t e4[5] = {1, 4, 1, 24, 40}, d8[5] = {1, 8, 1, 3, 5}, d4d[4] = {16, 1, 3, 5},
                e0[5] = {1, 3, 0, 24, 40}, d0[5] = {1, 16, 1, 0, 5};
        expect_input_error(w, "wan-vae-encoder", 5, e4, DIO_DTYPE_F32, "4 channels, the weights take 3",
                           "encode 4-channel pixels");
        expect_input_error(w, "wan-vae-decoder", 5, d8, DIO_DTYPE_F32, "8 channels, the weights take 16",
                           "decode 8-channel latents");
        expect_input_error(w, "wan-vae-decoder", 4, d4d, DIO_DTYPE_F32, "4 dims, expected 5",
                           "decode a 4-D latent");
        expect_input_error(w, "wan-vae-decoder", 5, d8, DIO_DTYPE_I32, "must be a float",
                           "decode i32 latents");
        expect_input_error(w, "wan-vae-encoder", 5, e0, DIO_DTYPE_F32, "empty dim", "encode 0 frames");
        expect_input_error(w, "wan-vae-decoder", 5, d0, DIO_DTYPE_F32, "empty dim", "decode height 0");
    }
    /* run with an output that is not what output_shapes said */
    {
        input in;
        dio_buffer *ob = NULL;
        dio_tensor ot;
        int64_t wrong[5] = {1, 16, 1, 3, 4};
        if (!input_load("enc1.x", &in) &&
            dio_component_create(ctx, be, "wan-vae-encoder", w, NULL, 0, &comp) == DIO_OK &&
            r.iface->buffer_alloc(r.ctx, 0, 16 * 12 * 4, &ob) == DIO_OK) {
            const dio_tensor *ip[1] = {&in.t}, *op[1] = {&ot};
            dio_tensor_init(&ot, DIO_DTYPE_F32, 5, wrong, ob, 0);
            CHECK(dio_component_run(comp, ip, op) != DIO_OK && strstr(dio_last_error(), "output \"latents\""),
                  "encode into a [1,16,1,3,4] output: \"%s\"", dio_last_error());
            printf("  encode into a wrong-shaped output -> %s\n", dio_last_error());
        } else
            CHECK(0, "wrong output: setup: %s", dio_last_error());
        if (ob) r.iface->buffer_free(r.ctx, ob);
        input_free(&in);
        dio_component_destroy(comp);
        comp = NULL;
    }
    /* mismatched weights: the DiT's weights; the diffusers file read as native; a wrong latents_mean count */
    snprintf(p, sizeof(p), "%s/../dit/diffusion_pytorch_model.safetensors", fix_dir);
    if (dio_weights_open(p, &dit) == DIO_OK) {
        CHECK(dio_component_create(ctx, be, "wan-vae-decoder", dit, NULL, 0, &comp) != DIO_OK &&
                  strstr(dio_last_error(), "\"post_quant_conv.weight\" is missing"),
              "DiT weights as a VAE decoder: \"%s\"", dio_last_error());
        printf("  DiT weights for wan-vae-decoder -> %s\n", dio_last_error());
        dio_component_destroy(comp);
        comp = NULL;
        CHECK(dio_component_create(ctx, be, "wan-vae-encoder", dit, NULL, 0, &comp) != DIO_OK &&
                  strstr(dio_last_error(), "\" is missing"),
              "DiT weights as a VAE encoder: \"%s\"", dio_last_error());
        dio_component_destroy(comp);
        comp = NULL;
        dio_weights_close(dit);
    } else
        CHECK(0, "cannot open %s", p);
    {
        const dio_kv native[] = {{"layout", "native"}};
        const dio_kv mean3[] = {{"latents_mean", "0.1,0.2,0.3"}};
        CHECK(dio_component_create(ctx, be, "wan-vae-encoder", w, native, 1, &comp) != DIO_OK &&
                  strstr(dio_last_error(), "\"encoder.conv1.weight\" is missing"),
              "diffusers weights with layout=native: \"%s\"", dio_last_error());
        printf("  diffusers weights with layout=native -> %s\n", dio_last_error());
        dio_component_destroy(comp);
        comp = NULL;
        CHECK(dio_component_create(ctx, be, "wan-vae-decoder", w, mean3, 1, &comp) != DIO_OK &&
                  strstr(dio_last_error(), "latents_mean"),
              "3 latents_mean values for z 16: \"%s\"", dio_last_error());
        printf("  latents_mean with 3 values -> %s\n", dio_last_error());
        dio_component_destroy(comp);
        comp = NULL;
    }
}

/* ---- `diorama component run` helpers (tests/vae/CMakeLists.txt runs the CLI between them) ---- */

/* test_vae --cli-input OUT PORT FILE NAME [PORT FILE NAME]...: writes OUT with each fixture tensor NAME of
 * FILE stored under the component's port name PORT. Removes OUT.out (the run's output) first, so a
 * stale output of an earlier run can never pass the check. */
static int cli_input(int argc, char **argv)
{
    dio_weights *f[4] = {0};
    dio_named_tensor t[4];
    dio_weight_info wi;
    char stale[4096];
    int n = 0, rc = 1;
    if (argc < 6 || (argc - 3) % 3 || (argc - 3) / 3 > 4) {
        fprintf(stderr, "usage: test_vae --cli-input OUT PORT FILE NAME [PORT FILE NAME]...\n");
        return 2;
    }
    snprintf(stale, sizeof(stale), "%s.out", argv[2]);
    remove(stale);
    for (int i = 3; i + 2 < argc; i += 3, n++) {
        wi.struct_size = sizeof(wi);
        if (dio_weights_open(argv[i + 1], &f[n]) != DIO_OK ||
            dio_weights_find(f[n], argv[i + 2], &wi) != DIO_OK) {
            printf("FAIL: %s\n", dio_last_error());
            goto done;
        }
        t[n].name = argv[i];
        t[n].dtype = wi.dtype;
        t[n].ndim = wi.ndim;
        memset(t[n].shape, 0, sizeof(t[n].shape));
        memcpy(t[n].shape, wi.shape, sizeof(int64_t) * (size_t)wi.ndim);
        t[n].data = wi.data;
    }
    if (dio_safetensors_write(argv[2], t, (size_t)n, NULL, 0) != DIO_OK) {
        printf("FAIL: %s\n", dio_last_error());
        goto done;
    }
    printf("wrote %s\n", argv[2]);
    rc = 0;
done:
    for (int i = 0; i < 4; i++) dio_weights_close(f[i]);
    return rc;
}

/* test_vae --cli-check OUT PORT FILE NAME: OUT's tensor PORT equals fixture tensor NAME of FILE, shape for
 * shape, within atol 1e-4 + rtol 1e-4 (the fixture README's rule). */
static int cli_check(int argc, char **argv)
{
    dio_weights *o = NULL, *f = NULL;
    dio_weight_info a, b;
    dio_tensor gs;
    cmp_ c;
    int rc = 1;
    if (argc != 6) {
        fprintf(stderr, "usage: test_vae --cli-check OUT PORT FILE NAME\n");
        return 2;
    }
    a.struct_size = b.struct_size = sizeof(a);
    if (dio_weights_open(argv[2], &o) != DIO_OK || dio_weights_find(o, argv[3], &a) != DIO_OK ||
        dio_weights_open(argv[4], &f) != DIO_OK || dio_weights_find(f, argv[5], &b) != DIO_OK) {
        printf("FAIL: %s\n", dio_last_error());
        goto done;
    }
    if (a.dtype != DIO_DTYPE_F32 || b.dtype != DIO_DTYPE_F32) {
        printf("FAIL: %s / %s are not both f32\n", argv[3], argv[5]);
        goto done;
    }
    dio_tensor_init(&gs, DIO_DTYPE_F32, a.ndim, a.shape, NULL, 0);
    if (compare(a.data, &gs, b.data, b.ndim, b.shape, &c)) {
        printf("FAIL: %s of %s has another shape than %s\n", argv[3], argv[2], argv[5]);
        goto done;
    }
    printf("%s \"%s\" vs %s: max abs %.3g, rel L2 %.3g\n", argv[2], argv[3], argv[5], c.max_abs, c.rel_l2);
    if (!(c.excess <= 0)) {
        printf("FAIL: beyond atol 1e-4 + rtol 1e-4\n");
        goto done;
    }
    rc = 0;
done:
    dio_weights_close(o);
    dio_weights_close(f);
    return rc;
}

int main(int argc, char **argv)
{
    dio_status st0;
    dio_weights *w = NULL;
    char p[4096];
    if (argc > 1 && !strcmp(argv[1], "--cli-input")) return cli_input(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--cli-check")) return cli_check(argc, argv);
    if (argc != 4) {
        fprintf(stderr, "usage: test_vae PLUGIN_DIR FIXTURE_DIR WORK_DIR\n"
                        "       test_vae --cli-input OUT PORT FILE NAME [PORT FILE NAME]...\n"
                        "       test_vae --cli-check OUT PORT FILE NAME\n");
        return 2;
    }
    plugin_dir = argv[1];
    fix_dir = argv[2];
    work = argv[3];
    if ((st0 = dio_test_open_backend(plugin_dir, &ctx, &be)) != DIO_OK)
        return st0 == DIO_ERR_NOT_SUPPORTED ? 77 : 1;
    snprintf(p, sizeof(p), "%s/tensors.safetensors", fix_dir);
    if (dio_weights_open(p, &fx) != DIO_OK) {
        printf("FAIL: %s\n", dio_last_error());
        return 1;
    }
    {
        static const struct {
            const char *label, *file;
            int written, bf16;
        } variants[] = {
            {"diffusers-f32", "diffusion_pytorch_model.safetensors", 0, 0},
            {"native-pth-f32", "tokenizer.pth", 0, 0},
            {"native-bf16", "native_bf16.safetensors", 1, 1},
        };
        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
            snprintf(p, sizeof(p), "%s/%s", variants[v].written ? work : fix_dir, variants[v].file);
            if (variants[v].written && write_variant(p, 1, DIO_DTYPE_BF16, NULL, NULL, NULL)) {
                CHECK(0, "%s: cannot write %s", variants[v].label, p);
                continue;
            }
            if (dio_weights_open(p, &w) != DIO_OK) {
                CHECK(0, "%s: %s", variants[v].label, dio_last_error());
                continue;
            }
            check_encoder(variants[v].label, w, variants[v].bf16);
            check_decoder(variants[v].label, w, variants[v].bf16);
            dio_weights_close(w);
            w = NULL;
        }
    }
    snprintf(p, sizeof(p), "%s/diffusion_pytorch_model.safetensors", fix_dir);
    if (dio_weights_open(p, &w) == DIO_OK) {
        dio_kv kv[1] = {{"clamp", "false"}};
        check_batch2(w, "wan-vae-encoder", "enc13.x", "enc13.latents", NULL, 0);
        check_batch2(w, "wan-vae-decoder", "dec2.latents", "dec2.sample", NULL, 0);
        check_batch2(w, "wan-vae-decoder", "dec1.latents", "dec1.chunk0.decoder.conv_out", kv, 1);
        check_tiled(w);
        check_tiled_encode(w);
        check_bad_inputs(w);
        dio_weights_close(w);
        w = NULL;
    } else
        CHECK(0, "batch 2: %s", dio_last_error());
    {
        char pb[4096];
        snprintf(p, sizeof(p), "%s/native_bf16.safetensors", work);
        snprintf(pb, sizeof(pb), "%s/native_bf16_rounded_f32.safetensors", work);
        if (!write_variant(pb, 1, DIO_TEST_BF16_IN_F32, NULL, NULL, NULL)) check_bf16_path(p, pb);
    }
    /* Broken weights name the tensor, in the layout that was asked for. */
    snprintf(p, sizeof(p), "%s/bad_missing.safetensors", work);
    if (!write_variant(p, 1, DIO_DTYPE_F32, "encoder.down_blocks.6.conv_shortcut.weight", NULL, NULL))
        check_bad("missing key", p, "wan-vae-encoder", "encoder.downsamples.6.shortcut.weight");
    snprintf(p, sizeof(p), "%s/bad_missing_dec.safetensors", work);
    if (!write_variant(p, 0, DIO_DTYPE_F32, "decoder.mid_block.attentions.0.proj.bias", NULL, NULL))
        check_bad("missing key (decoder)", p, "wan-vae-decoder", "decoder.mid_block.attentions.0.proj.bias");
    snprintf(p, sizeof(p), "%s/bad_shape.safetensors", work);
    if (!write_variant(p, 0, DIO_DTYPE_F32, NULL, "decoder.up_blocks.1.resnets.0.conv1.weight", NULL))
        check_bad("wrong shape", p, "wan-vae-decoder", "decoder.up_blocks.1.resnets.0.conv1.weight");
    snprintf(p, sizeof(p), "%s/bad_dtype.safetensors", work);
    if (!write_variant(p, 0, DIO_DTYPE_F32, NULL, NULL, "encoder.norm_out.gamma"))
        check_bad("wrong dtype", p, "wan-vae-encoder", "encoder.norm_out.gamma");
    dio_weights_close(fx);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    if (failures)
        printf("%d failure(s)\n", failures);
    else
        printf("all VAE fixture checks passed\n");
    return failures ? 1 : 0;
}
