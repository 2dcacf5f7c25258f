/* libFuzzer harness for reading a tokenizer folder (plugins/text/qwen_tokenizer.c: vocab.json,
 * merges.txt, tokenizer_config.json). The first input byte picks the file the rest replaces (0: vocab,
 * 1: merges, 2: config; mod 3); the other two are the intact ones of tests/fixtures/text/tokenizer_tiny,
 * so a mutation meets a folder that is otherwise right. A folder that loads encodes a few fixed strings
 * (added tokens, spaces, non-ASCII) so a vocabulary that loads but is inconsistent is exercised too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "qwen_tokenizer.h"

static const char *const files[3] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
static unsigned char *intact[3];
static size_t intact_size[3];

static void intact_free(void)
{
    for (int i = 0; i < 3; i++) free(intact[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const probes[] = {"a photo of a cat", "<|im_start|>user\n  x<|im_end|>",
                                         "caf\xc3\xa9 ??", "\xe4\xb8\x96\xe7\x95\x8c 123 don't"};
    char path[1024], src[1024], err[512];
    const char *dir = fuzz_scratch("tokload");
    qwen_tokenizer *t;
    int which;
    if (!intact[0]) {
        char fixture[900];
        fuzz_source_path("DIO_FUZZ_TOKENIZER_DIR", "tests/fixtures/text/tokenizer_tiny", fixture,
                         sizeof fixture);
        for (int i = 0; i < 3; i++) {
            snprintf(src, sizeof src, "%s/%s", fixture, files[i]);
            intact[i] = fuzz_slurp(src, &intact_size[i]);
            fuzz_put(dir, files[i], intact[i], intact_size[i], path, sizeof path);
        }
        atexit(intact_free);
    }
    if (size == 0) return 0;
    which = data[0] % 3;
    fuzz_put(dir, files[which], data + 1, size - 1, path, sizeof path);
    err[0] = 0;
    t = qwen_tok_load(dir, err, sizeof err);
    if (!t) {
        if (!err[0]) {
            fprintf(stderr, "fuzz: tokenizer refused without a message\n");
            abort();
        }
    } else {
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (qwen_tok_encode(t, probes[i], strlen(probes[i]), &ids, &n, err, sizeof err) == 0)
                for (size_t k = 0; k < n; k++)
                    if (ids[k] < 0) abort();
            free(ids);
        }
        (void)qwen_tok_pad_id(t);
        qwen_tok_free(t);
    }
    fuzz_put(dir, files[which], intact[which], intact_size[which], path, sizeof path);
    return 0;
}
