/* mpread: a bounded msgpack reader over a byte range, shared by fsm/codec.c (canonical
 * forms only) and lib/proto.c (every form a client library may write).
 *
 * Each call reads one value at r->p and advances past it, or returns a status and leaves
 * r->p where it was for a type mismatch (callers may then try another type). Nothing
 * here allocates, recurses, or reads outside [p, end): every length is checked against
 * the bytes left before it is used. Strings and bins are views into the input.
 *
 * Forms: LG_MPREAD_SHORTEST accepts only what a canonical encoder (msgpack-c's packer)
 * writes: the shortest length or integer form, unsigned forms for unsigned values; any
 * longer one is LG_MPREAD_NONCANONICAL. LG_MPREAD_ANY accepts every form of the type
 * (an unsigned integer may come in a signed form holding a non-negative value). */
#ifndef LG_MPREAD_H
#define LG_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting lg_mpread_skip walks with its explicit stack. */
#define LG_MPREAD_DEPTH_MAX 16u

struct lg_mpread {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
};

enum lg_mpread_status {
    LG_MPREAD_OK = 0,
    LG_MPREAD_TRUNCATED,    /* input ends inside the value */
    LG_MPREAD_TYPE,         /* another msgpack type */
    LG_MPREAD_NONCANONICAL, /* right type, not the shortest form (LG_MPREAD_SHORTEST) */
    LG_MPREAD_NEGATIVE,     /* a negative integer where an unsigned one belongs */
    LG_MPREAD_DEEP,         /* containers nested deeper than the skip allows */
    LG_MPREAD_BADBYTE,      /* 0xc1, never used by msgpack */
    LG_MPREAD_USER,         /* first status free for a caller's own readers */
};

enum lg_mpread_form {
    LG_MPREAD_SHORTEST = 0,
    LG_MPREAD_ANY = 1,
};

/* Bytes left to read. */
size_t lg_mpread_left(const struct lg_mpread *r);

/* n (0..8) bytes at p as a big-endian unsigned integer. */
uint64_t lg_mpread_be(const uint8_t *p, unsigned n);

/* An unsigned integer. SHORTEST: positive fixint or uint 8/16/32/64 in its shortest form
 * (a signed form is LG_MPREAD_TYPE). ANY: any integer form; a negative value is
 * LG_MPREAD_NEGATIVE (consumed). */
int lg_mpread_uint(struct lg_mpread *r, enum lg_mpread_form form, uint64_t *v);

/* Any integer, any form: *neg set for a negative value, then *v holds it as int64 bits. */
int lg_mpread_integer(struct lg_mpread *r, bool *neg, uint64_t *v);

/* A string (fixstr, str 8/16/32): *ptr and *len view the input. */
int lg_mpread_str(struct lg_mpread *r, enum lg_mpread_form form, const char **ptr,
                  uint32_t *len);

/* A bin (bin 8/16/32): *ptr and *len view the input. */
int lg_mpread_bin(struct lg_mpread *r, enum lg_mpread_form form, const uint8_t **ptr,
                  uint32_t *len);

/* An array or map header (fix, 16, 32): *n items (entries for a map). */
int lg_mpread_array(struct lg_mpread *r, enum lg_mpread_form form, uint32_t *n);
int lg_mpread_map(struct lg_mpread *r, enum lg_mpread_form form, uint32_t *n);

/* The head of one value of any type, any form: its type byte and length field. *items:
 * the values it contains (array n, map 2n); *body: the payload bytes that follow (not
 * consumed, not checked against the bytes left). LG_MPREAD_TRUNCATED, _BADBYTE. */
int lg_mpread_head(struct lg_mpread *r, uint64_t *items, uint64_t *body);

/* Skip one value of any type. Containers are walked with an explicit stack of at most
 * depth_max (<= LG_MPREAD_DEPTH_MAX) levels; a container deeper is LG_MPREAD_DEEP
 * (depth_max 0: scalars only). */
int lg_mpread_skip(struct lg_mpread *r, unsigned depth_max);

/* Skip one value of any type at any depth, keeping no stack: a count of values still to
 * skip, each container adding its items, bounded by the bytes left. */
int lg_mpread_skip_any(struct lg_mpread *r);

#endif /* LG_MPREAD_H */
