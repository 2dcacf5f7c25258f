/* qwen-tokenizer — the Qwen2 byte-level BPE tokenizer of qwen_tokenizer.c as a component, so that the host
 * (and the CLI's encode-prompt) reaches it through the ABI without knowing anything of BPE.
 *
 * Ports: `text` u8 [N] (one prompt) or [B, N] (B prompts, each row right-padded with anything), with the
 * optional `lengths` i64 [B] giving each row's byte count (absent: a row ends at its first NUL byte, or at
 * N). Output `input_ids` i64 [B, max_length] and `attention_mask` i64 [B, max_length]: the Cosmos chat
 * template rendered around each prompt (unless template=false), truncated on the right to max_length, then
 * padded on the right with the tokenizer's pad token — exactly what the pipeline feeds the text encoder. The
 * output length is max_length for every input, so output_shapes never has to read the text. The tokenizer is
 * not a weight: its folder (vocab.json, merges.txt, tokenizer_config.json) is the string param
 * `tokenizer_dir`, loaded once at create(); a missing file fails create() naming it. The text is downloaded
 * from its buffer and the ids uploaded, so it works on every backend; invalid UTF-8 fails run() naming the
 * row and byte offset, and so does a prompt over 64 KiB (the graph's string limit too); nothing is written to the outputs then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/component.h"
#include "qwen_tokenizer.h"

#define WHO "qwen-tokenizer"
/* A prompt longer than this is refused before tokenising: Cosmos prompts are a few KiB, the encoder keeps
 * max_length (512) tokens, and the cap bounds the tokenizer's work on a hostile input. */
#define QTOK_MAX_PROMPT_BYTES 65536

typedef struct qtok {
    const dio_host_services *host;
    dio_backend_ref be;
    qwen_tokenizer *tok;
    int64_t max_len;
    int templ;
} qtok;

static const dio_port_desc tok_inputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_U8, -1, 0, "text", "[N] or [B, N]",
     "UTF-8 prompt bytes, one prompt per row; a row ends at `lengths[b]`, else at its first NUL, else at N"},
    {sizeof(dio_port_desc), DIO_DTYPE_I64, 1, 1, "lengths", "[B]", "byte count of each row (optional)"},
};
static const dio_port_desc tok_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_I64, 2, 0, "input_ids", "[B, max_length]",
     "token ids: template, truncated on the right, padded on the right with the pad token"},
    {sizeof(dio_port_desc), DIO_DTYPE_I64, 2, 0, "attention_mask", "[B, max_length]", "1 real token, 0 pad"},
};
static const dio_param_desc tok_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "tokenizer_dir", "", 0, -1, NULL,
     "folder with vocab.json, merges.txt, tokenizer_config.json (required)"},
    {sizeof(dio_param_desc), DIO_PARAM_INT, "max_length", "512", 1, 1 << 20, NULL,
     "output length: truncate, then pad to it"},
    {sizeof(dio_param_desc), DIO_PARAM_BOOL, "template", "true", 0, -1, NULL,
     "render the Cosmos chat template around the prompt"},
};
#define N_PARAMS ((int32_t)(sizeof(tok_params) / sizeof(tok_params[0])))

static const char *param(const dio_component_create_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_params; i++)
        if (strcmp(info->params[i].key, key) == 0) return info->params[i].value;
    for (int32_t i = 0; i < N_PARAMS; i++)
        if (strcmp(tok_params[i].name, key) == 0) return tok_params[i].default_value;
    return "";
}

/* Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points
 * above U+10FFFF), or `len` when all is valid; checked here so that errors count bytes of the prompt itself,
 * not of the rendered template. */
static size_t utf8_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n = c < 0x80                   ? 1
                   : (c >= 0xC2 && c <= 0xDF) ? 2
                   : (c >= 0xE0 && c <= 0xEF) ? 3
                   : (c >= 0xF0 && c <= 0xF4) ? 4
                                              : 0;
        if (!n || i + n > len) return i;
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        for (size_t k = 1; k < n; k++) {
            unsigned d = s[i + k];
            if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return i;
        }
        i += n;
    }
    return len;
}

