/* test_mem: malloc tuning and prefaulting (lib/mem.h). Goal: growing keeps every byte at
 * every size class (heap, malloc's own mappings, mremap), zalloc zeroes, and memory
 * populated by lg_mem_prefault_heap / lg_mem_prefault takes no page fault when written.
 * Method: patterned arrays grown across the thresholds; page faults counted with
 * getrusage around writes. Under a sanitizer's allocator (no brk heap) the heap case
 * checks only that nothing breaks. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static long minor_faults(void)
{
    struct rusage u;
    cr_assert_eq(getrusage(RUSAGE_SELF, &u), 0);
    return u.ru_minflt;
}

Test(mem, grow_keeps_every_byte_across_size_classes)
{
    size_t sizes[] = {1000, 4096, LG_MEM_GROW_MIN + 8, (size_t)24 << 20, (size_t)40 << 20,
                      (size_t)96 << 20};
    size_t old = 0;
    uint32_t *v = NULL;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t bytes = sizes[k];
        v = lg_mem_grow(v, old, bytes);
        cr_assert_not_null(v, "grow to %zu", bytes);
        for (size_t i = 0; i < old / sizeof *v; i++) {
            cr_assert_eq(v[i], (uint32_t)(i * 2654435761u), "word %zu after growing to %zu", i,
                         bytes);
        }
        for (size_t i = old / sizeof *v; i < bytes / sizeof *v; i++) {
            v[i] = (uint32_t)(i * 2654435761u);
        }
        old = bytes / sizeof *v * sizeof *v;
    }
    free(v);
}

Test(mem, zalloc_zeroes_small_and_large)
{
    size_t sizes[] = {1, 4096, LG_MEM_GROW_MIN, (size_t)3 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned char *p = malloc(sizes[k]); /* dirty a block the allocator may hand back */
        cr_assert_not_null(p);
        memset(p, 0xa5, sizes[k]);
        free(p);
        unsigned char *z = lg_mem_zalloc(sizes[k]);
        cr_assert_not_null(z);
        for (size_t i = 0; i < sizes[k]; i++) {
            cr_assert_eq(z[i], 0, "byte %zu of %zu", i, sizes[k]);
        }
        free(z);
    }
}

Test(mem, prefaulted_range_takes_no_fault_when_written)
{
    size_t n = (size_t)8 << 20;
    unsigned char *p = malloc(n + 4096);
    cr_assert_not_null(p);
    lg_mem_prefault(p, n + 4096);
    if (SANITIZED) {
        free(p); /* every write also touches shadow memory nobody populated */
        return;
    }
    long before = minor_faults();
    /* every whole page inside the block was populated */
    uintptr_t start = ((uintptr_t)p + 4095u) & ~(uintptr_t)4095u;
    for (uintptr_t a = start; a + 4096u <= (uintptr_t)p + n; a += 4096u) {
        *(volatile unsigned char *)a = 1;
    }
    long faults = minor_faults() - before;
    cr_assert_leq(faults, 4, "%ld faults writing %zu populated bytes", faults, n);
    free(p);
}

Test(mem, heap_grown_by_malloc_is_populated_ahead)
{
    lg_mem_tune();
    /* Below the mmap threshold: from the brk heap, which grows LG_MEM_TOP_PAD ahead. */
    size_t n = (size_t)2 << 20;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    size_t total = 0;
    for (int i = 0; i < 64; i++) { /* bounded: the pad is populated a step per call */
        size_t k = lg_mem_prefault_heap();
        if (k == 0) {
            break;
        }
        cr_assert_leq(k, LG_MEM_PREFAULT_STEP);
        total += k;
    }
    cr_assert_eq(lg_mem_prefault_heap(), 0, "everything populated: nothing left to do");
    if (SANITIZED) {
        free(p);
        return; /* the sanitizer's allocator does not use the brk heap */
    }
    cr_assert_geq(total, LG_MEM_TOP_PAD / 2, "populated %zu bytes of a %u-byte pad", total,
                  LG_MEM_TOP_PAD);
    /* A later allocation lands in the populated pad: writing it takes (almost) no fault. */
    unsigned char *q = malloc(n);
    cr_assert_not_null(q);
    long before = minor_faults();
    memset(q, 7, n);
    long faults = minor_faults() - before;
    cr_assert_leq(faults, 4, "%ld faults writing %zu bytes of populated heap", faults, n);
    free(q);
    free(p);
}
