/* addr: HOST:PORT parsing (names, IPv4, bracketed IPv6, port bounds, the port-0 flag). */
#include <criterion/criterion.h>
#include <string.h>

#include "addr.h"
#include "err.h"

Test(addr, splits_names_ipv4_and_bracketed_ipv6)
{
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    cr_assert_eq(lg_addr_split("pod-0.ledger.svc:7001", host, sizeof host, port, sizeof port,
                               0, NULL), LG_OK);
    cr_assert_str_eq(host, "pod-0.ledger.svc");
    cr_assert_str_eq(port, "7001");
    cr_assert_eq(lg_addr_split("[::1]:65535", host, sizeof host, port, sizeof port, 0, NULL),
                 LG_OK);
    cr_assert_str_eq(host, "::1");
    cr_assert_str_eq(port, "65535");
}

Test(addr, refuses_malformed_addresses_with_a_message)
{
    static const char *const bad[] = {"", "host", "host:", ":7001", "host:0", "host:65536",
                                      "host:123456", "host:7a", "::1:7001", "[::1]7001",
                                      "[::1", "[]:7001"};
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    char msg[LG_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        cr_assert_eq(lg_addr_split(bad[i], host, sizeof host, port, sizeof port, 0, msg),
                     LG_EINVAL, "\"%s\" accepted", bad[i]);
        cr_assert_neq(msg[0], '\0');
    }
    char longname[LG_ADDR_BYTES_MAX + 1];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memcpy(longname + sizeof longname - 6, ":8080", 6);
    cr_assert_eq(lg_addr_split(longname, host, sizeof host, port, sizeof port, 0, NULL),
                 LG_EINVAL);
    /* A host that does not fit the caller's buffer. */
    char small[4];
    cr_assert_eq(lg_addr_split("abcdef:1", small, sizeof small, port, sizeof port, 0, NULL),
                 LG_EINVAL);
}

Test(addr, port_zero_only_when_asked)
{
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    cr_assert_eq(lg_addr_split("127.0.0.1:0", host, sizeof host, port, sizeof port, 0, NULL),
                 LG_EINVAL);
    cr_assert_eq(lg_addr_split("127.0.0.1:0", host, sizeof host, port, sizeof port,
                               LG_ADDR_PORT_ZERO_OK, NULL), LG_OK);
    cr_assert_str_eq(port, "0");
}
