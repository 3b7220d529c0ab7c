/* arena: a bump allocator for per-request/per-batch decoding. Memory comes in chunks
 * that are kept across lg_arena_reset(), so steady-state decoding allocates nothing.
 * Everything allocated is freed at once by reset or close.
 *
 * Budget: bytes_max bounds the bytes REQUESTED since the last reset (each request rounded
 * up to the 16-byte alignment), not the chunks held. Whether a sequence of requests fits
 * is therefore a function of that sequence alone, never of what the arena served before
 * (the FSM turns "over budget" into a deterministic rejection, so replicas must agree).
 * A request past the budget fails with lg_arena_over_budget() true; a failed malloc fails
 * with it false (an error of this node, not of the input). Chunks held stay within a small
 * multiple of bytes_max: reset frees them all when they exceed bytes_max. */
#ifndef LG_ARENA_H
#define LG_ARENA_H

#include <stddef.h>

struct lg_arena_chunk;

struct lg_arena {
    struct lg_arena_chunk *head;   /* chunk being filled */
    struct lg_arena_chunk *chunks; /* all chunks */
    size_t bytes_max;              /* refuse to grow past this total (0 = no limit) */
    size_t bytes_total;            /* sum of chunk sizes */
    size_t bytes_used;             /* bytes requested (aligned) since the last reset */
    int over_budget;               /* a request since the last reset exceeded bytes_max */
};

/* bytes_max bounds the bytes requested between resets (0 = no bound). */
void lg_arena_init(struct lg_arena *a, size_t bytes_max);

/* size bytes aligned to 16; NULL when out of memory or past bytes_max. */
void *lg_arena_alloc(struct lg_arena *a, size_t size);

/* Nonzero when an allocation since the last reset failed because of bytes_max (as opposed
 * to malloc failing). */
int lg_arena_over_budget(const struct lg_arena *a);

/* n * size bytes, zeroed; NULL on overflow of n * size too. */
void *lg_arena_calloc(struct lg_arena *a, size_t n, size_t size);

/* Forget all allocations; keep the memory for reuse. */
void lg_arena_reset(struct lg_arena *a);

void lg_arena_close(struct lg_arena *a);

#endif /* LG_ARENA_H */
