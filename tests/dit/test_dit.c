/* The cosmos-dit component against the DiT golden fixtures (tests/fixtures/dit, tests/reference/gen_dit.py).
 *
 * For every case (t2w, i2w, v2w, ts1d, b2, rope_t2, fps16, padmask) and every stage the fixture hooks
 * (input assembly, RoPE tables, patch embed, sinusoid, temb, embedded timestep, text projection, block 0's
 * AdaLN outputs, gates, QK norms and sub-layers, every block's output, the final layer and the sample), the
 * component runs with `stage` set and its output is compared with the fixture: fp32 weights within 1e-4 of
 * the tensor's largest magnitude (max abs error / max |ref|), bf16 and f16 weights by relative L2 error
 * below 1e-2. Weight variants: the diffusers safetensors as generated; native (`net.` keys) f32, bf16 and
 * f16 safetensors written here from it (the map is the one of plugins/dit, restated); the native .pt files
 * (tiny_ema_fp32.pt, tiny_ema_bf16.pt) through the host's .pt reader. Also: one component reused across
 * shapes gives the same outputs (the arena), bf16 activations stay close, a missing key / wrong shape / wrong
 * dtype fails naming the tensor, and `diorama component run` on a fixture's inputs writes a matching output.
 * Usage: test_dit PLUGIN_DIR FIXTURE_DIR WORK_DIR DIORAMA_EXE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

static const char *plugin_dir, *fix_dir, *work, *exe;
static dio_context *ctx;
static dio_backend *be;

static const char *const cases[] = {"t2w", "i2w", "v2w", "ts1d", "b2", "rope_t2", "fps16", "padmask"};
#define N_CASES ((int)(sizeof(cases) / sizeof(cases[0])))

/* diffusers → native names (block part after "transformer_blocks.N." / "net.blocks.N."). */
static const char *const block_map[][2] = {
    {"attn1.to_q.weight", "self_attn.q_proj.weight"},
    {"attn1.to_k.weight", "self_attn.k_proj.weight"},
    {"attn1.to_v.weight", "self_attn.v_proj.weight"},
    {"attn1.to_out.0.weight", "self_attn.output_proj.weight"},
    {"attn1.norm_q.weight", "self_attn.q_norm.weight"},
    {"attn1.norm_k.weight", "self_attn.k_norm.weight"},
    {"attn2.to_q.weight", "cross_attn.q_proj.weight"},
    {"attn2.to_k.weight", "cross_attn.k_proj.weight"},
    {"attn2.to_v.weight", "cross_attn.v_proj.weight"},
    {"attn2.to_out.0.weight", "cross_attn.output_proj.weight"},
    {"attn2.norm_q.weight", "cross_attn.q_norm.weight"},
    {"attn2.norm_k.weight", "cross_attn.k_norm.weight"},
    {"ff.net.0.proj.weight", "mlp.layer1.weight"},
    {"ff.net.2.weight", "mlp.layer2.weight"},
    {"norm1.linear_1.weight", "adaln_modulation_self_attn.1.weight"},
    {"norm1.linear_2.weight", "adaln_modulation_self_attn.2.weight"},
    {"norm2.linear_1.weight", "adaln_modulation_cross_attn.1.weight"},
    {"norm2.linear_2.weight", "adaln_modulation_cross_attn.2.weight"},
    {"norm3.linear_1.weight", "adaln_modulation_mlp.1.weight"},
    {"norm3.linear_2.weight", "adaln_modulation_mlp.2.weight"},
};
static const char *const top_map[][2] = {
    {"patch_embed.proj.weight", "x_embedder.proj.1.weight"},
    {"time_embed.t_embedder.linear_1.weight", "t_embedder.1.linear_1.weight"},
    {"time_embed.t_embedder.linear_2.weight", "t_embedder.1.linear_2.weight"},
    {"time_embed.norm.weight", "t_embedding_norm.weight"},
    {"norm_out.linear_1.weight", "final_layer.adaln_modulation.1.weight"},
    {"norm_out.linear_2.weight", "final_layer.adaln_modulation.2.weight"},
    {"proj_out.weight", "final_layer.linear.weight"},
    {"crossattn_proj.0.weight", "crossattn_proj.0.weight"},
    {"crossattn_proj.0.bias", "crossattn_proj.0.bias"},
};