static void tok_destroy(void *self)
{
    qtok *t = self;
    if (!t) return;
    qwen_tok_free(t->tok);
    free(t);
}

static dio_status tok_create(const dio_component_create_info *info, void **out)
{
    const dio_host_services *h = info->host;
    char err[512];
    dio_status st;
    qtok *t = calloc(1, sizeof(*t));
    if (!t) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    t->host = h;
    t->be = *info->backend;
    t->max_len = atoll(param(info, "max_length"));
    const char *tv = param(info, "template");
    t->templ = strcmp(tv, "true") == 0 || strcmp(tv, "1") == 0;
    const char *dir = param(info, "tokenizer_dir");
    if (!dir[0]) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": the parameter tokenizer_dir is required");
        goto fail;
    }
    err[0] = 0;
    if (!(t->tok = qwen_tok_load(dir, err, sizeof(err)))) {
        st = h->set_error(DIO_ERR_IO, WHO ": cannot load the tokenizer from %s: %s", dir, err);
        goto fail;
    }
    if (qwen_tok_pad_id(t->tok) < 0) {
        st = h->set_error(DIO_ERR_BAD_FORMAT, WHO ": the tokenizer in %s has no pad token", dir);
        goto fail;
    }
    *out = t;
    return DIO_OK;
fail:
    tok_destroy(t);
    return st;
}

static dio_status tok_output_shapes(void *self, const dio_tensor *const *in, dio_tensor *out)
{
    qtok *t = self;
    const dio_tensor *x = in ? in[0] : NULL;
    if (!x || x->dtype != DIO_DTYPE_U8 || (x->ndim != 1 && x->ndim != 2) || !dio_tensor_is_contiguous(x))
        return t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": input \"text\" must be a contiguous u8 tensor [N] or [B, N]");
    int64_t B = x->ndim == 2 ? x->shape[0] : 1;
    const dio_tensor *l = in[1];
    if (l && (l->dtype != DIO_DTYPE_I64 || l->ndim != 1 || l->shape[0] != B || !dio_tensor_is_contiguous(l)))
        return t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": input \"lengths\" must be a contiguous i64 tensor [B] (B = %lld)",
                                  (long long)B);
    int64_t shape[2] = {B, t->max_len};
    for (int i = 0; i < 2; i++) dio_tensor_init(&out[i], DIO_DTYPE_I64, 2, shape, NULL, 0);
    return DIO_OK;
}

