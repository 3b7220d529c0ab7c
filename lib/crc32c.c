/* crc32c: CRC-32C with an SSE4.2 path and a slicing-by-8 table fallback (see crc32c.h). */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#include "assert.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#else
#define CRC32C_HAVE_X86 0
#endif

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

/* Fill the slicing-by-8 tables: table[0] is the classic byte table; table[k][b] is the
 * CRC of byte b followed by k zero bytes. */
static void crc32c_table_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        crc32c_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = crc32c_table[0][b];
        for (int k = 1; k < 8; k++) {
            c = crc32c_table[0][c & 0xFFu] ^ (c >> 8);
            crc32c_table[k][b] = c;
        }
    }
}

/* Load 8 bytes little-endian without alignment assumptions. */
static uint64_t crc32c_load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

uint32_t lg_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    LG_PRE(data != NULL || len == 0);
    pthread_once(&crc32c_table_once, crc32c_table_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint64_t v = crc32c_load64(p) ^ c;
        c = crc32c_table[7][v & 0xFFu] ^ crc32c_table[6][(v >> 8) & 0xFFu] ^
            crc32c_table[5][(v >> 16) & 0xFFu] ^ crc32c_table[4][(v >> 24) & 0xFFu] ^
            crc32c_table[3][(v >> 32) & 0xFFu] ^ crc32c_table[2][(v >> 40) & 0xFFu] ^
            crc32c_table[1][(v >> 48) & 0xFFu] ^ crc32c_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = crc32c_table[0][(c ^ *p) & 0xFFu] ^ (c >> 8);
        p++;
        len--;
    }
    return ~c;
}

#if CRC32C_HAVE_X86
__attribute__((target("sse4.2"))) uint32_t lg_crc32c_hw(uint32_t crc, const void *data,
                                                        size_t len)
{
    LG_PRE(data != NULL || len == 0);
    const uint8_t *p = data;
    uint64_t c = ~crc;
    /* Bytes until 8-byte alignment, then 8 bytes per instruction, then the tail. */
    while (len > 0 && ((uintptr_t)p & 7u) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p);
        p++;
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p);
        p++;
        len--;
    }
    return ~(uint32_t)c;
}

bool lg_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2") != 0;
}
#else
uint32_t lg_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    (void)crc;
    (void)data;
    (void)len;
    LG_UNREACHABLE("lg_crc32c_hw called without SSE4.2");
}

bool lg_crc32c_hw_available(void)
{
    return false;
}
#endif

/* 0 = not decided yet, 1 = software, 2 = SSE4.2. Racing first calls decide the same. */
static int crc32c_impl;

uint32_t lg_crc32c(uint32_t crc, const void *data, size_t len)
{
    int impl = __atomic_load_n(&crc32c_impl, __ATOMIC_RELAXED);
    if (impl == 0) {
        impl = lg_crc32c_hw_available() ? 2 : 1;
        __atomic_store_n(&crc32c_impl, impl, __ATOMIC_RELAXED);
    }
    return impl == 2 ? lg_crc32c_hw(crc, data, len) : lg_crc32c_sw(crc, data, len);
}
