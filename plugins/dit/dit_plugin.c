/* cosmos-dit — the component: ports, parameters, presets, create/destroy, output shapes and run.
 *
 * The Cosmos-Predict2.5 DiT (MinimalV1LVGDiT over MiniTrainDIT; diffusers CosmosTransformer3DModel).
 * Widths come from the weights; a preset (2B: 28 blocks, 2048, 16 heads of 128; 14B: 36, 5120, 40×128)
 * or explicit num_blocks / model_channels / num_heads pin them, so a checkpoint of the wrong size is
 * refused by name. `layout` picks the key names (auto-detected by default), `mode` the numerics
 * (native: timestep × 0.001, fp32 AdaLN, QK eps 1e-6; diffusers: timestep as given, QK eps 1e-5),
 * each overridable. `stage` is for testing: the output then holds that named activation (f32). */
#include <stdlib.h>
#include <string.h>

#include "dit.h"

static const dio_port_desc dit_inputs[DIT_IN_COUNT] = {
    {sizeof(dio_port_desc), -1, 5, 0, "latents", "[B, 16, T, H, W]", "noisy latents (any float dtype)"},
    {sizeof(dio_port_desc), DIO_DTYPE_F32, -1, 0, "timestep", "[B] or [B, 1, T, 1, 1]",
     "timesteps, one per sample or per latent frame (native: 0..1000, scaled by timestep_scale)"},
    {sizeof(dio_port_desc), -1, 3, 0, "text_embeddings",
     "[B, L, 100352] (or [B, L, 1024] without projection)",
     "text-encoder features, projected by crossattn_proj"},
    {sizeof(dio_port_desc), -1, 5, 1, "condition_mask", "[B, 1, T, H, W]",
     "1 on conditioning frames; zeros when absent"},
    {sizeof(dio_port_desc), -1, 4, 1, "padding_mask", "[1 or B, 1, k*H, m*W]",
     "pixel padding mask, nearest-resized to H x W; zeros when absent"},
};

static const dio_port_desc dit_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, -1, 0, "velocity", "[B, 16, T, H, W]",
     "the model output (f32); with `stage` set, that activation instead"},
};

static const dio_param_desc dit_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "preset", "auto", 0, -1, "auto|2B|14B|custom",
     "2B / 14B check the weights against the released sizes; auto and custom take them from the weights"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "num_blocks", "0", 0, 4096, NULL,
     "0: from the preset or weights"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "model_channels", "0", 0, 65536, NULL,
     "0: from the preset or weights"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "num_heads", "0", 0, 4096, NULL, "0: from the preset or weights"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "patch_t", "1", 1, 16, NULL, "temporal patch size"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "patch_h", "2", 1, 16, NULL, "spatial patch size (rows)"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "patch_w", "2", 1, 16, NULL, "spatial patch size (columns)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rope_t_extrapolation_ratio", "1", 1e-6, 1e6, NULL,
     "RoPE NTK ratio, time"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rope_h_extrapolation_ratio", "3", 1e-6, 1e6, NULL,
     "RoPE NTK ratio, height"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rope_w_extrapolation_ratio", "3", 1e-6, 1e6, NULL,
     "RoPE NTK ratio, width"},
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "layout", "auto", 0, -1, "auto|native|diffusers",
     "weight key names: native net.blocks.N... (net. optional) or diffusers transformer_blocks.N..."},
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "mode", "native", 0, -1, "native|diffusers",
     "numerics: native (timestep x 0.001, fp32 AdaLN, QK eps 1e-6) or diffusers (timestep as is, eps 1e-5)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "timestep_scale", "-1", -1, 1e6, NULL,
     "multiplies the timestep; negative: the mode's (0.001 native, 1 diffusers)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "qk_norm_eps", "0", 0, 1, NULL,
     "eps of the per-head QK RMSNorm; 0: the mode's (1e-6 native, 1e-5 diffusers)"},
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "dtype", "f32", 0, -1, "f32|bf16|f16",
     "activation dtype of the residual stream (weights are used in their own dtype)"},
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "stage", "", 0, -1, NULL,
     "testing: output this activation instead (input, patch_embed, timestep_proj, temb, embedded_timestep, "
     "rope_cos, rope_sin, crossattn_proj, block.I, "
     "block.I.{norm1,norm2,norm3,gate1,gate2,gate3,attn1,attn2,ff}, "
     "block.I.{attn1,attn2}.{norm_q,norm_k} ([B, S, heads, head_dim]), norm_out, proj_out)"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "fps", "0", 0, 1000, NULL,
     "frame rate for temporal RoPE positions t * 24 / fps (diffusers' fps argument); 0: plain t (native "
     "2.5)"},
};

#define N_PARAMS ((int32_t)(sizeof(dit_params) / sizeof(dit_params[0])))

static const char *param(const dio_component_create_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_params; i++)
        if (strcmp(info->params[i].key, key) == 0) return info->params[i].value;
    for (int32_t i = 0; i < N_PARAMS; i++)
        if (strcmp(dit_params[i].name, key) == 0) return dit_params[i].default_value;
    return "";
}

static void dit_destroy(void *self)
{
    dit *d = self;
    if (!d) return;
    dit_arena_free(d);
    dit_weights_free(d);
    free(d);
}

