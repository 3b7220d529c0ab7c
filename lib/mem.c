/* mem: malloc tuning and prefaulting (mem.h). */
#include "mem.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The heap's end as far as it is populated; 0 until lg_mem_tune. Loop thread only. */
static uintptr_t populated_end;
static bool unsupported;

static uintptr_t page_size(void)
{
    static uintptr_t size;
    if (size == 0) {
        long n = sysconf(_SC_PAGESIZE);
        size = n > 0 ? (uintptr_t)n : 4096u;
    }
    return size;
}

/* Populate [start, end) (page aligned); false when the kernel does not support it. */
static bool populate(uintptr_t start, uintptr_t end)
{
    if (end <= start || unsupported) {
        return !unsupported;
    }
    if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
        unsupported = true; /* older kernel: faults it is */
        return false;
    }
    return true;
}

void lg_mem_tune(void)
{
    (void)mallopt(M_TRIM_THRESHOLD, INT32_MAX);
    (void)mallopt(M_TOP_PAD, (int)LG_MEM_TOP_PAD);
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_ARENA_MAX, 1); /* one heap for every thread (mem.h) */
    void *top = sbrk(0);
    populated_end = top == (void *)-1 ? 0 : (uintptr_t)top;
}

size_t lg_mem_prefault_heap(void)
{
    if (populated_end == 0 || unsupported) {
        return 0;
    }
    void *top = sbrk(0);
    if (top == (void *)-1) {
        return 0;
    }
    uintptr_t end = (uintptr_t)top;
    if (end <= populated_end) {
        populated_end = end; /* shrunk (it should not: no trimming) */
        return 0;
    }
    uintptr_t start = (populated_end + page_size() - 1u) & ~(page_size() - 1u);
    if (end - start > LG_MEM_PREFAULT_STEP) {
        end = start + LG_MEM_PREFAULT_STEP;
    }
    end &= ~(page_size() - 1u);
    if (end <= start || !populate(start, end)) {
        return 0;
    }
    populated_end = end;
    return end - start;
}

void lg_mem_prefault(void *p, size_t n)
{
    uintptr_t start = ((uintptr_t)p + page_size() - 1u) & ~(page_size() - 1u);
    uintptr_t end = ((uintptr_t)p + n) & ~(page_size() - 1u);
    if (end > start && end - start >= 16u * page_size()) {
        (void)populate(start, end);
    }
}

/* Requests from this size on are mapped by malloc on their own (lg_mem_tune). */
#define MMAP_THRESHOLD ((size_t)32u << 20)

void *lg_mem_grow(void *old, size_t old_bytes, size_t new_bytes)
{
    if (new_bytes < LG_MEM_GROW_MIN || old_bytes >= new_bytes) {
        return realloc(old, new_bytes);
    }
    if (old_bytes >= MMAP_THRESHOLD) { /* mremap moves the old pages: populate the tail */
        unsigned char *v = realloc(old, new_bytes);
        if (v != NULL) {
            lg_mem_prefault(v + old_bytes, new_bytes - old_bytes);
        }
        return v;
    }
    void *v = malloc(new_bytes);
    if (v == NULL) {
        return NULL;
    }
    lg_mem_prefault(v, new_bytes);
    if (old_bytes > 0) {
        memcpy(v, old, old_bytes);
    }
    free(old);
    return v;
}

void *lg_mem_zalloc(size_t n)
{
    if (n < LG_MEM_GROW_MIN) {
        return calloc(1, n);
    }
    void *v = malloc(n);
    if (v != NULL) {
        lg_mem_prefault(v, n);
        memset(v, 0, n);
    }
    return v;
}
