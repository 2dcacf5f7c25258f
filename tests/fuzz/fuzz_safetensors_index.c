/* libFuzzer harness for the sharded-checkpoint index (model.safetensors.index.json, core/safetensors.c):
 * each input is the index, written beside two intact shards made here once — model-00001-of-00002 with
 * "a" (F32 [2]) and "__metadata__", model-00002-of-00002 with "b" (F16 [1,2]) — so that an index naming
 * them reaches the merge of shards (duplicates, a name mapped to the wrong shard, a shard outside the
 * folder), not only the JSON refusals. Opened both as the index file and as the folder. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "fuzz_weights.h"

static void put_shard(const char *dir, const char *name, const char *header, const void *data, size_t n)
{
    unsigned char buf[512];
    char path[1024];
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    memcpy(buf + 8 + h, data, n);
    fuzz_put(dir, name, buf, 8 + h + n, path, sizeof path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    static int shards_made;
    const char *dir = fuzz_scratch("stidx");
    if (!shards_made) {
        const float a[2] = {1.0f, -2.0f};
        const uint16_t b[2] = {0x3c00, 0xc000};
        put_shard(dir, "model-00001-of-00002.safetensors",
                  "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                  "\"data_offsets\":[0,8]}}",
                  a, sizeof a);
        put_shard(dir, "model-00002-of-00002.safetensors",
                  "{\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[0,4]}}", b, sizeof b);
        shards_made = 1;
    }
    fuzz_put(dir, "model.safetensors.index.json", data, size, path, sizeof path);
    fuzz_weights_walk(path);
    fuzz_weights_walk(dir);
    return 0;
}