static void native_name(const char *dname, char *out, size_t n)
{
    int blk;
    char rest[200];
    snprintf(out, n, "%s", dname);
    for (size_t i = 0; i < sizeof(top_map) / sizeof(top_map[0]); i++)
        if (!strcmp(dname, top_map[i][0])) {
            snprintf(out, n, "net.%s", top_map[i][1]);
            return;
        }
    if (sscanf(dname, "transformer_blocks.%d.%199s", &blk, rest) == 2)
        for (size_t i = 0; i < sizeof(block_map) / sizeof(block_map[0]); i++)
            if (!strcmp(rest, block_map[i][0])) {
                snprintf(out, n, "net.blocks.%d.%s", blk, block_map[i][1]);
                return;
            }
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

/* ---- running the component ---- */

typedef struct inputs {
    dio_weights *file;
    dio_tensor t[5];
    const dio_tensor *p[5];
    dio_buffer *buf[5];
} inputs;

static void inputs_free(inputs *in)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    for (int i = 0; i < 5; i++)
        if (in->buf[i]) r.iface->buffer_free(r.ctx, in->buf[i]);
    dio_weights_close(in->file);
    memset(in, 0, sizeof(*in));
}

static int inputs_load(const char *cs, inputs *in)
{
    static const char *const names[5] = {"in.hidden_states", "in.timestep", "in.encoder_hidden_states",
                                         "in.condition_mask", "in.padding_mask"};
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    char p[4096];
    memset(in, 0, sizeof(*in));
    snprintf(p, sizeof(p), "%s/%s.safetensors", fix_dir, cs);
    if (dio_weights_open(p, &in->file) != DIO_OK) return 1;
    for (int i = 0; i < 5; i++) {
        dio_weight_info w;
        w.struct_size = sizeof(w);
        if (dio_weights_find(in->file, names[i], &w) != DIO_OK) return 1;
        if (r.iface->buffer_alloc(r.ctx, 0, w.nbytes, &in->buf[i]) != DIO_OK) return 1;
        if (r.iface->buffer_upload(r.ctx, NULL, in->buf[i], 0, w.data, w.nbytes) != DIO_OK) return 1;
        dio_tensor_init(&in->t[i], w.dtype, w.ndim, w.shape, in->buf[i], 0);
        in->p[i] = &in->t[i];
    }
    return 0;
}

/* Runs `comp` on `in`; returns a malloc'd f32 copy of the output and its shape, or NULL. */
static float *run(dio_component *comp, const inputs *in, dio_tensor *shape)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_buffer *ob = NULL;
    float *host = NULL;
    uint64_t bytes;
    if (dio_component_output_shapes(comp, in->p, shape) != DIO_OK) goto fail;
    bytes = (uint64_t)dio_tensor_numel(shape) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, bytes, &ob) != DIO_OK) goto fail;
    dio_tensor_init(shape, DIO_DTYPE_F32, shape->ndim, shape->shape, ob, 0);
    if (!(host = malloc(bytes))) goto fail;
    {
        const dio_tensor *o[] = {shape};
        if (dio_component_run(comp, in->p, o) != DIO_OK) goto fail;
    }
    if (r.iface->buffer_download(r.ctx, NULL, ob, 0, host, bytes) != DIO_OK) goto fail;
    r.iface->buffer_free(r.ctx, ob);
    return host;
fail:
    printf("  run failed: %s\n", dio_last_error());
    if (ob) r.iface->buffer_free(r.ctx, ob);
    free(host);
    return NULL;
}

/* ---- comparison ---- */

typedef struct stat_ {
    double max_abs, ref_max, l2_err, l2_ref;
} stat_;

