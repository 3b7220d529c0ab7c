/* fuzz_batch: lg_cmd_decode_batch on arbitrary bytes.
 * Properties: never crash or leak; the result is a known code; when the batch decodes,
 * re-encoding the commands that decoded gives back the input bytes exactly (canonical
 * form: decode then encode is the identity), and every accepted command passes
 * lg_cmd_check; every rejected command has kind 0 and a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int codes[LG_BATCH_COMMANDS_MAX];
static char errors[LG_BATCH_COMMANDS_MAX][LG_ERRMSG_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 64u * 1024u * 1024u);
    struct lg_batch batch;
    char errmsg[LG_ERRMSG_SIZE];
    int rc = lg_cmd_decode_batch(data, size, &arena, &batch, codes, errors, errmsg);
    if (rc != LG_OK && rc != LG_EBADREQ && rc != LG_ETOOLARGE && rc != LG_ENOMEM) {
        abort();
    }
    if (rc == LG_OK) {
        bool all_ok = true;
        for (uint32_t i = 0; i < batch.n_cmds; i++) {
            if (codes[i] == LG_OK) {
                if (lg_cmd_check(&batch.cmds[i], errmsg) != LG_OK) {
                    abort();
                }
            } else if (batch.cmds[i].kind != 0 || errors[i][0] == '\0') {
                abort();
            } else {
                all_ok = false;
            }
        }
        if (all_ok) {
            struct lg_buf out;
            lg_buf_init(&out);
            if (lg_cmd_encode_batch(&batch, &out, errmsg) != LG_OK) {
                abort();
            }
            if (out.len != size || memcmp(out.data, data, size) != 0) {
                abort();
            }
            lg_buf_close(&out);
        }
    }
    lg_arena_close(&arena);
    return 0;
}
