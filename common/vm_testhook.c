/*
 * vm_testhook.c - the test hooks of vm_testhook.h.
 */
#include "vm_testhook.h"
#include "vm_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

bool vm_test_point_listed(const char *list, const char *point)
{
    size_t n = point ? strlen(point) : 0;
    if (!list || n == 0)
        return false;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[0] == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len == n && memcmp(p, point, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

void vm_test_pause_at(const char *point)
{
    if (!vm_test_point_listed(getenv("VECMIG_TEST_PAUSE_AT"), point))
        return;
    vm_warn("test hook: paused at %s (VECMIG_TEST_PAUSE_AT)", point);
    for (int i = 0; i < 6000; i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    vm_warn("test hook: going on after 10 minutes at %s", point);
}

long vm_test_batch_delay_ms(void)
{
    const char *v = getenv("VECMIG_TEST_BATCH_DELAY_MS");
    if (!v || !*v)
        return 0;
    char *end;
    long ms = strtol(v, &end, 10);
    if (*end || ms < 0)
        return 0;
    return ms > 10000 ? 10000 : ms;
}

long vm_test_leader_lease_ms(void)
{
    const char *v = getenv("VECMIG_TEST_LEADER_LEASE_MS");
    if (!v || !*v)
        return 0;
    char *end;
    long ms = strtol(v, &end, 10);
    if (*end || ms < 1000 || ms > 600000)
        return 0;
    return ms;
}

const char *vm_test_leader_host(void)
{
    const char *v = getenv("VECMIG_TEST_LEADER_HOST");
    return v && *v ? v : NULL;
}
