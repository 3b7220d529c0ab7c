/* fuzz_record: lg_record_decode on arbitrary bytes (journal record bodies from disk).
 * Properties: never crash or leak; only LG_OK, LG_ECORRUPT or LG_ENOMEM; a record that
 * decodes re-encodes to exactly the input bytes; a failed decode leaves the output zeroed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 64u * 1024u * 1024u);
    struct lg_record rec;
    char errmsg[LG_ERRMSG_SIZE];
    int rc = lg_record_decode(data, size, &arena, &rec, errmsg);
    if (rc == LG_OK) {
        struct lg_buf out;
        lg_buf_init(&out);
        if (lg_record_encode(&rec, &out, errmsg) != LG_OK) {
            abort();
        }
        if (out.len != size || memcmp(out.data, data, size) != 0) {
            abort();
        }
        lg_buf_close(&out);
    } else if (rc == LG_ECORRUPT) {
        if (rec.kind != 0 || errmsg[0] == '\0') {
            abort();
        }
    } else if (rc != LG_ENOMEM) {
        abort();
    }
    lg_arena_close(&arena);
    return 0;
}
