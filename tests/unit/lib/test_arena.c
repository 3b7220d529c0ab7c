/* test_arena: the bump allocator used for decoding (lib/arena.c).
 *
 * Goal: allocations are aligned, distinct and writable; calloc zeroes and refuses
 * overflowing sizes; bytes_max bounds the bytes requested between resets so hostile input
 * cannot grow it, and whether a request sequence fits depends on that sequence only (not
 * on the chunks an earlier, bigger use left behind: the FSM's "too large" rejections must
 * be the same on every replica); reset keeps the memory so steady-state decoding
 * allocates nothing; close frees everything (leaks are caught by the sanitizer build).
 * Method: direct calls, checking pointers, contents, bytes_total and over_budget. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"

Test(arena, allocations_are_aligned_and_distinct)
{
    struct lg_arena a;
    lg_arena_init(&a, 0);
    uint8_t *prev = NULL;
    for (size_t size = 0; size < 200; size++) {
        uint8_t *p = lg_arena_alloc(&a, size);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16u, 0u, "size %zu", size);
        cr_assert_neq(p, prev);
        memset(p, 0xab, size);
        prev = p;
    }
    lg_arena_close(&a);
}

Test(arena, calloc_zeroes_and_checks_overflow)
{
    struct lg_arena a;
    lg_arena_init(&a, 0);
    uint8_t *p = lg_arena_alloc(&a, 64);
    memset(p, 0xff, 64);
    lg_arena_reset(&a);
    uint8_t *z = lg_arena_calloc(&a, 8, 8);
    cr_assert_eq(z, p, "reset reuses the same memory");
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(z[i], 0);
    }
    cr_assert_null(lg_arena_calloc(&a, SIZE_MAX / 2, 4));
    cr_assert_null(lg_arena_alloc(&a, SIZE_MAX));
    cr_assert_null(lg_arena_alloc(&a, SIZE_MAX - 8));
    lg_arena_close(&a);
}

Test(arena, bytes_max_bounds_growth)
{
    struct lg_arena a;
    lg_arena_init(&a, 1000);
    cr_assert_not_null(lg_arena_alloc(&a, 512));
    cr_assert_not_null(lg_arena_alloc(&a, 400));
    cr_assert_not(lg_arena_over_budget(&a));
    cr_assert_null(lg_arena_alloc(&a, 200), "would exceed 1000 bytes");
    cr_assert(lg_arena_over_budget(&a));
    cr_assert_leq(a.bytes_total, 1000u);
    cr_assert_null(lg_arena_alloc(&a, 5000));
    lg_arena_reset(&a);
    cr_assert_not(lg_arena_over_budget(&a), "reset clears the budget");
    cr_assert_not_null(lg_arena_alloc(&a, 900), "memory is reusable after reset");
    lg_arena_close(&a);
    cr_assert_eq(a.bytes_total, 0u);
}

Test(arena, reset_keeps_chunks_and_steady_state_does_not_grow)
{
    struct lg_arena a;
    lg_arena_init(&a, 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_not_null(lg_arena_alloc(&a, 10000));
    }
    size_t total = a.bytes_total;
    cr_assert_geq(total, 1000000u);
    for (int round = 0; round < 10; round++) {
        lg_arena_reset(&a);
        for (int i = 0; i < 100; i++) {
            uint8_t *p = lg_arena_alloc(&a, 10000);
            cr_assert_not_null(p);
            memset(p, i, 10000);
        }
        cr_assert_eq(a.bytes_total, total, "round %d grew the arena", round);
    }
    /* A request larger than a chunk gets its own chunk. */
    uint8_t *big = lg_arena_alloc(&a, 1u << 20);
    cr_assert_not_null(big);
    memset(big, 1, 1u << 20);
    lg_arena_close(&a);
    lg_arena_close(&a);
}

/* The reviewer's sequence: 1024 requests of 64000 bytes (about 62.5 MiB) against a 64 MiB
 * budget, on a fresh arena and on one that first served a 100 KiB request (a chunk that,
 * kept across the reset, used to count against the budget). Then the exact edge: a
 * sequence filling the budget to the byte, and one byte more. */
static int run_sequence(struct lg_arena *a, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = lg_arena_alloc(a, size);
        if (p == NULL) {
            return (int)i;
        }
        p[0] = 1;
        p[size - 1] = 2;
    }
    return -1;
}

Test(arena, budget_depends_on_the_requests_not_on_history)
{
    const size_t max = 64u * 1024u * 1024u;
    struct lg_arena fresh;
    struct lg_arena used;
    lg_arena_init(&fresh, max);
    lg_arena_init(&used, max);
    cr_assert_not_null(lg_arena_alloc(&used, 100u * 1024u));
    lg_arena_reset(&used);
    cr_assert_eq(run_sequence(&fresh, 1024, 64000), -1);
    cr_assert_eq(run_sequence(&used, 1024, 64000), -1, "history changed the outcome");
    /* the budget counts aligned request sizes: 4096 x 16 KiB is exactly 64 MiB */
    for (int round = 0; round < 3; round++) {
        lg_arena_reset(&fresh);
        lg_arena_reset(&used);
        cr_assert_not_null(lg_arena_alloc(&used, 3u * 1024u * 1024u + 1u));
        lg_arena_reset(&used);
        cr_assert_eq(run_sequence(&fresh, 4096, 16384), -1, "round %d", round);
        cr_assert_eq(run_sequence(&used, 4096, 16384), -1, "round %d", round);
        cr_assert_null(lg_arena_alloc(&fresh, 1));
        cr_assert_null(lg_arena_alloc(&used, 1));
        cr_assert(lg_arena_over_budget(&fresh) && lg_arena_over_budget(&used));
        lg_arena_reset(&fresh);
        lg_arena_reset(&used);
        cr_assert_eq(run_sequence(&fresh, 4097, 16384), 4096);
        cr_assert_eq(run_sequence(&used, 4097, 16384), 4096);
        cr_assert_eq(run_sequence(&fresh, 1, 1), 0, "stays over budget until reset");
    }
    lg_arena_close(&fresh);
    lg_arena_close(&used);
}
