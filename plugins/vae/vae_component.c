/* wan-vae — the component: ports, parameters, create/destroy, output shapes and run, compiled once per
 * component (VAE_DECODER = 0: "wan-vae-encoder", 1: "wan-vae-decoder"), since a plugin descriptor names
 * one component.
 *
 * The Wan 2.1 VAE (diffusers AutoencoderKLWan; the native Cosmos-Predict2.5 tokenizer.pth). Widths and
 * the block list come from the weights; `layout` picks the key names (auto-detected by default).
 * The encoder outputs the posterior mode normalised as the Cosmos pipeline does, (mode − mean)·(1/std);
 * the decoder de-normalises its input (latents·std + mean) and clamps to [-1, 1] like diffusers, unless
 * `clamp` is false (the native tokenizer does not clamp). `normalize` = false skips the normalisation
 * (raw posterior mode in, raw z out). mean/std default to the released Wan 2.1 constants; `latents_mean`
 * and `latents_std` ("a,b,c,…", z values) override them. `stage` is for testing: the output then holds
 * that activation (f32). Activations are f32; weights may be f32, f16 or bf16.
 * Tiling (decode and encode): `tiling` auto|on|off, `tile_size` / `tile_overlap` in pixels (multiples of
 * 8; defaults 256 / 64, diffusers' tile_sample_min 256 and stride 192); auto tiles when the pixel frame
 * (the decoder's output, the encoder's input) has more than 512×512 pixels. Tiled output follows
 * diffusers' tiled_decode / tiled_encode, not the untiled run (tiles see no context beyond their border).
 * `max_alloc_bytes` (testing) fakes an out-of-memory backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae.h"

#ifndef VAE_DECODER
#define VAE_DECODER 0
#endif

static const float wan21_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                     -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                     -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float wan21_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                    3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

#if VAE_DECODER
static const dio_port_desc vae_inputs[] = {
    {sizeof(dio_port_desc), -1, 5, 0, "latents", "[B, 16, T, h, w]",
     "normalised latents, as the denoiser hands them over (any float dtype)"},
};
static const dio_port_desc vae_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, 5, 0, "pixels", "[B, 3, 1 + 4(T-1), 8h, 8w]",
     "video in [-1, 1] (f32); with `stage` set, that activation instead"},
};
#define VAE_NAME "wan-vae-decoder"
#define VAE_DESC "Wan 2.1 VAE decoder (AutoencoderKLWan / Cosmos-Predict2.5 tokenizer)"
#else
static const dio_port_desc vae_inputs[] = {
    {sizeof(dio_port_desc), -1, 5, 0, "pixels", "[B, 3, 1 + 4k, H, W], H and W multiples of 8",
     "video in [-1, 1] (any float dtype)"},
};
static const dio_port_desc vae_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, 5, 0, "latents", "[B, 16, 1 + k, H/8, W/8]",
     "normalised posterior mode (f32); with `stage` set, that activation instead"},
};
#define VAE_NAME "wan-vae-encoder"
#define VAE_DESC "Wan 2.1 VAE encoder (AutoencoderKLWan / Cosmos-Predict2.5 tokenizer)"
#endif

static const dio_param_desc vae_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "layout", "auto", 0, -1, "auto|diffusers|native",
     "weight key names: diffusers (encoder.down_blocks.N...) or native Wan 2.1 (encoder.downsamples.N...)"},
    {sizeof(dio_param_desc), DIO_PARAM_BOOL, "normalize", "true", 0, -1, NULL,
     "apply the latent normalisation (mode - mean) / std (encoder) or its inverse (decoder)"},
    {sizeof(dio_param_desc), DIO_PARAM_BOOL, "clamp", "true", 0, -1, NULL,
     "decoder: clamp the pixels to [-1, 1] (diffusers); false for the native tokenizer's output"},
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "latents_mean", "", 0, -1, NULL,
     "comma-separated per-channel means; empty: the Wan 2.1 constants"},
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "latents_std", "", 0, -1, NULL,
     "comma-separated per-channel stds; empty: the Wan 2.1 constants"},
    {sizeof(dio_param_desc), DIO_PARAM_ENUM, "tiling", "auto", 0, -1, "auto|on|off",
     "spatial tiles with overlap, blended as diffusers' tiled_decode / tiled_encode; auto: on when the "
     "pixel frame (decoder output, encoder input) has more than 512x512 pixels and exceeds tile_size; a run "
     "out of memory is retried with halved tiles (not with off)"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "tile_size", "256", 16, 1 << 20, NULL,
     "tile edge in pixels (multiple of 8; diffusers' tile_sample_min_height/width)"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "tile_overlap", "64", 0, 1024, NULL,
     "overlap of neighbouring tiles in pixels (multiple of 8, below tile_size; diffusers' "
     "tile_sample_min - tile_sample_stride), blended linearly (over overlap/8 latent cells when encoding)"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "max_alloc_bytes", "0", 0, 9.0e18, NULL,
     "testing: any activation buffer above this many bytes fails as OUT_OF_DEVICE_MEMORY (0: no limit)"},
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "stage", "", 0, -1, NULL,
     "testing: output this activation instead: quant_conv, mode (encoder), post_quant_conv (decoder), or "
     "chunkC.<hook> with hook encoder.{conv_in,down_blocks.K,mid_block,conv_out} / "
     "decoder.{conv_in,mid_block,up_blocks.I,conv_out}"},
};

#define N_PARAMS ((int32_t)(sizeof(vae_params) / sizeof(vae_params[0])))

static const char *param(const dio_component_create_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_params; i++)
        if (strcmp(info->params[i].key, key) == 0) return info->params[i].value;
    for (int32_t i = 0; i < N_PARAMS; i++)
        if (strcmp(vae_params[i].name, key) == 0) return vae_params[i].default_value;
    return "";
}

static int truthy(const char *s)
{
    return !strcmp(s, "true") || !strcmp(s, "1");
}

/* Parses "a,b,…" into exactly n floats; an empty string keeps `dflt`. */
static dio_status floats(vae *v, const char *key, const char *s, const float *dflt, int64_t n, float *out)
{
    char *end;
    if (!s[0]) {
        if (n > 16)
            return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                      VAE_WHO ": z_dim is %lld; give %s (the defaults have 16 values)",
                                      (long long)n, key);
        memcpy(out, dflt, sizeof(float) * (size_t)n);
        return DIO_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        out[i] = strtof(s, &end);
        if (end == s || (i + 1 < n && *end != ',') || (i + 1 == n && *end != '\0'))
            return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                      VAE_WHO ": parameter \"%s\" must hold %lld comma-separated numbers",
                                      key, (long long)n);
        s = end + (*end == ',');
    }
    return DIO_OK;
}