static void acc(stat_ *s, double a, double r)
{
    double e = fabs(a - r);
    if (!(e <= s->max_abs)) s->max_abs = isnan(e) ? INFINITY : e;
    if (fabs(r) > s->ref_max) s->ref_max = fabs(r);
    s->l2_err += (a - r) * (a - r);
    s->l2_ref += r * r;
}

/* How the component's layout maps to the fixture's. */
enum { MAP_SAME, MAP_GATE, MAP_HEADS };

/* Compares; MAP_GATE: ours [B, G, D] vs ref [B, N, D] or [B, 1, D]; MAP_HEADS: ours [B, S, H, d] vs ref
 * [B, H, S, d]. Returns 0 when the sizes fit. */
static int compare(const float *got, const dio_tensor *gs, const dio_weight_info *ref, int map, stat_ *s)
{
    const float *r = ref->data;
    int64_t ng = dio_tensor_numel(gs), nr = 1;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < ref->ndim; i++) nr *= ref->shape[i];
    if (map == MAP_SAME) {
        if (ng != nr) return 1;
        for (int64_t i = 0; i < ng; i++) acc(s, got[i], r[i]);
    } else if (map == MAP_GATE) {
        int64_t B = gs->shape[0], G = gs->shape[1], D = gs->shape[2], N = ref->shape[1];
        if (ref->ndim != 3 || ref->shape[0] != B || ref->shape[2] != D || N % G) return 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < D; c++)
                    acc(s, got[(b * G + n / (N / G)) * D + c], r[(b * N + n) * D + c]);
    } else {
        int64_t B = gs->shape[0], S = gs->shape[1], H = gs->shape[2], d = gs->shape[3];
        if (ref->ndim != 4 || ref->shape[1] != H || ref->shape[2] != S || ng != nr) return 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t sq = 0; sq < S; sq++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t c = 0; c < d; c++)
                        acc(s, got[((b * S + sq) * H + h) * d + c], r[((b * H + h) * S + sq) * d + c]);
    }
    return 0;
}

typedef struct stage_ref {
    const char *stage, *ref;
    int map;
} stage_ref;

static const stage_ref stages[] = {
    {"input", "act.x_in", MAP_SAME},
    {"rope_cos", "act.rope.cos", MAP_SAME},
    {"rope_sin", "act.rope.sin", MAP_SAME},
    {"patch_embed", "act.patch_embed", MAP_SAME},
    {"timestep_proj", "act.time_proj", MAP_SAME},
    {"temb", "act.temb", MAP_SAME},
    {"embedded_timestep", "act.embedded_timestep", MAP_SAME},
    {"crossattn_proj", "act.crossattn_proj", MAP_SAME},
    {"block.0.norm1", "act.blocks.0.norm1.x", MAP_SAME},
    {"block.0.gate1", "act.blocks.0.norm1.gate", MAP_GATE},
    {"block.0.attn1.norm_q", "act.blocks.0.attn1.norm_q", MAP_HEADS},
    {"block.0.attn1.norm_k", "act.blocks.0.attn1.norm_k", MAP_HEADS},
    {"block.0.attn1", "act.blocks.0.attn1", MAP_SAME},
    {"block.0.norm2", "act.blocks.0.norm2.x", MAP_SAME},
    {"block.0.gate2", "act.blocks.0.norm2.gate", MAP_GATE},
    {"block.0.attn2.norm_q", "act.blocks.0.attn2.norm_q", MAP_HEADS},
    {"block.0.attn2.norm_k", "act.blocks.0.attn2.norm_k", MAP_HEADS},
    {"block.0.attn2", "act.blocks.0.attn2", MAP_SAME},
    {"block.0.norm3", "act.blocks.0.norm3.x", MAP_SAME},
    {"block.0.gate3", "act.blocks.0.norm3.gate", MAP_GATE},
    {"block.0.ff", "act.blocks.0.ff", MAP_SAME},
    {"block.0", "act.blocks.0.out", MAP_SAME},
    {"block.1", "act.blocks.1.out", MAP_SAME},
    {"norm_out", "act.norm_out", MAP_SAME},
    {"proj_out", "act.proj_out", MAP_SAME},
    {"", "out.sample", MAP_SAME},
};
#define N_STAGES ((int)(sizeof(stages) / sizeof(stages[0])))

