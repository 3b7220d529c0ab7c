/* arena: a bump allocator for per-request/per-batch decoding. Memory comes in chunks
 * that are kept across lg_arena_reset(), so steady-state decoding allocates nothing.
 * Everything allocated is freed at once by reset or close. */
#ifndef LG_ARENA_H
#define LG_ARENA_H

#include <stddef.h>

struct lg_arena_chunk;

struct lg_arena {
    struct lg_arena_chunk *head;   /* chunk being filled */
    struct lg_arena_chunk *chunks; /* all chunks */
    size_t bytes_max;              /* refuse to grow past this total (0 = no limit) */
    size_t bytes_total;            /* sum of chunk sizes */
};

/* bytes_max bounds the arena's total size (a hostile input cannot make it grow past it). */
void lg_arena_init(struct lg_arena *a, size_t bytes_max);

/* size bytes aligned to 16; NULL when out of memory or past bytes_max. */
void *lg_arena_alloc(struct lg_arena *a, size_t size);

/* n * size bytes, zeroed; NULL on overflow of n * size too. */
void *lg_arena_calloc(struct lg_arena *a, size_t n, size_t size);

/* Forget all allocations; keep the memory for reuse. */
void lg_arena_reset(struct lg_arena *a);

void lg_arena_close(struct lg_arena *a);

#endif /* LG_ARENA_H */
