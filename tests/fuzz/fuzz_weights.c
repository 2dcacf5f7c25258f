/* fuzz_weights_walk (fuzz_weights.h). Reading every byte of every accepted tensor is the point: a
 * tensor whose offsets or size escape its file is then an ASan report, not a silent wrong answer. */
#include <stdio.h>
#include <stdlib.h>

#include "diorama/diorama.h"
#include "fuzz_weights.h"

void fuzz_weights_walk(const char *path)
{
    dio_weights *w = NULL;
    volatile unsigned sum = 0;
    dio_clear_error();
    if (dio_weights_open(path, &w) != DIO_OK) {
        const char *why = dio_last_error();
        if (!why || !why[0]) {
            fprintf(stderr, "fuzz: %s refused without a message\n", path);
            abort();
        }
        return;
    }
    for (int64_t i = 0; i < dio_weights_count(w); i++) {
        const char *name = NULL;
        dio_weight_info info;
        if (dio_weights_at(w, i, &name, &info) != DIO_OK || dio_weights_find(w, name, NULL) != DIO_OK) {
            fprintf(stderr, "fuzz: tensor %lld of %s cannot be listed or found\n", (long long)i, path);
            abort();
        }
        for (uint64_t b = 0; b < info.nbytes; b++) sum += ((const unsigned char *)info.data)[b];
    }
    (void)dio_weights_metadata(w, "format");
    (void)dio_weights_source(w);
    dio_weights_close(w);
    (void)sum;
}
