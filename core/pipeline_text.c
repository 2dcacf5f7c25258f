/* libdiorama — the runner's text stage: a prompt → the text encoder's embeddings, through the cache.
 *
 * The cache key covers what decides the embedding: the tokenizer's and the encoder's plugin names and
 * parameters, the identity (path, size, mtime) of the encoder's weights and of the tokenizer folder,
 * and the prompt bytes. A hit loads one small safetensors file and never creates the tokenizer or the
 * encoder, so a user who renders many videos with one prompt (and always the same negative prompt)
 * never loads the 16 GB encoder again. A failure to store an entry is a warning, not an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_internal.h"

static void add_instance(dio_cache_key *k, const graph_instance *in)
{
    dio_cache_key_add_str(k, in->plugin.value);
    for (int i = 0; i < in->n_params; i++) {
        dio_cache_key_add_str(k, in->params[i].key);
        dio_cache_key_add_str(k, in->params[i].text.value);
    }
}

static dio_status cache_key(run_state *rs, const graph_node *nd, const char *text, char hex[65])
{
    const graph_instance *tok = &rs->g->instances[nd->uses[graph_node_use(nd, "tokenizer")].instance];
    const graph_instance *enc = &rs->g->instances[nd->uses[graph_node_use(nd, "encoder")].instance];
    dio_cache_key k;
    dio_status st;
    dio_cache_key_init(&k);
    dio_cache_key_add_str(&k, "pipeline/encode_prompt/v1");
    add_instance(&k, tok);
    add_instance(&k, enc);
    for (int i = 0; i < tok->n_params; i++)
        if (strcmp(tok->params[i].key, "tokenizer_dir") == 0 &&
            (st = dio_cache_key_add_file(&k, tok->params[i].text.value)) != DIO_OK)
            return st;
    if (enc->weights.value && (st = dio_cache_key_add_file(&k, enc->weights.value)) != DIO_OK) return st;
    dio_cache_key_add(&k, text, strlen(text));
    dio_cache_key_hex(&k, hex);
    return DIO_OK;
}

static dio_status from_cache(run_state *rs, const char *entry, run_value *out)
{
    dio_weights *w = NULL;
    dio_weight_info info;
    dio_status st;
    info.struct_size = sizeof(info);
    if ((st = dio_weights_open(entry, &w)) != DIO_OK) return st;
    if ((st = dio_weights_find(w, "embeddings", &info)) != DIO_OK || info.dtype != DIO_DTYPE_F32 ||
        info.ndim != 3) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "cache entry %s: no f32 [B, L, D] \"embeddings\"", entry);
        goto fail;
    }
    if ((st = run_value_alloc(rs, 3, info.shape, out)) != DIO_OK) goto fail;
    if ((st = run_upload(rs, out, info.data)) != DIO_OK) run_value_free(rs, out);
fail:
    dio_weights_close(w);
    return st;
}

static dio_status encode(run_state *rs, const graph_node *nd, const char *text, run_value *out)
{
    dio_component *tok = NULL, *enc = NULL;
    run_value bytes, len, tok_out[2];
    dio_tensor text_t, len_t;
    dio_status st;
    int64_t n = (int64_t)strlen(text), shape[2] = {1, n ? n : 1}, one = 1;
    memset(&bytes, 0, sizeof(bytes));
    memset(&len, 0, sizeof(len));
    memset(tok_out, 0, sizeof(tok_out));
    if ((st = run_get_component(rs, nd->uses[graph_node_use(nd, "tokenizer")].instance, &tok)) != DIO_OK)
        goto fail;
    /* u8 text and i64 length: allocated as f32 values of enough bytes, then described by their dtype. */
    int64_t words = (shape[1] + 3) / 4, two = 2;
    if ((st = run_value_alloc(rs, 1, &words, &bytes)) != DIO_OK ||
        (st = run_value_alloc(rs, 1, &two, &len)) != DIO_OK)
        goto fail;
    if ((n &&
         (st = rs->ref.iface->buffer_upload(rs->ref.ctx, rs->stream, bytes.buf, 0, text, (uint64_t)n))) ||
        (st = rs->ref.iface->buffer_upload(rs->ref.ctx, rs->stream, len.buf, 0, &n, 8)) != DIO_OK ||
        (st = rs->ref.iface->stream_sync(rs->ref.ctx, rs->stream)) != DIO_OK)
        goto fail;
    dio_tensor_init(&text_t, DIO_DTYPE_U8, 2, shape, bytes.buf, 0);
    dio_tensor_init(&len_t, DIO_DTYPE_I64, 1, &one, len.buf, 0);
    {
        const dio_tensor *in[2] = {&text_t, &len_t};
        if ((st = run_component(rs, tok, "encode_prompt: tokenizer", in, tok_out, 2)) != DIO_OK) goto fail;
    }
    if ((st = run_get_component(rs, nd->uses[graph_node_use(nd, "encoder")].instance, &enc)) != DIO_OK)
        goto fail;
    {
        const dio_tensor *in[1] = {&tok_out[0].t};
        st = run_component(rs, enc, "encode_prompt: text encoder", in, out, 1);
    }
fail:
    run_value_free(rs, &bytes);
    run_value_free(rs, &len);
    run_value_free(rs, &tok_out[0]);
    run_value_free(rs, &tok_out[1]);
    return st;
}

dio_status run_encode_prompt(run_state *rs, const graph_node *nd, run_value *out)
{
    const char *text = graph_node_param(nd, "text");
    char hex[65], entry[4096], name[160];
    int use_cache = 1;
    dio_status st;
    if ((st = graph_param_bool(nd, "cache", 1, &use_cache)) != DIO_OK) return st;
    run_progress(rs, "text", nd->id, 0, 0);
    if (use_cache && cache_key(rs, nd, text, hex) == DIO_OK &&
        dio_cache_lookup("prompt-embeddings", hex, entry, sizeof(entry)) == DIO_OK) {
        dio_log(DIO_LOG_INFO, "pipeline", "%s: embeddings from the cache (%s)", nd->id, entry);
        if (from_cache(rs, entry, out) == DIO_OK) goto done;
        dio_log(DIO_LOG_WARN, "pipeline", "%s: unusable cache entry (%s); encoding again", nd->id,
                dio_last_error());
    }
    dio_clear_error();
    if ((st = encode(rs, nd, text, out)) != DIO_OK) return st;
    if (use_cache && cache_key(rs, nd, text, hex) == DIO_OK) {
        float *h = NULL;
        if (run_download(rs, out, &h) == DIO_OK) {
            dio_named_tensor t;
            dio_kv meta[1] = {{"prompt", text}};
            memset(&t, 0, sizeof(t));
            t.name = "embeddings";
            t.dtype = DIO_DTYPE_F32;
            t.ndim = 3;
            for (int i = 0; i < 3; i++) t.shape[i] = out->t.shape[i];
            t.data = h;
            if (dio_cache_store("prompt-embeddings", hex, &t, 1, meta, 1) != DIO_OK)
                dio_log(DIO_LOG_WARN, "pipeline", "%s: cannot store the embeddings in the cache: %s", nd->id,
                        dio_last_error());
        }
        free(h);
        dio_clear_error();
    }
done:
    snprintf(name, sizeof(name), "%s.embeddings", nd->id);
    return run_inspect(rs, name, out);
}
