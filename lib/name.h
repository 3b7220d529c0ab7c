/* name: validation of ledger names, account addresses, assets and address patterns
 * (DESIGN §5), and pattern matching. Inputs are (pointer, length), not NUL-terminated,
 * and may hold any bytes: every function here is safe on hostile input.
 *
 * - ledger:  [a-z0-9_-]{1,64}
 * - address: [A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)*, at most 256 bytes; "world" is a valid
 *   address with a reserved meaning (the account of last resort, may go negative).
 * - asset:   [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})?
 * - pattern: an address whose segments may be "*" (exactly one segment, any value):
 *   "users:*:main" matches "users:42:main", not "users:42:x:main". */
#ifndef LG_NAME_H
#define LG_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define LG_WORLD "world"

/* Each check returns LG_OK or LG_EBADREQ with a precise reason in errmsg
 * (LG_ERRMSG_SIZE bytes, may be NULL), e.g. "address: empty segment at byte 6". `what`
 * names the field for the message ("source", "postings[2].asset"); may be NULL. */
int lg_name_check_ledger(const char *s, size_t len, const char *what, char *errmsg);
int lg_name_check_address(const char *s, size_t len, const char *what, char *errmsg);
int lg_name_check_asset(const char *s, size_t len, const char *what, char *errmsg);
int lg_name_check_pattern(const char *s, size_t len, const char *what, char *errmsg);

bool lg_name_is_world(const char *s, size_t len);

/* True when pattern has at least one "*" segment. */
bool lg_name_pattern_has_wildcard(const char *pattern, size_t len);

/* Length of the pattern's literal prefix usable for an ordered range scan: the bytes
 * before the first "*" segment (including the ':' before it). "users:*:main" → 6
 * ("users:"); a pattern without '*' → its whole length. */
size_t lg_name_pattern_prefix_len(const char *pattern, size_t len);

/* Does a valid address match a valid pattern (segment count equal, literal segments
 * equal, "*" matches any one segment)? */
bool lg_name_pattern_match(const char *pattern, size_t plen, const char *addr, size_t alen);

#endif /* LG_NAME_H */