static void vae_destroy(void *self)
{
    vae *v = self;
    if (!v) return;
    vae_weights_free(v);
    free(v);
}

static dio_status vae_create(const dio_component_create_info *info, void **out)
{
    const dio_host_services *h = info->host;
    vae *v = NULL;
    const char *s;
    int32_t layout;
    dio_status st;
    if (!info->weights) return h->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": needs weights");
    v = calloc(1, sizeof(*v));
    if (!v) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, VAE_WHO ": out of memory");
    v->host = h;
    v->be = *info->backend;
    v->decoder = VAE_DECODER;
    v->clamp = truthy(param(info, "clamp"));
    v->normalize = truthy(param(info, "normalize"));
    s = param(info, "layout");
    layout = !strcmp(s, "native")      ? VAE_LAYOUT_NATIVE
             : !strcmp(s, "diffusers") ? VAE_LAYOUT_DIFFUSERS
                                       : VAE_LAYOUT_AUTO;
    s = param(info, "tiling");
    v->tiling = !strcmp(s, "on") ? VAE_TILING_ON : !strcmp(s, "off") ? VAE_TILING_OFF : VAE_TILING_AUTO;
    v->tile_size = strtoll(param(info, "tile_size"), NULL, 10);
    v->tile_overlap = strtoll(param(info, "tile_overlap"), NULL, 10);
    v->max_alloc = strtoull(param(info, "max_alloc_bytes"), NULL, 10);
    if (v->tile_size < 16 || v->tile_size % 8 || v->tile_overlap < 0 || v->tile_overlap % 8 ||
        v->tile_overlap >= v->tile_size || v->tile_overlap > 1024) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT,
                          VAE_WHO ": tile_size %lld / tile_overlap %lld: both multiples of 8, size >= 16, "
                                  "overlap below size and at most 1024",
                          (long long)v->tile_size, (long long)v->tile_overlap);
        goto fail;
    }
    s = param(info, "stage");
    if (strlen(s) >= sizeof(v->stage)) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": stage \"%s\" is too long", s);
        goto fail;
    }
    strcpy(v->stage, s);
    if ((st = vae_weights_load(v, info->weights, layout)) != DIO_OK) goto fail;
    if ((st = floats(v, "latents_mean", param(info, "latents_mean"), wan21_mean, v->z, v->mean)) != DIO_OK)
        goto fail;
    if ((st = floats(v, "latents_std", param(info, "latents_std"), wan21_std, v->z, v->std)) != DIO_OK)
        goto fail;
    *out = v;
    return DIO_OK;
fail:
    vae_destroy(v);
    return st;
}

static dio_status vae_output_shapes(void *self, const dio_tensor *const *in, dio_tensor *out)
{
    return vae_forward_shape(self, in, out);
}

static dio_status vae_run(void *self, dio_stream *s, const dio_tensor *const *in,
                          const dio_tensor *const *out)
{
    vae *v = self;
    dio_tensor want;
    dio_status st;
    if ((st = vae_forward_shape(v, in, &want)) != DIO_OK) return st;
    if (!out || !out[0] || out[0]->dtype != DIO_DTYPE_F32 || out[0]->ndim != want.ndim ||
        memcmp(out[0]->shape, want.shape, sizeof(int64_t) * (size_t)want.ndim) != 0 ||
        !dio_tensor_is_contiguous(out[0]))
        return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  VAE_WHO ": output \"%s\" must be a contiguous f32 tensor shaped as "
                                          "output_shapes said",
                                  vae_outputs[0].name);
    return vae_forward(v, s, in, out[0]);
}

static const dio_component_iface vae_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_component_iface),
    .n_inputs = 1,
    .n_outputs = 1,
    .n_params = N_PARAMS,
    .inputs = vae_inputs,
    .outputs = vae_outputs,
    .params = vae_params,
    .create = vae_create,
    .destroy = vae_destroy,
    .output_shapes = vae_output_shapes,
    .run = vae_run,
};

static const dio_plugin_descriptor vae_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_COMPONENT,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = VAE_NAME,
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = VAE_DESC,
    .component = &vae_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &vae_descriptor;
    return DIO_OK;
}
