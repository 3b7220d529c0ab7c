/* test_err: the error table is complete and consistent (names, wire codes, round trips).
 * Method: walk every code; check wire strings are DESIGN §8 codes and parse back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "err.h"

static const char *const design_wire_codes[] = {
    "bad_request", "too_large", "unknown_op", "not_leader", "unavailable", "timeout",
    "not_found", "insufficient_funds", "condition_failed", "conflict", "overflow", "internal",
};

Test(err, every_code_has_a_design_wire_code)
{
    for (int code = 1; code < LG_ERR_COUNT; code++) {
        const char *wire = lg_err_wire(code);
        bool found = false;
        for (size_t i = 0; i < sizeof design_wire_codes / sizeof design_wire_codes[0]; i++) {
            found = found || strcmp(wire, design_wire_codes[i]) == 0;
        }
        cr_assert(found, "%s has wire code %s, not in DESIGN §8", lg_err_name(code), wire);
        cr_assert_neq(strlen(lg_err_message(code)), 0);
    }
}

Test(err, every_design_wire_code_parses_back)
{
    for (size_t i = 0; i < sizeof design_wire_codes / sizeof design_wire_codes[0]; i++) {
        int code = lg_err_from_wire(design_wire_codes[i]);
        cr_assert_neq(code, LG_EINVAL, "%s", design_wire_codes[i]);
        cr_assert_str_eq(lg_err_wire(code), design_wire_codes[i]);
    }
    cr_assert_eq(lg_err_from_wire("no_such_code"), LG_EINVAL);
    cr_assert_eq(lg_err_from_wire(NULL), LG_EINVAL);
}

Test(err, names_and_unknown_codes)
{
    cr_assert_str_eq(lg_err_name(LG_OK), "LG_OK");
    cr_assert_str_eq(lg_err_name(LG_EFUNDS), "LG_EFUNDS");
    cr_assert_str_eq(lg_err_wire(LG_EFUNDS), "insufficient_funds");
    cr_assert_str_eq(lg_err_name(-1), "LG_E?");
    cr_assert_str_eq(lg_err_wire(LG_ERR_COUNT + 5), "internal");
}

Test(err, errno_and_uv_mapping)
{
    cr_assert_eq(lg_err_from_errno(0), LG_OK);
    cr_assert_eq(lg_err_from_errno(ENOSPC), LG_ENOSPC);
    cr_assert_eq(lg_err_from_errno(ENOMEM), LG_ENOMEM);
    cr_assert_eq(lg_err_from_errno(EIO), LG_EIO);
    cr_assert_eq(lg_err_from_uv(-ENOSPC), LG_ENOSPC);
}

Test(err, errmsg_printf_and_wrap_truncate_safely)
{
    char msg[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_errmsg_printf(msg, LG_EIO, "write %s", "seg-1"), LG_EIO);
    cr_assert_str_eq(msg, "write seg-1");
    cr_assert_eq(lg_errmsg_wrap(msg, LG_EIO, "journal %d", 7), LG_EIO);
    cr_assert_str_eq(msg, "journal 7: write seg-1");
    char big[2 * LG_ERRMSG_SIZE];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lg_errmsg_printf(msg, LG_EIO, "%s", big);
    cr_assert_eq(strlen(msg), LG_ERRMSG_SIZE - 1);
    lg_errmsg_wrap(msg, LG_EIO, "%s", big);
    cr_assert_eq(strlen(msg), LG_ERRMSG_SIZE - 1);
}
