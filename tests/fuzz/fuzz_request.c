/* fuzz_request: lg_proto_decode_request and lg_proto_decode_response on arbitrary bytes.
 * Properties: never crash, only documented codes; a request that decodes re-encodes, and
 * the re-encoding decodes to a request that encodes to the very same bytes; a response
 * that decodes for some op re-encodes and decodes again to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "frame.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request_code(int rc)
{
    if (rc != LG_OK && rc != LG_EBADREQ && rc != LG_ETOOLARGE && rc != LG_EOVERFLOW &&
        rc != LG_EUNKNOWNOP) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lg_arena arena;
    char errmsg[LG_ERRMSG_SIZE];
    lg_arena_init(&arena, 64u << 20);
    struct lg_proto_request q;
    int rc = lg_proto_decode_request(data, size, &arena, &q, errmsg);
    check_request_code(rc);
    struct lg_buf a;
    struct lg_buf b;
    lg_buf_init(&a);
    lg_buf_init(&b);
    if (rc == LG_OK) {
        if (lg_proto_encode_request(&q, &a, errmsg) != LG_OK) {
            abort();
        }
        struct lg_proto_request q2;
        if (lg_proto_decode_request(a.data + LG_FRAME_HEADER_BYTES, a.len - 4, &arena, &q2,
                                    errmsg) != LG_OK) {
            abort();
        }
        if (q2.id != q.id || q2.op != q.op || lg_proto_encode_request(&q2, &b, errmsg) != LG_OK ||
            a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
            abort();
        }
    } else if (lg_proto_encode_error(q.id, rc, errmsg, NULL, &a) != LG_OK) {
        abort();
    }
    for (int op = 1; op < LG_PROTO_OP_COUNT; op++) {
        struct lg_proto_response r;
        lg_buf_reset(&a);
        lg_buf_reset(&b);
        rc = lg_proto_decode_response(op, data, size, &arena, &r, errmsg);
        if (rc != LG_OK) {
            check_request_code(rc);
            continue;
        }
        /* Roles and codes decoded are in range, so the encoder must accept them. */
        if (lg_proto_encode_response(op, &r, &a) != LG_OK) {
            abort();
        }
        struct lg_proto_response r2;
        if (lg_proto_decode_response(op, a.data + 4, a.len - 4, &arena, &r2, errmsg) != LG_OK ||
            lg_proto_encode_response(op, &r2, &b) != LG_OK || a.len != b.len ||
            memcmp(a.data, b.data, a.len) != 0) {
            abort();
        }
    }
    lg_buf_close(&a);
    lg_buf_close(&b);
    lg_arena_close(&arena);
    return 0;
}
