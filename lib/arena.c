/* arena: bump allocation in chunks kept across resets; a budget on the bytes requested
 * between resets (deterministic: independent of the chunks kept from earlier use). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"

/* Every allocation is aligned to this (enough for lg_u128 and any scalar). */
#define ARENA_ALIGN 16u

/* Default chunk payload: large enough that a typical batch decodes in one chunk. */
#define ARENA_CHUNK_BYTES (64u * 1024u)

struct lg_arena_chunk {
    struct lg_arena_chunk *next; /* next chunk in allocation order */
    size_t size;                 /* payload bytes */
    size_t used;                 /* payload bytes handed out since the last reset */
    /* payload follows at ARENA_HEADER_BYTES from the chunk start */
};

/* The chunk header rounded up to the alignment, so the payload is aligned. */
#define ARENA_HEADER_BYTES \
    ((sizeof(struct lg_arena_chunk) + ARENA_ALIGN - 1u) & ~(size_t)(ARENA_ALIGN - 1u))

LG_STATIC_ASSERT((ARENA_ALIGN & (ARENA_ALIGN - 1u)) == 0, "alignment is a power of two");

/* Payload start of a chunk. */
static uint8_t *arena_payload(struct lg_arena_chunk *c)
{
    return (uint8_t *)c + ARENA_HEADER_BYTES;
}

/* Initialise an empty arena; bytes_max bounds the sum of chunk sizes (0 = no bound). */
void lg_arena_init(struct lg_arena *a, size_t bytes_max)
{
    LG_PRE(a != NULL);
    a->head = NULL;
    a->chunks = NULL;
    a->bytes_max = bytes_max;
    a->bytes_total = 0;
    a->bytes_used = 0;
    a->over_budget = 0;
}

/* Take size bytes from chunk c, or NULL if it does not have them. */
static void *arena_take(struct lg_arena_chunk *c, size_t size)
{
    if (c->size - c->used < size) {
        return NULL;
    }
    void *p = arena_payload(c) + c->used;
    c->used += size;
    return p;
}

/* Allocate a new chunk able to hold size bytes and append it to the list. Returns NULL
 * when malloc fails. The budget is checked by the caller, on requested bytes. */
static struct lg_arena_chunk *arena_grow(struct lg_arena *a, size_t size)
{
    size_t payload = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
    if (a->bytes_max != 0 && payload > a->bytes_max) {
        payload = size > a->bytes_max ? size : a->bytes_max; /* small budgets, small chunks */
    }
    if (payload > SIZE_MAX - ARENA_HEADER_BYTES) {
        return NULL;
    }
    struct lg_arena_chunk *c = malloc(ARENA_HEADER_BYTES + payload);
    if (c == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->size = payload;
    c->used = 0;
    struct lg_arena_chunk **tail = &a->chunks;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = c;
    a->bytes_total += payload;
    return c;
}

/* size bytes aligned to ARENA_ALIGN (size 0 counts as 1). NULL when out of memory or
 * when the arena would grow past bytes_max. */
void *lg_arena_alloc(struct lg_arena *a, size_t size)
{
    LG_PRE(a != NULL);
    if (size > SIZE_MAX - ARENA_ALIGN) {
        return NULL;
    }
    size = size == 0 ? ARENA_ALIGN : (size + ARENA_ALIGN - 1u) & ~(size_t)(ARENA_ALIGN - 1u);
    if (a->bytes_max != 0 && size > a->bytes_max - a->bytes_used) {
        a->over_budget = 1;
        return NULL;
    }
    void *p = NULL;
    if (a->head != NULL) {
        p = arena_take(a->head, size);
        /* Reuse chunks kept from before the last reset before allocating new ones. */
        for (struct lg_arena_chunk *c = a->head->next; p == NULL && c != NULL; c = c->next) {
            p = arena_take(c, size);
            if (p != NULL) {
                a->head = c;
            }
        }
    }
    if (p == NULL) {
        struct lg_arena_chunk *c = arena_grow(a, size);
        if (c == NULL) {
            return NULL; /* malloc failed: not a budget matter */
        }
        a->head = c;
        p = arena_take(c, size);
        LG_POST(p != NULL);
    }
    a->bytes_used += size;
    LG_POST(a->bytes_max == 0 || a->bytes_used <= a->bytes_max);
    return p;
}

int lg_arena_over_budget(const struct lg_arena *a)
{
    LG_PRE(a != NULL);
    return a->over_budget;
}

/* n * size bytes, zeroed. NULL on overflow of n * size, out of memory or past bytes_max. */
void *lg_arena_calloc(struct lg_arena *a, size_t n, size_t size)
{
    LG_PRE(a != NULL);
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = lg_arena_alloc(a, n * size);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

/* Forget every allocation; chunks stay for reuse unless they hold more than bytes_max
 * (then they are freed, keeping memory bounded by a small multiple of the budget). */
void lg_arena_reset(struct lg_arena *a)
{
    LG_PRE(a != NULL);
    a->bytes_used = 0;
    a->over_budget = 0;
    if (a->bytes_max != 0 && a->bytes_total > a->bytes_max) {
        lg_arena_close(a);
        return;
    }
    for (struct lg_arena_chunk *c = a->chunks; c != NULL; c = c->next) {
        c->used = 0;
    }
    a->head = a->chunks;
}

/* Free every chunk; the arena is empty (and reusable) afterwards. */
void lg_arena_close(struct lg_arena *a)
{
    LG_PRE(a != NULL);
    struct lg_arena_chunk *c = a->chunks;
    while (c != NULL) {
        struct lg_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->chunks = NULL;
    a->bytes_total = 0;
    a->bytes_used = 0;
    a->over_budget = 0;
}
