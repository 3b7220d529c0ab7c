/* addr: "HOST:PORT" network addresses (Raft, client and gossip addresses; DESIGN §7, §10).
 *
 * HOST is a DNS name, an IPv4 literal, or an IPv6 literal in brackets ("[::1]:7001"); PORT
 * is decimal, 1..65535 (0 only where a caller asks for any free port). One parser for the
 * transport, the client server, the blocking client and the command line. */
#ifndef LG_ADDR_H
#define LG_ADDR_H

#include <stddef.h>

/* Longest "HOST:PORT" string including its NUL: a DNS name is at most 253 bytes, plus
 * "[]" for an IPv6 literal, ":" and five digits = 261, rounded up to a multiple of 8. */
#define LG_ADDR_BYTES_MAX 264u

/* Flags of lg_addr_split. */
#define LG_ADDR_PORT_ZERO_OK 1u /* accept port 0 (listen on any free port) */

/* Split address into host (brackets removed, NUL-terminated) and port (digits). Returns
 * LG_OK or LG_EINVAL (errmsg, LG_ERRMSG_SIZE bytes or NULL, says why): empty or too long
 * (>= LG_ADDR_BYTES_MAX), no port, an IPv6 literal without brackets, a port that is not
 * 1..65535, or host/port not fitting host_size/port_size. */
int lg_addr_split(const char *address, char *host, size_t host_size, char *port,
                  size_t port_size, unsigned flags, char *errmsg);

#endif /* LG_ADDR_H */