static dio_status dit_create(const dio_component_create_info *info, void **out)
{
    const dio_host_services *h = info->host;
    dit *d = NULL;
    dit_config *c;
    const char *v;
    int32_t pinned[3], layout;
    float ts, eps;
    dio_status st;
    if (!info->weights) return h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": needs weights");
    d = calloc(1, sizeof(*d));
    if (!d) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, DIT_WHO ": out of memory");
    d->host = h;
    d->be = *info->backend;
    c = &d->cfg;
    c->patch[0] = atoi(param(info, "patch_t"));
    c->patch[1] = atoi(param(info, "patch_h"));
    c->patch[2] = atoi(param(info, "patch_w"));
    c->rope_ratio[0] = strtof(param(info, "rope_t_extrapolation_ratio"), NULL);
    c->rope_ratio[1] = strtof(param(info, "rope_h_extrapolation_ratio"), NULL);
    c->rope_ratio[2] = strtof(param(info, "rope_w_extrapolation_ratio"), NULL);
    c->fps = strtof(param(info, "fps"), NULL);
    c->mode = strcmp(param(info, "mode"), "diffusers") == 0 ? DIT_MODE_DIFFUSERS : DIT_MODE_NATIVE;
    ts = strtof(param(info, "timestep_scale"), NULL);
    c->timestep_scale = ts >= 0 ? ts : (c->mode == DIT_MODE_NATIVE ? 0.001f : 1.0f);
    eps = strtof(param(info, "qk_norm_eps"), NULL);
    c->qk_eps = eps > 0 ? eps : (c->mode == DIT_MODE_NATIVE ? 1e-6f : 1e-5f);
    v = param(info, "dtype");
    c->act_dtype = !strcmp(v, "bf16") ? DIO_DTYPE_BF16 : !strcmp(v, "f16") ? DIO_DTYPE_F16 : DIO_DTYPE_F32;
    v = param(info, "layout");
    layout = !strcmp(v, "native")      ? DIT_LAYOUT_NATIVE
             : !strcmp(v, "diffusers") ? DIT_LAYOUT_DIFFUSERS
                                       : DIT_LAYOUT_AUTO;
    v = param(info, "preset");
    pinned[0] = !strcmp(v, "2B") ? 28 : !strcmp(v, "14B") ? 36 : 0;
    pinned[1] = !strcmp(v, "2B") ? 2048 : !strcmp(v, "14B") ? 5120 : 0;
    pinned[2] = !strcmp(v, "2B") ? 16 : !strcmp(v, "14B") ? 40 : 0;
    if (atoi(param(info, "num_blocks")) > 0) pinned[0] = atoi(param(info, "num_blocks"));
    if (atoi(param(info, "model_channels")) > 0) pinned[1] = atoi(param(info, "model_channels"));
    if (atoi(param(info, "num_heads")) > 0) pinned[2] = atoi(param(info, "num_heads"));
    v = param(info, "stage");
    if (strlen(v) >= sizeof(d->stage)) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": stage \"%s\" is too long", v);
        goto fail;
    }
    strcpy(d->stage, v);
    if ((st = dit_weights_load(d, info->weights, layout, pinned)) != DIO_OK) goto fail;
    if (pinned[2] > 0 && c->num_heads != pinned[2]) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT,
                          DIT_WHO ": the weights have %d heads of %d, num_heads is %d", c->num_heads,
                          c->head_dim, pinned[2]);
        goto fail;
    }
    *out = d;
    return DIO_OK;
fail:
    dit_destroy(d);
    return st;
}

static dio_status dit_output_shapes(void *self, const dio_tensor *const *in, dio_tensor *out)
{
    return dit_forward_shape(self, in, out);
}

static dio_status dit_run(void *self, dio_stream *s, const dio_tensor *const *in,
                          const dio_tensor *const *out)
{
    dit *d = self;
    dio_tensor want;
    dio_status st;
    if ((st = dit_forward_shape(d, in, &want)) != DIO_OK) return st;
    if (!out || !out[0] || out[0]->dtype != DIO_DTYPE_F32 || out[0]->ndim != want.ndim ||
        memcmp(out[0]->shape, want.shape, sizeof(int64_t) * (size_t)want.ndim) != 0 ||
        !dio_tensor_is_contiguous(out[0]))
        return d->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  DIT_WHO ": output \"velocity\" must be a contiguous f32 tensor shaped as "
                                          "output_shapes said");
    return dit_forward(d, s, in, out[0]);
}

static const dio_component_iface dit_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_component_iface),
    .n_inputs = DIT_IN_COUNT,
    .n_outputs = 1,
    .n_params = N_PARAMS,
    .inputs = dit_inputs,
    .outputs = dit_outputs,
    .params = dit_params,
    .create = dit_create,
    .destroy = dit_destroy,
    .output_shapes = dit_output_shapes,
    .run = dit_run,
};

static const dio_plugin_descriptor dit_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_COMPONENT,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = "cosmos-dit",
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "Cosmos-Predict2.5 DiT (MinimalV1LVGDiT / diffusers CosmosTransformer3DModel)",
    .component = &dit_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &dit_descriptor;
    return DIO_OK;
}