/* Fills the params every case needs (diffusers numerics, the case's RoPE / fps) plus extra ones. */
static size_t case_params(const char *cs, dio_kv *kv, const char *stage, const char *dtype)
{
    size_t n = 0;
    kv[n++] = (dio_kv){"mode", "diffusers"};
    if (!strcmp(cs, "rope_t2")) kv[n++] = (dio_kv){"rope_t_extrapolation_ratio", "2"};
    if (!strcmp(cs, "fps16")) kv[n++] = (dio_kv){"fps", "16"};
    if (stage && stage[0]) kv[n++] = (dio_kv){"stage", stage};
    if (dtype) kv[n++] = (dio_kv){"dtype", dtype};
    return n;
}

/* Every case × stage for one weight variant; `tol` < 0 selects the relative-L2 rule (low-precision
 * weights), else max-abs relative to the tensor's max. */
static void check_variant(const char *label, dio_weights *w, double tol)
{
    double worst_all = 0;
    for (int c = 0; c < N_CASES; c++) {
        inputs in;
        dio_weights *cf = NULL;
        char p[4096], worst_stage[64] = "";
        double worst = 0;
        if (inputs_load(cases[c], &in)) {
            CHECK(0, "%s: cannot load case %s: %s", label, cases[c], dio_last_error());
            inputs_free(&in);
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s.safetensors", fix_dir, cases[c]);
        dio_weights_open(p, &cf);
        for (int s = 0; s < N_STAGES; s++) {
            dio_kv kv[6];
            size_t nkv = case_params(cases[c], kv, stages[s].stage, NULL);
            dio_component *comp = NULL;
            dio_weight_info ref;
            dio_tensor shape;
            float *got;
            stat_ st;
            double err;
            ref.struct_size = sizeof(ref);
            if (!cf || dio_weights_find(cf, stages[s].ref, &ref) != DIO_OK) {
                CHECK(0, "%s/%s: fixture has no %s", label, cases[c], stages[s].ref);
                continue;
            }
            if (dio_component_create(ctx, be, "cosmos-dit", w, kv, nkv, &comp) != DIO_OK) {
                CHECK(0, "%s/%s: create: %s", label, cases[c], dio_last_error());
                continue;
            }
            got = run(comp, &in, &shape);
            if (got && compare(got, &shape, &ref, stages[s].map, &st) == 0) {
                if (tol >= 0) {
                    err = st.max_abs / (st.ref_max > 1e-6 ? st.ref_max : 1e-6);
                    CHECK(err <= tol, "%s/%s stage %s (%s): max abs err %.3g, relative %.3g > %.1g", label,
                          cases[c], stages[s].stage[0] ? stages[s].stage : "output", stages[s].ref,
                          st.max_abs, err, tol);
                } else {
                    err = sqrt(st.l2_err / (st.l2_ref > 1e-30 ? st.l2_ref : 1e-30));
                    CHECK(err <= -tol, "%s/%s stage %s (%s): relative L2 err %.3g > %.1g", label, cases[c],
                          stages[s].stage[0] ? stages[s].stage : "output", stages[s].ref, err, -tol);
                }
                if (err >= worst) {
                    worst = err;
                    snprintf(worst_stage, sizeof(worst_stage), "%s",
                             stages[s].stage[0] ? stages[s].stage : "output");
                }
            } else {
                CHECK(0, "%s/%s stage %s: no output or shape mismatch with %s", label, cases[c],
                      stages[s].stage, stages[s].ref);
            }
            free(got);
            dio_component_destroy(comp);
        }
        printf("  %-16s %-8s worst %s %.3g (%s)\n", label, cases[c], tol >= 0 ? "max-rel" : "rel-L2", worst,
               worst_stage);
        if (worst > worst_all) worst_all = worst;
        dio_weights_close(cf);
        inputs_free(&in);
    }
    printf("%s: worst over all cases and stages %.3g\n", label, worst_all);
}

/* One component, cases run in turn (shapes change between them, then come back): outputs must match the
 * fixture each time, so the arena is re-laid-out and reused correctly. */
static void check_reuse(dio_weights *w)
{
    static const char *const order[] = {"t2w", "b2", "t2w", "ts1d", "ts1d", "i2w"};
    dio_kv kv[4];
    size_t nkv = case_params("t2w", kv, NULL, NULL);
    dio_component *comp = NULL;
    if (dio_component_create(ctx, be, "cosmos-dit", w, kv, nkv, &comp) != DIO_OK) {
        CHECK(0, "reuse: create: %s", dio_last_error());
        return;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        inputs in;
        dio_weight_info ref;
        dio_tensor shape;
        stat_ st;
        float *got = NULL;
        ref.struct_size = sizeof(ref);
        if (inputs_load(order[i], &in) || dio_weights_find(in.file, "out.sample", &ref) != DIO_OK) {
            CHECK(0, "reuse: load %s", order[i]);
        } else if ((got = run(comp, &in, &shape)) && compare(got, &shape, &ref, MAP_SAME, &st) == 0) {
            CHECK(st.max_abs / st.ref_max <= 1e-4, "reuse: %s (call %zu) relative err %.3g", order[i], i,
                  st.max_abs / st.ref_max);
        } else {
            CHECK(0, "reuse: %s (call %zu) failed", order[i], i);
        }
        free(got);
        inputs_free(&in);
    }
    dio_component_destroy(comp);
}

/* bf16 activations (f32 weights) against the fp32 golden: relative L2 per block and output. */
static void check_bf16_activations(dio_weights *w)
{
    static const char *const st_names[] = {"block.0", "block.1", ""};
    static const char *const refs[] = {"act.blocks.0.out", "act.blocks.1.out", "out.sample"};
    for (int c = 0; c < N_CASES; c++) {
        inputs in;
        double worst = 0;
        if (inputs_load(cases[c], &in)) {
            CHECK(0, "bf16 act: load %s", cases[c]);
            inputs_free(&in);
            continue;
        }
        for (int s = 0; s < 3; s++) {
            dio_kv kv[6];
            size_t nkv = case_params(cases[c], kv, st_names[s], "bf16");
            dio_component *comp = NULL;
            dio_weight_info ref;
            dio_tensor shape;
            stat_ st;
            float *got = NULL;
            ref.struct_size = sizeof(ref);
            if (dio_component_create(ctx, be, "cosmos-dit", w, kv, nkv, &comp) != DIO_OK ||
                dio_weights_find(in.file, refs[s], &ref) != DIO_OK || !(got = run(comp, &in, &shape)) ||
                compare(got, &shape, &ref, MAP_SAME, &st)) {
                CHECK(0, "bf16 act: %s %s failed: %s", cases[c], refs[s], dio_last_error());
            } else {
                double e = sqrt(st.l2_err / st.l2_ref);
                CHECK(e <= 2e-2, "bf16 act: %s %s relative L2 %.3g > 2e-2", cases[c], refs[s], e);
                if (e > worst) worst = e;
            }
            free(got);
            dio_component_destroy(comp);
        }
        printf("  bf16-activations %-8s worst rel-L2 %.3g\n", cases[c], worst);
        inputs_free(&in);
    }
}

/* A broken weights file must fail at create with a message naming `name`. */
static void check_bad(const char *what, const char *file, const char *name)
{
    dio_weights *w = NULL;
    dio_component *comp = NULL;
    dio_status st;
    if (dio_weights_open(file, &w) != DIO_OK) {
        CHECK(0, "%s: cannot open %s", what, file);
        return;
    }
    st = dio_component_create(ctx, be, "cosmos-dit", w, NULL, 0, &comp);
    CHECK(st != DIO_OK, "%s: create succeeded", what);
    CHECK(strstr(dio_last_error(), name) != NULL, "%s: message \"%s\" does not name %s", what,
          dio_last_error(), name);
    if (st != DIO_OK) printf("  %s -> %s\n", what, dio_last_error());
    dio_component_destroy(comp);
    dio_weights_close(w);
}

/* `diorama component run cosmos-dit` on the i2w inputs (renamed to the port names). */
static void check_cli(void)
{
    static const char *const from[5] = {"in.hidden_states", "in.timestep", "in.encoder_hidden_states",
                                        "in.condition_mask", "in.padding_mask"};
    static const char *const to[5] = {"latents", "timestep", "text_embeddings", "condition_mask",
                                      "padding_mask"};
    dio_weights *cf = NULL, *out = NULL;
    dio_named_tensor t[5];
    dio_weight_info w, ref;
    char p[4096], in_path[4096], out_path[4096], cmd[16384];
    int rc;
    stat_ st;
    snprintf(p, sizeof(p), "%s/i2w.safetensors", fix_dir);
    snprintf(in_path, sizeof(in_path), "%s/cli_in.safetensors", work);
    snprintf(out_path, sizeof(out_path), "%s/cli_out.safetensors", work);
    remove(out_path);
    if (dio_weights_open(p, &cf) != DIO_OK) {
        CHECK(0, "cli: open %s", p);
        return;
    }
    for (int i = 0; i < 5; i++) {
        w.struct_size = sizeof(w);
        if (dio_weights_find(cf, from[i], &w) != DIO_OK) {
            CHECK(0, "cli: %s missing", from[i]);
            goto done;
        }
        t[i].name = to[i];
        t[i].dtype = w.dtype;
        t[i].ndim = w.ndim;
        memcpy(t[i].shape, w.shape, sizeof(t[i].shape));
        t[i].data = w.data;
    }
    if (dio_safetensors_write(in_path, t, 5, NULL, 0) != DIO_OK) {
        CHECK(0, "cli: write inputs: %s", dio_last_error());
        goto done;
    }
    snprintf(
        cmd, sizeof(cmd),
        "'%s' --plugin-dir '%s' component run cosmos-dit --weights '%s/diffusion_pytorch_model.safetensors' "
        "--params '{\"mode\":\"diffusers\"}' --inputs '%s' --outputs '%s'",
        exe, plugin_dir, fix_dir, in_path, out_path);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "cli: `%s` failed", cmd);
    if (dio_weights_open(out_path, &out) != DIO_OK) {
        CHECK(0, "cli: no output file");
        goto done;
    }
    w.struct_size = sizeof(w);
    ref.struct_size = sizeof(ref);
    if (dio_weights_find(out, "velocity", &w) != DIO_OK ||
        dio_weights_find(cf, "out.sample", &ref) != DIO_OK) {
        CHECK(0, "cli: velocity / out.sample missing");
        goto done;
    }
    {
        dio_tensor gs;
        dio_tensor_init(&gs, DIO_DTYPE_F32, w.ndim, w.shape, NULL, 0);
        CHECK(compare(w.data, &gs, &ref, MAP_SAME, &st) == 0 && st.max_abs / st.ref_max <= 1e-4,
              "cli: output differs (relative %.3g)", st.max_abs / st.ref_max);
        printf("  cli i2w: max-rel %.3g\n", st.max_abs / st.ref_max);
    }
done:
    dio_weights_close(out);
    dio_weights_close(cf);
}

