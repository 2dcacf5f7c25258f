/* The Qwen2 / Qwen2.5-VL byte-level BPE tokenizer, read from a Hugging Face tokenizer folder (vocab.json,
 * merges.txt, tokenizer_config.json with `added_tokens_decoder`). No tensor math: it turns a UTF-8 prompt
 * into token ids exactly as the Hugging Face tokenizer does (added tokens matched on the raw text, NFC, the
 * Qwen2 split regex, GPT-2 byte-to-unicode map, merges by rank), and renders the Cosmos chat template with
 * right truncation and right padding. Errors are returned as text in a caller buffer; nothing aborts. */
#ifndef QWEN_TOKENIZER_H
#define QWEN_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct qwen_tokenizer qwen_tokenizer;

/* Loads DIR/vocab.json, DIR/merges.txt and DIR/tokenizer_config.json. Returns NULL with a message naming the
 * file (and token) on failure. */
qwen_tokenizer *qwen_tok_load(const char *dir, char *err, size_t errlen);
void qwen_tok_free(qwen_tokenizer *t);

/* Id of an added token or vocabulary token given by its text (added tokens first); -1 if none. */
int32_t qwen_tok_id(const qwen_tokenizer *t, const char *token);
/* The pad id: `pad_token` of tokenizer_config.json (falls back to <|endoftext|>); -1 if absent. */
int32_t qwen_tok_pad_id(const qwen_tokenizer *t);

/* Encodes LEN bytes of UTF-8 TEXT (no BOS/EOS are added). *IDS is malloc'd (NULL when *N is 0); the caller
 * frees it. Invalid UTF-8 is rejected (returns -1 with a message giving the byte offset). */
int qwen_tok_encode(const qwen_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                    char *err, size_t errlen);

/* The Cosmos prompt string: system message + user PROMPT, no assistant header. malloc'd; NULL on OOM. */
char *qwen_tok_render_cosmos(const char *prompt, size_t len, size_t *out_len);

/* Renders the Cosmos template around PROMPT and encodes it. MAX_LEN > 0: truncate on the right to MAX_LEN,
 * then pad on the right with the pad id; IDS and MASK (MASK may be NULL) must hold MAX_LEN entries and *N is
 * set to MAX_LEN. MAX_LEN == 0: no truncation or padding, IDS is ignored and *OUT (malloc'd) gets the ids. */
int qwen_tok_encode_cosmos(const qwen_tokenizer *t, const char *prompt, size_t len, size_t max_len,
                           int32_t *ids, int32_t *mask, int32_t **out, size_t *n, char *err, size_t errlen);

/* Exposed for tests: NFC of valid UTF-8 (malloc'd, *OUT_LEN bytes); NULL on OOM or invalid UTF-8. */
char *qwen_tok_nfc(const char *s, size_t len, size_t *out_len);

#endif
