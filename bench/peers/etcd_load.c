/* etcd-load: one put per transfer against etcd 3.4's JSON gateway (bench/peers/etcd.sh).
 *
 *   etcd-load --endpoint HOST:PORT [--concurrency C] [--duration S] [--json]
 *
 * C threads, each with one keep-alive HTTP/1.1 connection to the endpoint (the leader),
 * send POST /v3/kv/put {"key": base64, "value": base64} one at a time (closed loop: C
 * puts in flight) for S seconds. The value is a transfer like the one ledger-node bench
 * sends (source, destination, amount, asset, reference: ~100 bytes). Prints puts/s and
 * latency p50/p99/p999/max. A benchmark, not a test. Plain sockets: the gateway speaks
 * HTTP/1.1 with Content-Length (chunked answers are refused with a message). */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THREADS_MAX 1024u
#define LAT_MAX (1u << 20)

struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t n;
    uint64_t *lat_us;
    uint64_t n_lat;
    int failed;
};

static const char *g_host;
static const char *g_port;
static uint64_t g_end_ns;
static atomic_int g_fail;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void b64(const char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        v |= i + 1 < n ? (uint32_t)(unsigned char)in[i + 1] << 8 : 0u;
        v |= i + 2 < n ? (uint32_t)(unsigned char)in[i + 2] : 0u;
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static int dial(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(g_host, g_port, &hints, &res) != 0) {
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

/* Read one HTTP response (Content-Length) into buf; returns its status or -1. */
static int read_response(int fd, char *buf, size_t size)
{
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len + 1 >= size) {
            return -1;
        }
        ssize_t r = read(fd, buf + len, size - len - 1u);
        if (r <= 0) {
            return -1;
        }
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "content-length:");
    if (cl == NULL || cl > end) {
        fprintf(stderr, "etcd-load: response without Content-Length\n");
        return -1;
    }
    size_t body = (size_t)strtoul(cl + 15, NULL, 10);
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < body) {
        char tmp[4096];
        size_t want = body - have < sizeof tmp ? body - have : sizeof tmp;
        ssize_t r = read(fd, tmp, want);
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
    }
    return status;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    int fd = dial();
    if (fd < 0) {
        w->failed = 1;
        return NULL;
    }
    char req[2048];
    char resp[8192];
    char key[96];
    char val[256];
    char kb[160];
    char vb[384];
    while (now_ns() < g_end_ns) {
        int kn = snprintf(key, sizeof key, "/transfers/%u-%llu", w->index,
                          (unsigned long long)w->n);
        int vn = snprintf(val, sizeof val,
                          "{\"source\":\"bench:%llu\",\"destination\":\"bench:%llu\","
                          "\"amount\":%llu,\"asset\":\"USD/2\",\"reference\":\"r-%u-%llu\"}",
                          (unsigned long long)(w->n * 7u % 10000u),
                          (unsigned long long)(w->n * 13u % 10000u),
                          (unsigned long long)(1u + w->n % 100u), w->index,
                          (unsigned long long)w->n);
        b64(key, (size_t)kn, kb);
        b64(val, (size_t)vn, vb);
        char body[640];
        int bn = snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
        int rn = snprintf(req, sizeof req,
                          "POST /v3/kv/put HTTP/1.1\r\nHost: %s:%s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                          g_host, g_port, bn, body);
        uint64_t t0 = now_ns();
        if (write(fd, req, (size_t)rn) != rn || read_response(fd, resp, sizeof resp) != 200) {
            w->failed = 1;
            atomic_fetch_add(&g_fail, 1);
            break;
        }
        if (w->n_lat < LAT_MAX) {
            w->lat_us[w->n_lat++] = (now_ns() - t0) / 1000u;
        }
        w->n++;
    }
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static char endpoint[256] = "127.0.0.1:2379";
    unsigned conc = 64;
    double secs = 10;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--endpoint") == 0) {
            snprintf(endpoint, sizeof endpoint, "%s", argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--concurrency") == 0) {
            conc = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--duration") == 0) {
            secs = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: etcd-load --endpoint HOST:PORT [--concurrency C] "
                            "[--duration S] [--json]\n");
            return 2;
        }
    }
    char *colon = strrchr(endpoint, ':');
    if (colon == NULL || conc == 0 || conc > THREADS_MAX) {
        fprintf(stderr, "etcd-load: bad --endpoint or --concurrency\n");
        return 2;
    }
    *colon = '\0';
    g_host = endpoint;
    g_port = colon + 1;
    static struct worker w[THREADS_MAX];
    uint64_t t0 = now_ns();
    g_end_ns = t0 + (uint64_t)(secs * 1e9);
    for (unsigned i = 0; i < conc; i++) {
        w[i].index = i;
        w[i].lat_us = malloc(LAT_MAX * sizeof *w[i].lat_us);
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    }
    uint64_t total = 0;
    for (unsigned i = 0; i < conc; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].n_lat;
    }
    double el = (double)(now_ns() - t0) / 1e9;
    uint64_t *all = malloc((total + 1u) * sizeof *all);
    uint64_t k = 0;
    for (unsigned i = 0; i < conc; i++) {
        memcpy(all + k, w[i].lat_us, w[i].n_lat * sizeof *all);
        k += w[i].n_lat;
        free(w[i].lat_us);
    }
    qsort(all, total, sizeof *all, cmp);
    double p50 = total ? (double)all[total / 2u] / 1000.0 : 0;
    double p99 = total ? (double)all[total * 99u / 100u] / 1000.0 : 0;
    double p999 = total ? (double)all[total * 999u / 1000u] / 1000.0 : 0;
    double mx = total ? (double)all[total - 1u] / 1000.0 : 0;
    free(all);
    if (json) {
        printf("{\"system\":\"etcd\",\"concurrency\":%u,\"seconds\":%.3f,\"puts\":%llu,"
               "\"puts_per_s\":%.1f,\"failed\":%d,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
               "\"p999\":%.3f,\"max\":%.3f}}\n",
               conc, el, (unsigned long long)total, (double)total / el, atomic_load(&g_fail),
               p50, p99, p999, mx);
    } else {
        printf("etcd: concurrency %u, %.2f s: %llu puts (%.0f/s), p50 %.3f ms p99 %.3f ms "
               "p999 %.3f ms max %.3f ms, failed connections %d\n",
               conc, el, (unsigned long long)total, (double)total / el, p50, p99, p999, mx,
               atomic_load(&g_fail));
    }
    return atomic_load(&g_fail) != 0 || total == 0;
}
