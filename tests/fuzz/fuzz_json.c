/* fuzz_json: lg_json_parse on arbitrary bytes (the CLI's `submit` input, a file or stdin).
 * Properties: never crash, never recurse past the bound; a failure is LG_EBADREQ or
 * LG_ETOOLARGE with a message naming an offset within the input and no tree; a success
 * gives a tree whose containers count their children, nest at most LG_JSON_DEPTH_MAX deep,
 * whose strings are NUL-terminated, and whose every string re-quoted (lg_json_quote) parses
 * back to the same bytes. The arena has a budget, so memory stays bounded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ARENA_BYTES (64u * 1024u * 1024u)

static void check_string(const char *s, uint32_t len)
{
    if (s == NULL || s[len] != '\0') {
        abort();
    }
    struct lg_buf b;
    lg_buf_init(&b);
    if (!lg_json_quote(&b, s, len)) {
        abort();
    }
    struct lg_arena a;
    lg_arena_init(&a, 0);
    struct lg_json *v = NULL;
    char msg[LG_ERRMSG_SIZE];
    if (lg_json_parse((const char *)b.data, b.len, &a, &v, msg) != LG_OK ||
        v->type != LG_JSON_STRING || v->len != len || memcmp(v->str, s, len) != 0) {
        abort();
    }
    lg_arena_close(&a);
    lg_buf_close(&b);
}

/* Walk the tree without recursion: a stack of the next sibling to visit per level. */
static void check_tree(const struct lg_json *root)
{
    const struct lg_json *stack[LG_JSON_DEPTH_MAX + 2];
    unsigned depth = 0;
    stack[depth++] = root;
    while (depth > 0) {
        const struct lg_json *v = stack[depth - 1];
        if (v == NULL) {
            depth--;
            continue;
        }
        stack[depth - 1] = v->next;
        if (v->type == LG_JSON_STRING || v->type == LG_JSON_NUMBER) {
            check_string(v->str, v->len);
        }
        if (v->key != NULL) {
            check_string(v->key, v->key_len);
        }
        if (v->type == LG_JSON_ARRAY || v->type == LG_JSON_OBJECT) {
            uint32_t n = 0;
            for (const struct lg_json *c = v->child; c != NULL; c = c->next) {
                if ((v->type == LG_JSON_OBJECT) != (c->key != NULL)) {
                    abort();
                }
                n++;
            }
            if (n != v->n) {
                abort();
            }
            if (depth > LG_JSON_DEPTH_MAX) {
                abort(); /* a container at depth 33 */
            }
            stack[depth++] = v->child;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lg_arena arena;
    lg_arena_init(&arena, FUZZ_ARENA_BYTES);
    struct lg_json *v = (struct lg_json *)&arena;
    char msg[LG_ERRMSG_SIZE];
    msg[0] = '\0';
    int rc = lg_json_parse((const char *)data, size, &arena, &v, msg);
    if (rc != LG_OK) {
        if ((rc != LG_EBADREQ && rc != LG_ETOOLARGE) || v != NULL || msg[0] == '\0') {
            abort();
        }
        const char *o = strstr(msg, "(offset ");
        if (o == NULL || strtoull(o + 8, NULL, 10) > size) {
            abort();
        }
    } else {
        check_tree(v);
    }
    lg_arena_close(&arena);
    return 0;
}
