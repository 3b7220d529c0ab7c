/* assert: always-on assertions for programmer errors (never for bytes from disk or network).
 *
 * LG_ASSERT stays on in release builds: a broken invariant in a ledger must stop the
 * process, not corrupt money. LG_DEBUG_ASSERT is for costly checks (re-hash a chain,
 * cross-check indexes) and is compiled only with -Ddebug_asserts=true. */
#ifndef LG_ASSERT_H
#define LG_ASSERT_H

_Noreturn void lg_assert_fail(const char *expr, const char *file, int line, const char *func);

#define LG_ASSERT(x)                                                   \
    do {                                                               \
        if (__builtin_expect(!(x), 0)) {                               \
            lg_assert_fail(#x, __FILE__, __LINE__, __func__);          \
        }                                                              \
    } while (0)

/* Contracts: precondition, postcondition, implication a => b. */
#define LG_PRE(x) LG_ASSERT(x)
#define LG_POST(x) LG_ASSERT(x)
#define LG_ERGO(a, b) LG_ASSERT(!(a) || (b))
#define LG_UNREACHABLE(why) lg_assert_fail("unreachable: " why, __FILE__, __LINE__, __func__)
#define LG_STATIC_ASSERT(x, msg) _Static_assert(x, msg)

#if defined(LG_DEBUG_ASSERTS) && LG_DEBUG_ASSERTS
#define LG_DEBUG_ASSERT(x) LG_ASSERT(x)
#else
#define LG_DEBUG_ASSERT(x) ((void)sizeof(x))
#endif

#endif /* LG_ASSERT_H */