static dio_status tok_run(void *self, dio_stream *s, const dio_tensor *const *in,
                          const dio_tensor *const *out)
{
    qtok *t = self;
    const dio_backend_iface *bi = t->be.iface;
    dio_tensor want[2];
    dio_status st;
    uint8_t *text = NULL;
    int64_t *lens = NULL, *ids64 = NULL, *mask64 = NULL;
    int32_t *ids = NULL, *mask = NULL, *plain = NULL;
    char err[512];
    if ((st = tok_output_shapes(t, in, want)) != DIO_OK) return st;
    for (int i = 0; i < 2; i++)
        if (!out || !out[i] || out[i]->dtype != DIO_DTYPE_I64 || out[i]->ndim != 2 ||
            memcmp(out[i]->shape, want[i].shape, sizeof(int64_t) * 2) != 0 ||
            !dio_tensor_is_contiguous(out[i]))
            return t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                      WHO ": output \"%s\" must be a contiguous i64 tensor shaped as "
                                          "output_shapes said",
                                      tok_outputs[i].name);
    const dio_tensor *x = in[0];
    int64_t B = want[0].shape[0], L = t->max_len, N = x->ndim == 2 ? x->shape[1] : x->shape[0];
    size_t ml = (size_t)L;
    text = malloc((size_t)(B * N) + 1);
    lens = malloc(sizeof(int64_t) * (size_t)B);
    ids64 = malloc(sizeof(int64_t) * (size_t)(B * L));
    mask64 = malloc(sizeof(int64_t) * (size_t)(B * L));
    ids = malloc(sizeof(int32_t) * ml);
    mask = malloc(sizeof(int32_t) * ml);
    if (!text || !lens || !ids64 || !mask64 || !ids || !mask) {
        st = t->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
        goto fail;
    }
    if (B * N > 0 &&
        (st = bi->buffer_download(t->be.ctx, s, x->buffer, x->offset, text, (uint64_t)(B * N))) != DIO_OK)
        goto fail;
    if (in[1] && (st = bi->buffer_download(t->be.ctx, s, in[1]->buffer, in[1]->offset, lens,
                                           sizeof(int64_t) * (uint64_t)B)) != DIO_OK)
        goto fail;
    if ((st = bi->stream_sync(t->be.ctx, s)) != DIO_OK) goto fail;
    for (int64_t b = 0; b < B; b++) {
        const char *row = (const char *)text + b * N;
        size_t len;
        if (in[1]) {
            if (lens[b] < 0 || lens[b] > N) {
                st = t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                        WHO ": lengths[%lld] = %lld is outside [0, %lld]", (long long)b,
                                        (long long)lens[b], (long long)N);
                goto fail;
            }
            len = (size_t)lens[b];
        } else {
            const void *z = memchr(row, 0, (size_t)N);
            len = z ? (size_t)((const char *)z - row) : (size_t)N;
        }
        if (len > QTOK_MAX_PROMPT_BYTES) {
            st = t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                    WHO
                                    ": prompt %lld is %zu bytes; the limit is %d (the encoder reads at most "
                                    "max_length tokens of it)",
                                    (long long)b, len, QTOK_MAX_PROMPT_BYTES);
            goto fail;
        }
        size_t n = 0, bad = utf8_bad_at((const unsigned char *)row, len);
        if (bad < len) {
            st = t->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                    WHO ": prompt %lld is not valid UTF-8 (byte %zu of %zu is 0x%02X)",
                                    (long long)b, bad, len, (unsigned)(unsigned char)row[bad]);
            goto fail;
        }
        int32_t pad = qwen_tok_pad_id(t->tok);
        err[0] = 0;
        if (t->templ) {
            if (qwen_tok_encode_cosmos(t->tok, row, len, ml, ids, mask, NULL, &n, err, sizeof(err))) {
                st = t->host->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": prompt %lld: %s", (long long)b, err);
                goto fail;
            }
        } else {
            if (qwen_tok_encode(t->tok, row, len, &plain, &n, err, sizeof(err))) {
                st = t->host->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": prompt %lld: %s", (long long)b, err);
                goto fail;
            }
            for (size_t i = 0; i < ml; i++) {
                ids[i] = i < n ? plain[i] : pad;
                mask[i] = i < n;
            }
            free(plain);
            plain = NULL;
        }
        for (size_t i = 0; i < ml; i++) {
            ids64[b * L + (int64_t)i] = ids[i];
            mask64[b * L + (int64_t)i] = mask[i];
        }
    }
    if ((st = bi->buffer_upload(t->be.ctx, s, out[0]->buffer, out[0]->offset, ids64,
                                sizeof(int64_t) * (uint64_t)(B * L))) != DIO_OK ||
        (st = bi->buffer_upload(t->be.ctx, s, out[1]->buffer, out[1]->offset, mask64,
                                sizeof(int64_t) * (uint64_t)(B * L))) != DIO_OK)
        goto fail;
    st = bi->stream_sync(t->be.ctx, s); /* the host arrays are freed below */
fail:
    free(text), free(lens), free(ids64), free(mask64), free(ids), free(mask), free(plain);
    return st;
}

static const dio_component_iface tok_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_component_iface),
    .n_inputs = 2,
    .n_outputs = 2,
    .n_params = N_PARAMS,
    .inputs = tok_inputs,
    .outputs = tok_outputs,
    .params = tok_params,
    .create = tok_create,
    .destroy = tok_destroy,
    .output_shapes = tok_output_shapes,
    .run = tok_run,
};

static const dio_plugin_descriptor tok_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_COMPONENT,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = "qwen-tokenizer",
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "Qwen2 byte-level BPE tokenizer with the Cosmos chat template (prompt bytes to input_ids)",
    .component = &tok_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &tok_descriptor;
    return DIO_OK;
}
