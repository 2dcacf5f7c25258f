/* libFuzzer harness for the tokenizer's encode on arbitrary bytes (plugins/text/qwen_tokenizer.c), with
 * the full Qwen2.5 vocabulary of tests/fixtures/text/tokenizer (151k tokens, 151k merges) loaded once.
 * Each input goes through plain encode (invalid UTF-8 must be refused with a message), NFC, and the
 * Cosmos template both unpadded and truncated/padded to 512 — the text encoder's path. Checked: every id
 * is a real token (0 <= id < 151,936 + added), padded output is exactly max_len with a 0/1 mask. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "qwen_tokenizer.h"

#define MAX_LEN 512
#define ID_LIMIT 152064 /* Qwen2.5-VL's embedding rows: no id may reach it */

static qwen_tokenizer *tok;

static void tok_free(void)
{
    qwen_tok_free(tok);
}

static void check_ids(const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ID_LIMIT) {
            fprintf(stderr, "fuzz: id %d at %zu is not a token\n", ids[i], i);
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    int32_t *ids = NULL, fixed[MAX_LEN], mask[MAX_LEN];
    size_t n = 0, nfc_len = 0;
    char *nfc;
    if (!tok) {
        char dir[900];
        fuzz_source_path("DIO_FUZZ_TOKENIZER_DIR", "tests/fixtures/text/tokenizer", dir, sizeof dir);
        tok = qwen_tok_load(dir, err, sizeof err);
        if (!tok) {
            fprintf(stderr, "fuzz: cannot load %s: %s\n", dir, err);
            abort();
        }
        atexit(tok_free);
    }
    err[0] = 0;
    if (qwen_tok_encode(tok, (const char *)data, size, &ids, &n, err, sizeof err) == 0) {
        check_ids(ids, n);
    } else if (!err[0]) {
        fprintf(stderr, "fuzz: encode refused without a message\n");
        abort();
    }
    free(ids);
    ids = NULL;
    nfc = qwen_tok_nfc((const char *)data, size, &nfc_len);
    free(nfc);
    if (qwen_tok_encode_cosmos(tok, (const char *)data, size, 0, NULL, NULL, &ids, &n, err, sizeof err) == 0)
        check_ids(ids, n);
    free(ids);
    if (qwen_tok_encode_cosmos(tok, (const char *)data, size, MAX_LEN, fixed, mask, NULL, &n, err,
                               sizeof err) == 0) {
        if (n != MAX_LEN) abort();
        check_ids(fixed, n);
        for (size_t i = 0; i < n; i++)
            if (mask[i] != 0 && mask[i] != 1) abort();
    }
    return 0;
}