int main(int argc, char **argv)
{
    dio_status st0;
    dio_weights *w = NULL;
    char p[4096];
    static const struct {
        const char *label, *file;
        int native;
        int32_t dtype;
        double tol;
    } variants[] = {
        {"native-f32", "native_f32.safetensors", 1, DIO_DTYPE_F32, 1e-4},
        {"native-bf16", "native_bf16.safetensors", 1, DIO_DTYPE_BF16, -1e-2},
        {"diffusers-f16", "diffusers_f16.safetensors", 0, DIO_DTYPE_F16, -1e-2},
        {"diffusers-bf16", "diffusers_bf16.safetensors", 0, DIO_DTYPE_BF16, -1e-2},
    };
    if (argc != 5) {
        fprintf(stderr, "usage: test_dit PLUGIN_DIR FIXTURE_DIR WORK_DIR DIORAMA_EXE\n");
        return 2;
    }
    plugin_dir = argv[1];
    fix_dir = argv[2];
    work = argv[3];
    exe = argv[4];
    if ((st0 = dio_test_open_backend(plugin_dir, &ctx, &be)) != DIO_OK)
        return st0 == DIO_ERR_NOT_SUPPORTED ? 77 : 1;
    /* The diffusers safetensors, as generated. */
    snprintf(p, sizeof(p), "%s/diffusion_pytorch_model.safetensors", fix_dir);
    if (dio_weights_open(p, &w) != DIO_OK) {
        printf("FAIL: %s\n", dio_last_error());
        failures++;
    } else {
        check_variant("diffusers-f32", w, 1e-4);
        check_reuse(w);
        check_bf16_activations(w);
        dio_weights_close(w);
        w = NULL;
    }
    /* Written variants: native names and low-precision weights. */
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        snprintf(p, sizeof(p), "%s/%s", work, variants[v].file);
        if (write_variant(p, variants[v].native, variants[v].dtype, NULL, NULL, NULL) ||
            dio_weights_open(p, &w) != DIO_OK) {
            CHECK(0, "%s: cannot prepare %s", variants[v].label, p);
            continue;
        }
        check_variant(variants[v].label, w, variants[v].tol);
        dio_weights_close(w);
        w = NULL;
    }
    /* The native .pt checkpoints, when the host reads them. */
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof(p), "%s/tiny_ema_%s.pt", fix_dir, k ? "bf16" : "fp32");
        if (dio_weights_open(p, &w) != DIO_OK) {
            CHECK(0, "%s: %s", p, dio_last_error());
            continue;
        }
        check_variant(k ? "native-pt-bf16" : "native-pt-f32", w, k ? -1e-2 : 1e-4);
        dio_weights_close(w);
        w = NULL;
    }
    /* Broken weights name the tensor. */
    snprintf(p, sizeof(p), "%s/bad_missing.safetensors", work);
    if (!write_variant(p, 1, DIO_DTYPE_F32, "transformer_blocks.1.attn2.norm_k.weight", NULL, NULL))
        check_bad("missing key", p, "net.blocks.1.cross_attn.k_norm.weight");
    snprintf(p, sizeof(p), "%s/bad_shape.safetensors", work);
    if (!write_variant(p, 0, DIO_DTYPE_F32, NULL, "transformer_blocks.1.ff.net.2.weight", NULL))
        check_bad("wrong shape", p, "transformer_blocks.1.ff.net.2.weight");
    snprintf(p, sizeof(p), "%s/bad_dtype.safetensors", work);
    if (!write_variant(p, 0, DIO_DTYPE_F32, NULL, NULL, "time_embed.norm.weight"))
        check_bad("wrong dtype", p, "time_embed.norm.weight");
    {
        dio_kv kv[] = {{"preset", "2B"}};
        dio_component *comp = NULL;
        snprintf(p, sizeof(p), "%s/diffusion_pytorch_model.safetensors", fix_dir);
        if (dio_weights_open(p, &w) == DIO_OK) {
            CHECK(dio_component_create(ctx, be, "cosmos-dit", w, kv, 1, &comp) != DIO_OK,
                  "preset 2B accepted the tiny weights");
            printf("  preset 2B on tiny weights -> %s\n", dio_last_error());
            dio_component_destroy(comp);
            dio_weights_close(w);
            w = NULL;
        }
    }
    check_cli();
    dio_backend_close(be);
    dio_context_destroy(ctx);
    if (failures)
        printf("%d failure(s)\n", failures);
    else
        printf("all DiT fixture checks passed\n");
    return failures ? 1 : 0;
}
