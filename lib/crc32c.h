/* crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4
 * and the journal's record, segment and index checksums.
 *
 * lg_crc32c() picks the SSE4.2 instruction when the CPU has it (checked once at run time)
 * and a slicing-by-8 table otherwise. Both give identical results; tests check them
 * against known vectors and against each other.
 *
 * Chaining: crc is the CRC of the bytes so far (0 for none), so
 * lg_crc32c(lg_crc32c(0, a, n), b, m) == CRC-32C of a followed by b. */
#ifndef LG_CRC32C_H
#define LG_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data[0..len) continuing from crc (0 to start). data may be NULL when len is
 * 0. Uses the fastest implementation available. */
uint32_t lg_crc32c(uint32_t crc, const void *data, size_t len);

/* The portable slicing-by-8 implementation (always available). Same contract. */
uint32_t lg_crc32c_sw(uint32_t crc, const void *data, size_t len);

/* The SSE4.2 implementation. Same contract. Only call when lg_crc32c_hw_available(). */
uint32_t lg_crc32c_hw(uint32_t crc, const void *data, size_t len);

/* True when this CPU supports SSE4.2 (so lg_crc32c_hw() may be called). */
bool lg_crc32c_hw_available(void);

#endif /* LG_CRC32C_H */
