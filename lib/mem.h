/* mem: keep page faults off the write path.
 *
 * Where a page fault exits to a hypervisor (the 2-core VM of docs/benchmarks.md: 30-45 µs
 * per fault), writing new anonymous memory one page fault at a time runs at ~100-130 MiB/s;
 * populated first by one madvise(MADV_POPULATE_WRITE) (~2 GiB/s by itself), then written,
 * ~320 MiB/s: the first write of a page still costs ~10 µs there, a third of a fault
 * (`bench-machine`). A node's memory grows with every transaction (the state machine's
 * indexes, libraft's in-memory log), so left to faults a node spends microseconds per
 * transfer in the kernel.
 *
 * - lg_mem_tune(): once, at process start, before threads: malloc keeps what is freed
 *   (no trimming of the heap top), serves requests up to 32 MiB from the heap (reused,
 *   not mapped and unmapped each time) and grows the heap LG_MEM_TOP_PAD bytes ahead.
 *   The cost: a node's resident memory is its peak heap plus up to the pad, and it is
 *   not given back after a spike (large answers, split frames, a snapshot's buffer).
 *   Every thread allocates from this one heap (M_ARENA_MAX 1): glibc would give the
 *   node's apply thread (raft/fsm_adapter.h) an arena of its own, mapped apart from the
 *   heap, which the prefault below does not reach, so the state machine's growth faulted
 *   page by page again (interleaved clusters, batched: 108-125 k -> 119-135 k
 *   transfers/s, node CPU per transfer -10 %).
 * - lg_mem_prefault_heap(): populates the part of the heap not populated yet, at most
 *   LG_MEM_PREFAULT_STEP bytes per call: call it once per event-loop turn.
 * - lg_mem_prefault(): populates the whole pages inside [p, p + n): after growing a large
 *   array, before writing into it.
 * All of it is advice: on a kernel without MADV_POPULATE_WRITE (before 5.14) or under a
 * sanitizer's allocator it does nothing, and nothing depends on it for correctness. */
#ifndef LG_MEM_H
#define LG_MEM_H

#include <stddef.h>

#define LG_MEM_TOP_PAD (16u << 20)
#define LG_MEM_PREFAULT_STEP (4u << 20)

void lg_mem_tune(void);

/* Bytes populated by this call (0 when nothing was to do or it is unsupported). */
size_t lg_mem_prefault_heap(void);

void lg_mem_prefault(void *p, size_t n);

/* realloc for large, growing arrays: from LG_MEM_GROW_MIN bytes on, the new block is
 * populated before the old content is copied into it (or, for a block malloc maps on its
 * own, the added tail after mremap). NULL when out of memory (old is then untouched). */
#define LG_MEM_GROW_MIN (1u << 20)
void *lg_mem_grow(void *old, size_t old_bytes, size_t new_bytes);

/* calloc(1, n), populated in one call from LG_MEM_GROW_MIN bytes on. */
void *lg_mem_zalloc(size_t n);

#endif /* LG_MEM_H */
