/* libFuzzer harness for the safetensors reader's single-file path (core/safetensors.c): each input is
 * written as f.safetensors — the 8-byte header length, the JSON header, the data — opened, walked end to
 * end (fuzz_weights_walk) and closed. The index of a sharded folder is fuzz_safetensors_index.c. */
#include <stdint.h>

#include "fuzz_util.h"
#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    fuzz_put(fuzz_scratch("st"), "f.safetensors", data, size, path, sizeof path);
    fuzz_weights_walk(path);
    return 0;
}
