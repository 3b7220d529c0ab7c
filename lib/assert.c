/* assert: the failure handler; prints the expression and a backtrace, then aborts. */
#include "assert.h"

#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

_Noreturn void lg_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    void *frames[32];
    fprintf(stderr, "ledger-node: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    fflush(stderr);
    int n = backtrace(frames, 32);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    abort();
}
