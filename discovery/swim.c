/* swim: the SWIM membership protocol core (see swim.h; docs/discovery.md).
 *
 * SWIM: Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process
 * Group Membership Protocol" (DSN 2002): §3 the failure detector (ping, ping_req through
 * k members), §4.1 infection-style dissemination (piggybacked updates), §4.2 the
 * suspicion subprotocol with incarnation numbers, §4.3 round-robin probe selection. */
#include "swim.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/addr.h"
#include "../lib/assert.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/mpread.h"

/* Longest key copied (the binding bounds it too). */
#define SWIM_KEY_MAX 1024u
/* A record's largest encoding: array(7), two uint64, a state, three addresses, version. */
#define SWIM_RECORD_BYTES_MAX (1u + 9u + 9u + 1u + 3u * (3u + LG_ADDR_BYTES_MAX) + \
                               (2u + LG_DISC_VERSION_MAX))
/* Envelope bytes around a body, at most: array, version, cluster str8, bin16 head, tag. */
#define SWIM_ENVELOPE_BYTES_MAX (1u + 1u + 2u + LG_DISC_CLUSTER_MAX + 3u + \
                                 2u + LG_SWIM_TAG_BYTES)
#define SWIM_BODY_MAX (LG_SWIM_PACKET_MAX - SWIM_ENVELOPE_BYTES_MAX)

LG_STATIC_ASSERT(SWIM_RECORD_BYTES_MAX + 200u < SWIM_BODY_MAX,
                 "a packet holds at least one full record beside its header fields");
LG_STATIC_ASSERT(LG_SWIM_RECORDS_MAX <= LG_SWIM_MEMBERS_MAX, "records within the table");

struct swim_member {
    struct lg_disc_member m;
    uint64_t suspect_deadline_ms; /* state suspect: when it becomes dead here */
    uint64_t suspect_ping_ms;     /* state suspect: when to ping it next */
};

struct swim_relay {
    bool used;
    uint32_t seq;      /* our ping to the target */
    uint32_t orig_seq; /* the requester's ping_req */
    uint64_t expires_ms;
    char requester[LG_ADDR_BYTES_MAX];
};

struct swim_bcast {
    uint64_t id;        /* the member whose current record is disseminated */
    uint32_t transmits; /* times piggybacked so far */
};

struct lg_swim {
    struct lg_swim_config cfg; /* strings below are the core's own copies */
    char cluster[LG_DISC_CLUSTER_MAX + 1];
    uint8_t key[SWIM_KEY_MAX];
    size_t key_len;
    uint64_t rng;

    struct swim_member members[LG_SWIM_MEMBERS_MAX]; /* [0] is this node */
    uint32_t n_members;

    uint64_t order[LG_SWIM_MEMBERS_MAX]; /* probe order: ids, shuffled each round */
    uint32_t n_order;
    uint32_t order_pos;
    struct {
        bool active;
        bool acked;
        bool indirect_sent;
        uint64_t target;
        uint32_t seq;
        uint64_t start_ms;
    } probe;
    uint64_t next_probe_ms;
    uint32_t seq;

    struct swim_relay relays[LG_SWIM_RELAYS_MAX];
    struct swim_bcast bcast[LG_SWIM_MEMBERS_MAX];
    uint32_t n_bcast;

    char seeds[LG_SWIM_SEEDS_MAX][LG_ADDR_BYTES_MAX];
    uint32_t n_seeds;
    bool joined;
    uint64_t next_join_ms;
    uint64_t next_sync_ms;
    uint64_t last_tick_ms; /* 0: never ticked */
    bool left;

    struct lg_swim_stats stats;
    struct lg_swim_msg msg; /* decode scratch */
    uint8_t body[SWIM_BODY_MAX];
    uint8_t records[SWIM_BODY_MAX];
    uint8_t packet[LG_SWIM_PACKET_MAX];
};

/* ---- PRNG: splitmix64 ------------------------------------------------------------------ */

static uint64_t swim_rand(struct lg_swim *s)
{
    s->rng += 0x9e3779b97f4a7c15ull;
    uint64_t z = s->rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t swim_rand_below(struct lg_swim *s, uint32_t n)
{
    LG_PRE(n > 0);
    return (uint32_t)(swim_rand(s) % n);
}

/* ---- a bounded msgpack writer ------------------------------------------------------------ */

struct mpw {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool over; /* a write did not fit: the content is unusable */
};

static void w_bytes(struct mpw *w, const void *b, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    if (n > 0) {
        memcpy(w->p + w->len, b, n);
    }
    w->len += n;
}

static void w_head(struct mpw *w, uint8_t type, uint64_t v, unsigned n)
{
    uint8_t b[9];
    b[0] = type;
    for (unsigned i = 0; i < n; i++) {
        b[1u + i] = (uint8_t)(v >> (8u * (n - 1u - i)));
    }
    w_bytes(w, b, 1u + n);
}

static void w_uint(struct mpw *w, uint64_t v)
{
    if (v <= 0x7f) {
        w_head(w, (uint8_t)v, 0, 0);
    } else if (v <= UINT8_MAX) {
        w_head(w, 0xcc, v, 1);
    } else if (v <= UINT16_MAX) {
        w_head(w, 0xcd, v, 2);
    } else if (v <= UINT32_MAX) {
        w_head(w, 0xce, v, 4);
    } else {
        w_head(w, 0xcf, v, 8);
    }
}

static void w_str(struct mpw *w, const char *str, size_t n)
{
    if (n <= 31) {
        w_head(w, (uint8_t)(0xa0u | n), 0, 0);
    } else if (n <= UINT8_MAX) {
        w_head(w, 0xd9, n, 1);
    } else {
        w_head(w, 0xda, n, 2);
    }
    w_bytes(w, str, n);
}

static void w_cstr(struct mpw *w, const char *str)
{
    w_str(w, str, strlen(str));
}

static void w_bin(struct mpw *w, const uint8_t *b, size_t n)
{
    if (n <= UINT8_MAX) {
        w_head(w, 0xc4, n, 1);
    } else {
        w_head(w, 0xc5, n, 2);
    }
    w_bytes(w, b, n);
}

static void w_map(struct mpw *w, uint32_t n)
{
    LG_PRE(n <= 15);
    w_head(w, (uint8_t)(0x80u | n), 0, 0);
}

/* ---- envelope ------------------------------------------------------------------------------ */

static void swim_tag(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                     uint8_t tag[LG_SWIM_TAG_BYTES])
{
    /* Without a key the tag is computed under the empty key (docs/discovery.md): it still
     * catches corruption, and keyless nodes talk only to keyless nodes. */
    static const uint8_t empty[1] = {0};
    unsigned tag_len = 0;
    uint8_t *r = HMAC(EVP_sha256(), key_len > 0 ? key : empty, (int)key_len, data, len, tag,
                      &tag_len);
    LG_ASSERT(r != NULL);
    LG_ASSERT(tag_len == LG_SWIM_TAG_BYTES);
}

size_t lg_swim_envelope_encode(const uint8_t *body, size_t body_len, const char *cluster,
                               const uint8_t *key, size_t key_len, uint8_t *out,
                               size_t out_size)
{
    LG_PRE(out_size >= LG_SWIM_PACKET_MAX);
    struct mpw w = {out, 0, LG_SWIM_PACKET_MAX, false};
    w_head(&w, 0x94, 0, 0); /* fixarray of 4 */
    w_uint(&w, LG_SWIM_WIRE_VERSION);
    w_cstr(&w, cluster);
    if (body_len > UINT16_MAX) {
        return 0;
    }
    w_bin(&w, body, body_len);
    if (w.over) {
        return 0;
    }
    uint8_t tag[LG_SWIM_TAG_BYTES];
    swim_tag(key, key_len, out, w.len, tag);
    w_bin(&w, tag, sizeof tag);
    return w.over ? 0 : w.len;
}

enum lg_swim_drop lg_swim_envelope_decode(const uint8_t *packet, size_t len,
                                          const char *cluster, const uint8_t *key,
                                          size_t key_len, const uint8_t **body,
                                          size_t *body_len)
{
    if (packet == NULL || len == 0 || len > LG_SWIM_PACKET_MAX) {
        return LG_SWIM_DROP_MALFORMED;
    }
    struct lg_mpread r = {packet, packet + len};
    uint32_t n = 0;
    uint64_t version = 0;
    const char *name = NULL;
    uint32_t name_len = 0;
    const uint8_t *b = NULL;
    uint32_t b_len = 0;
    if (lg_mpread_array(&r, LG_MPREAD_ANY, &n) != LG_MPREAD_OK || n != 4 ||
        lg_mpread_uint(&r, LG_MPREAD_ANY, &version) != LG_MPREAD_OK ||
        version != LG_SWIM_WIRE_VERSION ||
        lg_mpread_str(&r, LG_MPREAD_ANY, &name, &name_len) != LG_MPREAD_OK ||
        name_len == 0 || name_len > LG_DISC_CLUSTER_MAX ||
        lg_mpread_bin(&r, LG_MPREAD_ANY, &b, &b_len) != LG_MPREAD_OK) {
        return LG_SWIM_DROP_MALFORMED;
    }
    size_t covered = (size_t)(r.p - packet);
    const uint8_t *tag = NULL;
    uint32_t tag_len = 0;
    if (lg_mpread_bin(&r, LG_MPREAD_ANY, &tag, &tag_len) != LG_MPREAD_OK ||
        tag_len != LG_SWIM_TAG_BYTES || r.p != r.end) {
        return LG_SWIM_DROP_MALFORMED;
    }
    if (strlen(cluster) != name_len || memcmp(cluster, name, name_len) != 0) {
        return LG_SWIM_DROP_CLUSTER;
    }
    uint8_t want[LG_SWIM_TAG_BYTES];
    swim_tag(key, key_len, packet, covered, want);
    if (CRYPTO_memcmp(want, tag, sizeof want) != 0) {
        return LG_SWIM_DROP_AUTH;
    }
    *body = b;
    *body_len = b_len;
    return LG_SWIM_KEEP;
}

/* ---- body codec -------------------------------------------------------------------------- */

static const char *const type_names[] = {"?", "ping", "ack", "ping_req", "join", "sync",
                                         "leave"};

const char *lg_swim_type_name(uint8_t type)
{
    return type >= 1 && type <= LG_SWIM_LEAVE ? type_names[type] : "?";
}

const char *lg_disc_state_name(uint8_t state)
{
    static const char *const names[] = {"?", "alive", "suspect", "dead", "left"};
    return state >= LG_DISC_ALIVE && state <= LG_DISC_LEFT ? names[state] : "?";
}

static bool key_is(const char *k, uint32_t k_len, const char *want)
{
    return strlen(want) == k_len && memcmp(k, want, k_len) == 0;
}

/* A string field into out (size out_size, NUL-terminated): no NUL inside, shorter than
 * out_size; address: empty, or HOST:PORT (nonempty: must not be empty). */
static bool read_text(struct lg_mpread *r, char *out, size_t out_size, bool address,
                      bool nonempty)
{
    const char *p = NULL;
    uint32_t n = 0;
    if (lg_mpread_str(r, LG_MPREAD_ANY, &p, &n) != LG_MPREAD_OK || n >= out_size ||
        (n > 0 && memchr(p, '\0', n) != NULL) || (nonempty && n == 0)) {
        return false;
    }
    if (n > 0) {
        memcpy(out, p, n);
    }
    out[n] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] == 0x7f) {
            return false;
        }
    }
    if (address && n > 0) {
        char host[LG_ADDR_BYTES_MAX];
        char port[8];
        return lg_addr_split(out, host, sizeof host, port, sizeof port, 0, NULL) == 0;
    }
    return true;
}

static bool read_record(struct lg_mpread *r, struct lg_swim_record *rec)
{
    uint32_t n = 0;
    uint64_t state = 0;
    if (lg_mpread_array(r, LG_MPREAD_ANY, &n) != LG_MPREAD_OK || n < 7 || n > 16 ||
        lg_mpread_uint(r, LG_MPREAD_ANY, &rec->id) != LG_MPREAD_OK || rec->id == 0 ||
        lg_mpread_uint(r, LG_MPREAD_ANY, &rec->incarnation) != LG_MPREAD_OK ||
        rec->incarnation > LG_SWIM_INCARNATION_MAX ||
        lg_mpread_uint(r, LG_MPREAD_ANY, &state) != LG_MPREAD_OK ||
        state < LG_DISC_ALIVE || state > LG_DISC_LEFT ||
        !read_text(r, rec->gossip_address, sizeof rec->gossip_address, true, true) ||
        !read_text(r, rec->raft_address, sizeof rec->raft_address, true, false) ||
        !read_text(r, rec->client_address, sizeof rec->client_address, true, false) ||
        !read_text(r, rec->version, sizeof rec->version, false, false)) {
        return false;
    }
    rec->state = (uint8_t)state;
    for (uint32_t i = 7; i < n; i++) { /* later versions may append fields */
        if (lg_mpread_skip(r, 4) != LG_MPREAD_OK) {
            return false;
        }
    }
    return true;
}

enum {
    F_TYPE = 1u << 0,
    F_FROM = 1u << 1,
    F_SEQ = 1u << 2,
    F_TARGET = 1u << 3,
    F_TADDR = 1u << 4,
    F_REPLY = 1u << 5,
    F_CHUNK = 1u << 6,
    F_UPDATES = 1u << 7,
};

static int read_field(struct lg_mpread *r, const char *k, uint32_t k_len,
                      struct lg_swim_msg *msg, unsigned *seen)
{
    static const char *const keys[] = {"type", "from", "seq", "target", "target_address",
                                       "reply", "chunk", "updates"};
    unsigned bit = 0;
    for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        bit = key_is(k, k_len, keys[i]) ? 1u << i : bit;
    }
    if (bit == 0) {
        return lg_mpread_skip(r, 4) == LG_MPREAD_OK ? LG_OK : LG_EBADREQ;
    }
    if ((*seen & bit) != 0) {
        return LG_EBADREQ; /* duplicate key */
    }
    *seen |= bit;
    uint64_t v = 0;
    const char *p = NULL;
    uint32_t n = 0;
    switch (bit) {
    case F_TYPE:
        if (lg_mpread_str(r, LG_MPREAD_ANY, &p, &n) != LG_MPREAD_OK) {
            return LG_EBADREQ;
        }
        for (uint8_t t = LG_SWIM_PING; t <= LG_SWIM_LEAVE; t++) {
            msg->type = key_is(p, n, type_names[t]) ? t : msg->type;
        }
        return msg->type != 0 ? LG_OK : LG_EBADREQ;
    case F_FROM:
        return lg_mpread_uint(r, LG_MPREAD_ANY, &msg->from) == LG_MPREAD_OK && msg->from != 0
                   ? LG_OK : LG_EBADREQ;
    case F_SEQ:
        if (lg_mpread_uint(r, LG_MPREAD_ANY, &v) != LG_MPREAD_OK || v > UINT32_MAX) {
            return LG_EBADREQ;
        }
        msg->seq = (uint32_t)v;
        return LG_OK;
    case F_TARGET:
        return lg_mpread_uint(r, LG_MPREAD_ANY, &msg->target) == LG_MPREAD_OK ? LG_OK
                                                                             : LG_EBADREQ;
    case F_TADDR:
        return read_text(r, msg->target_address, sizeof msg->target_address, true, true)
                   ? LG_OK : LG_EBADREQ;
    case F_REPLY:
        if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3)) {
            return LG_EBADREQ;
        }
        msg->reply = *r->p == 0xc3;
        r->p++;
        return LG_OK;
    case F_CHUNK:
        if (lg_mpread_uint(r, LG_MPREAD_ANY, &v) != LG_MPREAD_OK || v > UINT32_MAX) {
            return LG_EBADREQ;
        }
        msg->chunk = (uint32_t)v;
        return LG_OK;
    case F_UPDATES:
        if (lg_mpread_array(r, LG_MPREAD_ANY, &n) != LG_MPREAD_OK ||
            n > LG_SWIM_RECORDS_MAX) {
            return LG_EBADREQ;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (!read_record(r, &msg->records[i])) {
                return LG_EBADREQ;
            }
        }
        msg->n_records = n;
        return LG_OK;
    default:
        LG_UNREACHABLE("field bit");
    }
}

int lg_swim_body_decode(const uint8_t *body, size_t len, struct lg_swim_msg *msg)
{
    LG_PRE(msg != NULL);
    memset(msg, 0, offsetof(struct lg_swim_msg, records));
    msg->n_records = 0;
    if (body == NULL || len == 0 || len > LG_SWIM_PACKET_MAX) {
        return LG_EBADREQ;
    }
    struct lg_mpread r = {body, body + len};
    uint32_t n = 0;
    if (lg_mpread_map(&r, LG_MPREAD_ANY, &n) != LG_MPREAD_OK || n > 32) {
        return LG_EBADREQ;
    }
    unsigned seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *k = NULL;
        uint32_t k_len = 0;
        if (lg_mpread_str(&r, LG_MPREAD_ANY, &k, &k_len) != LG_MPREAD_OK ||
            read_field(&r, k, k_len, msg, &seen) != LG_OK) {
            return LG_EBADREQ;
        }
    }
    if (r.p != r.end || (seen & (F_TYPE | F_FROM)) != (F_TYPE | F_FROM)) {
        return LG_EBADREQ;
    }
    /* Fields each type needs. */
    unsigned need = 0;
    switch (msg->type) {
    case LG_SWIM_PING:
    case LG_SWIM_ACK:
        need = F_SEQ;
        break;
    case LG_SWIM_PING_REQ:
        need = F_SEQ | F_TARGET | F_TADDR;
        break;
    default:
        break;
    }
    return (seen & need) == need ? LG_OK : LG_EBADREQ;
}

/* ---- table --------------------------------------------------------------------------------- */

static struct swim_member *find(struct lg_swim *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->n_members; i++) {
        if (s->members[i].m.id == id) {
            return &s->members[i];
        }
    }
    return NULL;
}

static const struct swim_member *find_const(const struct lg_swim *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->n_members; i++) {
        if (s->members[i].m.id == id) {
            return &s->members[i];
        }
    }
    return NULL;
}

static struct swim_member *self(struct lg_swim *s)
{
    return &s->members[0];
}

static bool is_live(uint8_t state)
{
    return state == LG_DISC_ALIVE || state == LG_DISC_SUSPECT;
}

static uint32_t live_count(const struct lg_swim *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_members; i++) {
        n += is_live(s->members[i].m.state) ? 1u : 0u;
    }
    return n;
}

uint64_t lg_swim_suspicion_ms(unsigned suspicion_mult, unsigned probe_interval_ms, uint32_t n)
{
    double scale = n > 10 ? log10((double)n) : 1.0;
    return (uint64_t)((double)suspicion_mult * scale * (double)probe_interval_ms);
}

/* Piggyback budget: retransmit_mult * ceil(log10(n + 1)), i.e. times the digits of n. */
static uint32_t retransmit_limit(const struct lg_swim *s)
{
    uint32_t n = live_count(s);
    uint32_t digits = 1;
    for (uint32_t v = n; v >= 10; v /= 10) {
        digits++;
    }
    return s->cfg.retransmit_mult * digits;
}

static void emit(struct lg_swim *s, enum lg_disc_event ev, const struct swim_member *m)
{
    LG_PRE(m != &s->members[0]);
    if (s->cfg.event != NULL) {
        s->cfg.event(s->cfg.event_arg, ev, &m->m);
    }
}

static void enqueue(struct lg_swim *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->n_bcast; i++) {
        if (s->bcast[i].id == id) {
            s->bcast[i].transmits = 0;
            return;
        }
    }
    if (s->n_bcast == LG_SWIM_MEMBERS_MAX) {
        uint32_t worst = 0; /* replace the most transmitted */
        for (uint32_t i = 1; i < s->n_bcast; i++) {
            worst = s->bcast[i].transmits > s->bcast[worst].transmits ? i : worst;
        }
        s->bcast[worst] = (struct swim_bcast){id, 0};
        return;
    }
    s->bcast[s->n_bcast++] = (struct swim_bcast){id, 0};
}

static void dequeue(struct lg_swim *s, uint64_t id)
{
    for (uint32_t i = 0; i < s->n_bcast; i++) {
        if (s->bcast[i].id == id) {
            s->bcast[i] = s->bcast[--s->n_bcast];
            return;
        }
    }
}

static void copy_text(char *dst, size_t dst_size, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    LG_ASSERT(n < dst_size);
    if (n > 0) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

static void record_to_member(struct lg_swim *s, const struct lg_swim_record *rec,
                             struct lg_disc_member *m)
{
    m->id = rec->id;
    copy_text(m->cluster, sizeof m->cluster, s->cluster);
    copy_text(m->gossip_address, sizeof m->gossip_address, rec->gossip_address);
    copy_text(m->raft_address, sizeof m->raft_address, rec->raft_address);
    copy_text(m->client_address, sizeof m->client_address, rec->client_address);
    copy_text(m->version, sizeof m->version, rec->version);
    m->incarnation = rec->incarnation;
}

static bool meta_differs(const struct lg_disc_member *m, const struct lg_swim_record *rec)
{
    return strcmp(m->gossip_address, rec->gossip_address) != 0 ||
           strcmp(m->raft_address, rec->raft_address) != 0 ||
           strcmp(m->client_address, rec->client_address) != 0 ||
           strcmp(m->version, rec->version) != 0;
}

/* A slot for a new member: a free one, else the longest dead or left (NULL: none). */
static struct swim_member *add_slot(struct lg_swim *s)
{
    if (s->n_members < LG_SWIM_MEMBERS_MAX) {
        return &s->members[s->n_members++];
    }
    struct swim_member *oldest = NULL;
    for (uint32_t i = 1; i < s->n_members; i++) {
        struct swim_member *m = &s->members[i];
        if (!is_live(m->m.state) &&
            (oldest == NULL || m->m.state_since_ms < oldest->m.state_since_ms)) {
            oldest = m;
        }
    }
    if (oldest != NULL) {
        dequeue(s, oldest->m.id);
    }
    return oldest;
}

static void set_state(struct swim_member *m, uint8_t state, uint64_t now_ms)
{
    if (m->m.state != state) {
        m->m.state = state;
        m->m.state_since_ms = now_ms;
    }
}

/* inc + 1, but never past LG_SWIM_INCARNATION_MAX (records above it are refused). */
static uint64_t next_incarnation(uint64_t inc)
{
    return inc < LG_SWIM_INCARNATION_MAX ? inc + 1u : LG_SWIM_INCARNATION_MAX;
}

/* This node hears about itself: refute anything but alive at our incarnation (§4.2). */
static void apply_self(struct lg_swim *s, const struct lg_swim_record *rec)
{
    struct swim_member *me = self(s);
    if (s->left || rec->incarnation < me->m.incarnation) {
        return;
    }
    bool refute = rec->state != LG_DISC_ALIVE || rec->incarnation > me->m.incarnation ||
                  meta_differs(&me->m, rec);
    if (refute) {
        /* At the bound (only a forged record gets there) the refutation cannot win. */
        me->m.incarnation = next_incarnation(rec->incarnation);
        enqueue(s, me->m.id);
        lg_log(LG_LOG_INFO, "gossip_refute", "heard=%s incarnation=%llu",
               lg_disc_state_name(rec->state), (unsigned long long)me->m.incarnation);
    }
}

static void start_suspicion(struct lg_swim *s, struct swim_member *m, uint64_t now_ms)
{
    m->suspect_deadline_ms = now_ms + lg_swim_suspicion_ms(s->cfg.suspicion_mult,
                                                           s->cfg.probe_interval_ms,
                                                           live_count(s));
    m->suspect_ping_ms = now_ms;
}

/* A member first heard of as suspect, dead or left (this node started after it failed or
 * left): added in that state, since now, and reported by that state's event (no joined
 * before it). A suspect is probed and times out as any other; a dead or left one is not
 * probed. Its slot is taken as an alive newcomer's (a free one, else the longest dead or
 * left). */
static void add_unknown(struct lg_swim *s, const struct lg_swim_record *rec, uint8_t state,
                        uint64_t now_ms)
{
    struct swim_member *m = add_slot(s);
    if (m == NULL) {
        return;
    }
    memset(m, 0, sizeof *m);
    record_to_member(s, rec, &m->m);
    m->m.state = state;
    m->m.state_since_ms = now_ms;
    if (state == LG_DISC_SUSPECT) {
        start_suspicion(s, m, now_ms);
    }
    enqueue(s, m->m.id);
    enum lg_disc_event ev = LG_DISC_EV_LEFT;
    ev = state == LG_DISC_SUSPECT ? LG_DISC_EV_SUSPECT : ev;
    ev = state == LG_DISC_DEAD ? LG_DISC_EV_DEAD : ev;
    emit(s, ev, m);
}

/* Merge one record (§4.2 rules). from_sync: a push-pull state, where dead is taken as
 * suspect (this node checks for itself before declaring anyone dead). */
static void apply_record(struct lg_swim *s, const struct lg_swim_record *rec, bool from_sync,
                         uint64_t now_ms)
{
    if (rec->id == self(s)->m.id) {
        apply_self(s, rec);
        return;
    }
    uint8_t state = rec->state;
    if (from_sync && state == LG_DISC_DEAD) {
        state = LG_DISC_SUSPECT;
    }
    struct swim_member *m = find(s, rec->id);
    if (state == LG_DISC_ALIVE) {
        if (m == NULL) {
            m = add_slot(s);
            if (m == NULL) {
                return;
            }
            memset(m, 0, sizeof *m);
            record_to_member(s, rec, &m->m);
            m->m.state = LG_DISC_ALIVE;
            m->m.state_since_ms = now_ms;
            enqueue(s, m->m.id);
            emit(s, LG_DISC_EV_JOINED, m);
            return;
        }
        if (rec->incarnation <= m->m.incarnation) {
            return;
        }
        bool changed = meta_differs(&m->m, rec) || m->m.state != LG_DISC_ALIVE;
        record_to_member(s, rec, &m->m);
        set_state(m, LG_DISC_ALIVE, now_ms);
        enqueue(s, m->m.id);
        if (changed) {
            emit(s, LG_DISC_EV_UPDATED, m);
        }
        return;
    }
    if (m == NULL) {
        add_unknown(s, rec, state, now_ms);
        return;
    }
    if (rec->incarnation < m->m.incarnation || m->m.state == LG_DISC_LEFT) {
        return;
    }
    if (state == LG_DISC_SUSPECT) {
        if (m->m.state == LG_DISC_DEAD ||
            (m->m.state == LG_DISC_SUSPECT && rec->incarnation == m->m.incarnation)) {
            return;
        }
        m->m.incarnation = rec->incarnation;
        set_state(m, LG_DISC_SUSPECT, now_ms);
        start_suspicion(s, m, now_ms);
        enqueue(s, m->m.id);
        emit(s, LG_DISC_EV_SUSPECT, m);
        return;
    }
    if (state == LG_DISC_DEAD && m->m.state == LG_DISC_DEAD) {
        return;
    }
    m->m.incarnation = rec->incarnation;
    set_state(m, state, now_ms);
    enqueue(s, m->m.id);
    emit(s, state == LG_DISC_DEAD ? LG_DISC_EV_DEAD : LG_DISC_EV_LEFT, m);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void encode_record(struct mpw *w, const struct lg_disc_member *m)
{
    w_head(w, 0x97, 0, 0); /* fixarray of 7 */
    w_uint(w, m->id);
    w_uint(w, m->incarnation);
    w_uint(w, m->state);
    w_cstr(w, m->gossip_address);
    w_cstr(w, m->raft_address);
    w_cstr(w, m->client_address);
    w_cstr(w, m->version);
}

/* Append one member's record to w if it fits; true when it did. */
static bool add_record(struct mpw *w, const struct lg_disc_member *m)
{
    size_t mark = w->len;
    encode_record(w, m);
    if (w->over) {
        w->over = false;
        w->len = mark;
        return false;
    }
    return true;
}

struct out_msg {
    uint8_t type;
    uint32_t seq;
    uint64_t target;
    const char *target_address;
    bool reply;
    uint32_t chunk;
};

/* Fill w with the piggybacked updates (fewest transmits first) and this node's record,
 * as many as fit; returns their count. */
static uint32_t piggyback(struct lg_swim *s, struct mpw *w)
{
    /* Insertion sort by transmits: the queue holds at most a table's worth. */
    for (uint32_t i = 1; i < s->n_bcast; i++) {
        struct swim_bcast b = s->bcast[i];
        uint32_t j = i;
        while (j > 0 && s->bcast[j - 1].transmits > b.transmits) {
            s->bcast[j] = s->bcast[j - 1];
            j--;
        }
        s->bcast[j] = b;
    }
    uint32_t limit = retransmit_limit(s);
    uint32_t n = 0;
    bool with_self = false;
    for (uint32_t i = 0; i < s->n_bcast && n < LG_SWIM_RECORDS_MAX; i++) {
        const struct swim_member *m = find(s, s->bcast[i].id);
        if (m != NULL && add_record(w, &m->m)) {
            s->bcast[i].transmits++;
            n++;
            with_self = with_self || m == self(s);
        }
    }
    /* Then this node's own record, whenever it fits (nearly always: it is left out only
     * when records of the longest names fill the packet): a member that missed our join
     * (the update's budget spent before it knew us) learns of us from our packets. */
    if (!with_self && n < LG_SWIM_RECORDS_MAX && add_record(w, &self(s)->m)) {
        n++;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->n_bcast; i++) {
        if (s->bcast[i].transmits < limit && find(s, s->bcast[i].id) != NULL) {
            s->bcast[kept++] = s->bcast[i];
        }
    }
    s->n_bcast = kept;
    return n;
}

/* Build and send one packet: header fields of o, then records (already in s->records,
 * n of them, rec_len bytes). */
static void send_packet(struct lg_swim *s, const char *to, const struct out_msg *o,
                        uint32_t n_records, size_t rec_len)
{
    struct mpw w = {s->body, 0, sizeof s->body, false};
    uint32_t fields = 3; /* type, from, updates */
    fields += o->type == LG_SWIM_PING || o->type == LG_SWIM_ACK ? 1u : 0u;
    fields += o->type == LG_SWIM_PING ? 1u : 0u;
    fields += o->type == LG_SWIM_PING_REQ ? 3u : 0u;
    fields += o->type == LG_SWIM_JOIN || o->type == LG_SWIM_SYNC ? 2u : 0u;
    w_map(&w, fields);
    w_cstr(&w, "type");
    w_cstr(&w, lg_swim_type_name(o->type));
    w_cstr(&w, "from");
    w_uint(&w, self(s)->m.id);
    if (o->type == LG_SWIM_PING || o->type == LG_SWIM_ACK || o->type == LG_SWIM_PING_REQ) {
        w_cstr(&w, "seq");
        w_uint(&w, o->seq);
    }
    if (o->type == LG_SWIM_PING || o->type == LG_SWIM_PING_REQ) {
        w_cstr(&w, "target");
        w_uint(&w, o->target);
    }
    if (o->type == LG_SWIM_PING_REQ) {
        w_cstr(&w, "target_address");
        w_cstr(&w, o->target_address);
    }
    if (o->type == LG_SWIM_JOIN || o->type == LG_SWIM_SYNC) {
        w_cstr(&w, "reply");
        w_head(&w, o->reply ? 0xc3 : 0xc2, 0, 0);
        w_cstr(&w, "chunk");
        w_uint(&w, o->chunk);
    }
    w_cstr(&w, "updates");
    w_head(&w, 0xdc, n_records, 2); /* array 16 */
    w_bytes(&w, s->records, rec_len);
    LG_ASSERT(!w.over);
    size_t len = lg_swim_envelope_encode(s->body, w.len, s->cluster, s->key, s->key_len,
                                         s->packet, sizeof s->packet);
    LG_ASSERT(len > 0);
    s->stats.packets_sent++;
    s->cfg.send(s->cfg.send_arg, to, s->packet, len);
}

/* An upper bound of a body's fields before the records: map, type, from, seq, target,
 * target_address (its str 16 head), reply, chunk, the updates' array head; under 100 bytes
 * beside the address. The room left is for records. */
#define SWIM_HEADER_BYTES_MAX (128u + LG_ADDR_BYTES_MAX)
LG_STATIC_ASSERT(SWIM_HEADER_BYTES_MAX + SWIM_RECORD_BYTES_MAX < SWIM_BODY_MAX,
                 "room for one record after the header");

static void send_msg(struct lg_swim *s, const char *to, const struct out_msg *o)
{
    struct mpw w = {s->records, 0, SWIM_BODY_MAX - SWIM_HEADER_BYTES_MAX, false};
    uint32_t n = piggyback(s, &w);
    send_packet(s, to, o, n, w.len);
}

/* The full state (join, sync), in as many packets as it takes. */
static void send_full(struct lg_swim *s, const char *to, uint8_t type, bool reply)
{
    uint32_t i = 0;
    for (uint32_t chunk = 0; chunk < LG_SWIM_MEMBERS_MAX && i < s->n_members; chunk++) {
        struct mpw w = {s->records, 0, SWIM_BODY_MAX - SWIM_HEADER_BYTES_MAX, false};
        uint32_t n = 0;
        while (i < s->n_members && n < LG_SWIM_RECORDS_MAX &&
               add_record(&w, &s->members[i].m)) {
            i++;
            n++;
        }
        LG_ASSERT(n > 0);
        struct out_msg o = {.type = type, .reply = reply, .chunk = chunk};
        send_packet(s, to, &o, n, w.len);
    }
}

/* ---- public ------------------------------------------------------------------------------- */

static bool cluster_ok(const char *c)
{
    size_t n = c != NULL ? strlen(c) : 0;
    if (n == 0 || n > LG_DISC_CLUSTER_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool address_ok(const char *a, bool nonempty)
{
    if (a == NULL || a[0] == '\0') {
        return !nonempty;
    }
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    return strlen(a) < LG_ADDR_BYTES_MAX &&
           lg_addr_split(a, host, sizeof host, port, sizeof port, 0, NULL) == 0;
}

int lg_swim_init(struct lg_swim **out, const struct lg_swim_config *cfg, uint64_t now_ms,
                 char *errmsg)
{
    LG_PRE(out != NULL && cfg != NULL);
    *out = NULL;
    const char *bad = NULL;
    if (cfg->id == 0) {
        bad = "id must be >= 1";
    } else if (!cluster_ok(cfg->cluster)) {
        bad = "cluster name must be 1..63 of [A-Za-z0-9._-]";
    } else if (!address_ok(cfg->gossip_address, true)) {
        bad = "gossip address must be HOST:PORT";
    } else if (!address_ok(cfg->raft_address, false) ||
               !address_ok(cfg->client_address, false)) {
        bad = "raft and client addresses must be HOST:PORT";
    } else if (cfg->version != NULL && strlen(cfg->version) > LG_DISC_VERSION_MAX) {
        bad = "version too long";
    } else if (cfg->key_len > SWIM_KEY_MAX || (cfg->key == NULL && cfg->key_len != 0)) {
        bad = "key longer than 1024 bytes";
    } else if (cfg->probe_interval_ms == 0 || cfg->probe_timeout_ms == 0 ||
               cfg->probe_timeout_ms >= cfg->probe_interval_ms) {
        bad = "probe timeout must be >= 1 ms and below the probe interval";
    } else if (cfg->indirect_probes > LG_SWIM_INDIRECT_MAX) {
        bad = "indirect probes must be 0..8";
    } else if (cfg->suspicion_mult == 0 || cfg->retransmit_mult == 0 ||
               cfg->sync_interval_ms == 0) {
        bad = "suspicion and retransmit multipliers, sync interval must be >= 1";
    } else if (cfg->send == NULL) {
        bad = "no send callback";
    }
    if (bad != NULL) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "gossip: %s", bad);
    }
    struct lg_swim *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "gossip: out of memory");
    }
    s->cfg = *cfg;
    copy_text(s->cluster, sizeof s->cluster, cfg->cluster);
    if (cfg->key_len > 0) {
        memcpy(s->key, cfg->key, cfg->key_len);
    }
    s->key_len = cfg->key_len;
    s->cfg.cluster = s->cluster;
    s->cfg.key = s->key;
    s->rng = cfg->seed;
    struct lg_disc_member *me = &s->members[0].m;
    me->id = cfg->id;
    copy_text(me->cluster, sizeof me->cluster, s->cluster);
    copy_text(me->gossip_address, sizeof me->gossip_address, cfg->gossip_address);
    copy_text(me->raft_address, sizeof me->raft_address, cfg->raft_address);
    copy_text(me->client_address, sizeof me->client_address, cfg->client_address);
    copy_text(me->version, sizeof me->version, cfg->version);
    me->state = LG_DISC_ALIVE;
    me->state_since_ms = now_ms;
    s->n_members = 1;
    s->cfg.gossip_address = me->gossip_address;
    s->cfg.raft_address = me->raft_address;
    s->cfg.client_address = me->client_address;
    s->cfg.version = me->version;
    /* Spread the first probe over an interval so nodes started together do not probe in
     * lockstep. */
    s->next_probe_ms = now_ms + swim_rand_below(s, cfg->probe_interval_ms);
    s->next_sync_ms = now_ms + cfg->sync_interval_ms;
    *out = s;
    return LG_OK;
}

void lg_swim_free(struct lg_swim *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s->key, sizeof s->key);
        free(s);
    }
}

unsigned lg_swim_tick_ms(const struct lg_swim *s)
{
    unsigned t = s->cfg.probe_timeout_ms / 10u;
    return t > 0 ? t : 1u;
}

static void send_join(struct lg_swim *s, uint64_t now_ms)
{
    for (uint32_t i = 0; i < s->n_seeds; i++) {
        send_full(s, s->seeds[i], LG_SWIM_JOIN, false);
    }
    s->next_join_ms = now_ms + s->cfg.probe_interval_ms;
}

int lg_swim_join(struct lg_swim *s, const char *const *seeds, uint32_t n_seeds,
                 uint64_t now_ms)
{
    if (n_seeds > LG_SWIM_SEEDS_MAX) {
        return LG_EINVAL;
    }
    for (uint32_t i = 0; i < n_seeds; i++) {
        if (!address_ok(seeds[i], true)) {
            return LG_EINVAL;
        }
    }
    for (uint32_t i = 0; i < n_seeds; i++) {
        copy_text(s->seeds[i], sizeof s->seeds[i], seeds[i]);
    }
    s->n_seeds = n_seeds;
    s->joined = false;
    if (n_seeds > 0 && !s->left) {
        send_join(s, now_ms);
    }
    return LG_OK;
}

/* The next member to probe: round-robin over a shuffled list, reshuffled each round
 * (§4.3); 0 when there is none. */
static uint64_t next_target(struct lg_swim *s)
{
    for (uint32_t tries = 0; tries < 2u * LG_SWIM_MEMBERS_MAX + 2u; tries++) {
        if (s->order_pos >= s->n_order) {
            s->n_order = 0;
            for (uint32_t i = 1; i < s->n_members; i++) {
                if (is_live(s->members[i].m.state)) {
                    s->order[s->n_order++] = s->members[i].m.id;
                }
            }
            for (uint32_t i = s->n_order; i > 1; i--) { /* Fisher-Yates */
                uint32_t j = swim_rand_below(s, i);
                uint64_t t = s->order[i - 1u];
                s->order[i - 1u] = s->order[j];
                s->order[j] = t;
            }
            s->order_pos = 0;
            if (s->n_order == 0) {
                return 0;
            }
        }
        uint64_t id = s->order[s->order_pos++];
        const struct swim_member *m = find(s, id);
        if (m != NULL && is_live(m->m.state)) {
            return id;
        }
    }
    return 0;
}

static void send_indirect(struct lg_swim *s, const struct swim_member *target)
{
    uint32_t cand[LG_SWIM_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 1; i < s->n_members; i++) {
        if (s->members[i].m.state == LG_DISC_ALIVE && s->members[i].m.id != target->m.id) {
            cand[n++] = i;
        }
    }
    for (uint32_t k = 0; k < s->cfg.indirect_probes && n > 0; k++) {
        uint32_t j = swim_rand_below(s, n);
        const struct swim_member *via = &s->members[cand[j]];
        cand[j] = cand[--n];
        struct out_msg o = {.type = LG_SWIM_PING_REQ, .seq = s->probe.seq,
                            .target = target->m.id,
                            .target_address = target->m.gossip_address};
        send_msg(s, via->m.gossip_address, &o);
    }
}

static void tick_probe(struct lg_swim *s, uint64_t now_ms)
{
    if (s->probe.active) {
        struct swim_member *m = find(s, s->probe.target);
        if (m == NULL || !is_live(m->m.state)) {
            s->probe.active = false;
        } else if (!s->probe.acked && !s->probe.indirect_sent &&
                   now_ms >= s->probe.start_ms + s->cfg.probe_timeout_ms) {
            s->probe.indirect_sent = true;
            send_indirect(s, m);
        }
        if (s->probe.active && now_ms >= s->probe.start_ms + s->cfg.probe_interval_ms) {
            s->probe.active = false;
            if (!s->probe.acked && m->m.state == LG_DISC_ALIVE) {
                struct lg_swim_record rec;
                memset(&rec, 0, sizeof rec);
                rec.id = m->m.id;
                rec.incarnation = m->m.incarnation;
                rec.state = LG_DISC_SUSPECT;
                apply_record(s, &rec, false, now_ms);
            }
        }
    }
    if (!s->probe.active && now_ms >= s->next_probe_ms) {
        s->next_probe_ms = now_ms + s->cfg.probe_interval_ms;
        uint64_t id = next_target(s);
        const struct swim_member *m = id != 0 ? find(s, id) : NULL;
        if (m != NULL) {
            s->seq = s->seq == UINT32_MAX ? 1u : s->seq + 1u; /* 0: untracked pings */
            s->probe.active = true;
            s->probe.acked = false;
            s->probe.indirect_sent = false;
            s->probe.target = id;
            s->probe.seq = s->seq;
            s->probe.start_ms = now_ms;
            struct out_msg o = {.type = LG_SWIM_PING, .seq = s->seq, .target = id};
            send_msg(s, m->m.gossip_address, &o);
        }
    }
}

/* This node did not run for a while (SIGSTOP, a long GC or swap, a suspended VM): the
 * answers to its probe may be waiting unread, and its suspicion timers ran while nobody
 * could refute to it. Abandon the probe rather than suspect its target, and give every
 * suspect the time lost. */
static void after_stall(struct lg_swim *s, uint64_t gap_ms)
{
    s->probe.active = false;
    for (uint32_t i = 1; i < s->n_members; i++) {
        if (s->members[i].m.state == LG_DISC_SUSPECT) {
            s->members[i].suspect_deadline_ms += gap_ms;
        }
    }
    lg_log(LG_LOG_WARN, "gossip_stall", "gap_ms=%llu action=\"probe abandoned, suspicion "
           "timers extended\"", (unsigned long long)gap_ms);
}

void lg_swim_tick(struct lg_swim *s, uint64_t now_ms)
{
    if (s->left) {
        return;
    }
    if (s->last_tick_ms != 0 && now_ms > s->last_tick_ms + s->cfg.probe_interval_ms) {
        after_stall(s, now_ms - s->last_tick_ms);
    }
    s->last_tick_ms = now_ms;
    tick_probe(s, now_ms);
    for (uint32_t i = 1; i < s->n_members; i++) {
        struct swim_member *m = &s->members[i];
        if (m->m.state != LG_DISC_SUSPECT) {
            continue;
        }
        if (now_ms >= m->suspect_deadline_ms) {
            set_state(m, LG_DISC_DEAD, now_ms);
            enqueue(s, m->m.id);
            emit(s, LG_DISC_EV_DEAD, m);
        } else if (now_ms >= m->suspect_ping_ms) {
            /* A suspect is pinged every probe timeout, outside the probe cycle: the ping
             * tells it it is suspected (its record is in our updates), and its ack carries
             * its refutation (every packet holds its sender's record). An ack to seq 0
             * matches no probe. */
            m->suspect_ping_ms = now_ms + s->cfg.probe_timeout_ms;
            struct out_msg o = {.type = LG_SWIM_PING, .seq = 0, .target = m->m.id};
            send_msg(s, m->m.gossip_address, &o);
        }
    }
    for (uint32_t i = 0; i < LG_SWIM_RELAYS_MAX; i++) {
        s->relays[i].used = s->relays[i].used && now_ms < s->relays[i].expires_ms;
    }
    if (s->n_seeds > 0 && now_ms >= s->next_join_ms && (!s->joined || live_count(s) <= 1)) {
        send_join(s, now_ms);
    }
    if (now_ms >= s->next_sync_ms) {
        s->next_sync_ms = now_ms + s->cfg.sync_interval_ms;
        uint32_t cand[LG_SWIM_MEMBERS_MAX];
        uint32_t n = 0;
        for (uint32_t i = 1; i < s->n_members; i++) {
            if (s->members[i].m.state != LG_DISC_LEFT) {
                cand[n++] = i;
            }
        }
        if (n > 0) {
            const struct swim_member *m = &s->members[cand[swim_rand_below(s, n)]];
            send_full(s, m->m.gossip_address, LG_SWIM_SYNC, false);
        }
    }
}

static void on_ack(struct lg_swim *s, const struct lg_swim_msg *msg)
{
    if (s->probe.active && msg->seq == s->probe.seq) {
        s->probe.acked = true;
        return;
    }
    for (uint32_t i = 0; i < LG_SWIM_RELAYS_MAX; i++) {
        struct swim_relay *r = &s->relays[i];
        if (r->used && r->seq == msg->seq) {
            r->used = false;
            struct out_msg o = {.type = LG_SWIM_ACK, .seq = r->orig_seq};
            send_msg(s, r->requester, &o);
            return;
        }
    }
}

static void on_ping_req(struct lg_swim *s, const char *from, const struct lg_swim_msg *msg,
                        uint64_t now_ms)
{
    uint32_t slot = 0;
    for (uint32_t i = 0; i < LG_SWIM_RELAYS_MAX; i++) {
        if (!s->relays[i].used) {
            slot = i;
            break;
        }
        slot = s->relays[i].expires_ms < s->relays[slot].expires_ms ? i : slot;
    }
    if (strlen(from) >= sizeof s->relays[slot].requester) {
        return;
    }
    struct swim_relay *r = &s->relays[slot];
    s->seq = s->seq == UINT32_MAX ? 1u : s->seq + 1u;
    r->used = true;
    r->seq = s->seq;
    r->orig_seq = msg->seq;
    r->expires_ms = now_ms + s->cfg.probe_interval_ms;
    copy_text(r->requester, sizeof r->requester, from);
    struct out_msg o = {.type = LG_SWIM_PING, .seq = r->seq, .target = msg->target};
    send_msg(s, msg->target_address, &o);
}

void lg_swim_receive(struct lg_swim *s, const char *from, const uint8_t *packet, size_t len,
                     uint64_t now_ms)
{
    if (s->left || from == NULL) {
        return;
    }
    const uint8_t *body = NULL;
    size_t body_len = 0;
    switch (lg_swim_envelope_decode(packet, len, s->cluster, s->key, s->key_len, &body,
                                    &body_len)) {
    case LG_SWIM_KEEP:
        break;
    case LG_SWIM_DROP_CLUSTER:
        s->stats.dropped_cluster++;
        return;
    case LG_SWIM_DROP_AUTH:
        s->stats.dropped_auth++;
        return;
    case LG_SWIM_DROP_MALFORMED:
    default:
        s->stats.dropped_malformed++;
        return;
    }
    struct lg_swim_msg *msg = &s->msg;
    if (lg_swim_body_decode(body, body_len, msg) != LG_OK) {
        s->stats.dropped_malformed++;
        return;
    }
    s->stats.packets_received++;
    if (msg->from == self(s)->m.id) {
        return; /* our own join to a seed that is ourselves */
    }
    /* A sender we hold suspect or dead hears so in our next packets, and refutes. */
    const struct swim_member *sender = find(s, msg->from);
    if (sender != NULL && sender->m.state != LG_DISC_ALIVE) {
        enqueue(s, sender->m.id);
    }
    bool full = msg->type == LG_SWIM_JOIN || msg->type == LG_SWIM_SYNC;
    for (uint32_t i = 0; i < msg->n_records; i++) {
        apply_record(s, &msg->records[i], full, now_ms);
    }
    switch (msg->type) {
    case LG_SWIM_PING:
        if (msg->target == 0 || msg->target == self(s)->m.id) {
            struct out_msg o = {.type = LG_SWIM_ACK, .seq = msg->seq};
            send_msg(s, from, &o);
        }
        break;
    case LG_SWIM_ACK:
        on_ack(s, msg);
        break;
    case LG_SWIM_PING_REQ:
        if (msg->target != self(s)->m.id) {
            on_ping_req(s, from, msg, now_ms);
        }
        break;
    case LG_SWIM_JOIN:
        if (msg->chunk == 0) {
            send_full(s, from, LG_SWIM_SYNC, true);
        }
        break;
    case LG_SWIM_SYNC:
        if (msg->reply) {
            if (!s->joined && s->n_seeds > 0) {
                /* Members that joined after our seed answered reach us by gossip, whose
                 * budget may be spent on others while few know us: one more push-pull,
                 * with a random member, two probe intervals after joining. */
                uint64_t soon = now_ms + 2u * (uint64_t)s->cfg.probe_interval_ms;
                s->next_sync_ms = soon < s->next_sync_ms ? soon : s->next_sync_ms;
            }
            s->joined = true;
        } else if (msg->chunk == 0) {
            send_full(s, from, LG_SWIM_SYNC, true);
        }
        break;
    default:
        break;
    }
}

void lg_swim_leave(struct lg_swim *s, uint64_t now_ms)
{
    (void)now_ms;
    if (s->left) {
        return;
    }
    struct swim_member *me = self(s);
    me->m.incarnation = next_incarnation(me->m.incarnation);
    me->m.state = LG_DISC_LEFT;
    me->m.state_since_ms = now_ms;
    s->left = true;
    struct mpw w = {s->records, 0, SWIM_BODY_MAX - SWIM_HEADER_BYTES_MAX, false};
    LG_ASSERT(add_record(&w, &me->m));
    size_t rec_len = w.len;
    struct out_msg o = {.type = LG_SWIM_LEAVE};
    for (uint32_t i = 1; i < s->n_members; i++) {
        if (is_live(s->members[i].m.state)) {
            /* send_packet reuses s->records: they hold our record, rebuilt unchanged. */
            send_packet(s, s->members[i].m.gossip_address, &o, 1, rec_len);
        }
    }
}

int lg_swim_set_client_address(struct lg_swim *s, const char *client_address,
                               uint64_t now_ms)
{
    (void)now_ms;
    if (!address_ok(client_address, false)) {
        return LG_EINVAL;
    }
    struct swim_member *me = self(s);
    copy_text(me->m.client_address, sizeof me->m.client_address, client_address);
    me->m.incarnation = next_incarnation(me->m.incarnation);
    enqueue(s, me->m.id);
    return LG_OK;
}

uint32_t lg_swim_members(const struct lg_swim *s, struct lg_disc_member *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_members && n < max; i++) {
        struct lg_disc_member m = s->members[i].m;
        uint32_t j = n;
        while (i > 0 && j > 1 && out[j - 1].id > m.id) { /* out[0] stays this node */
            out[j] = out[j - 1];
            j--;
        }
        out[j] = m;
        n++;
    }
    return n;
}

bool lg_swim_member(const struct lg_swim *s, uint64_t id, struct lg_disc_member *out)
{
    const struct swim_member *m = find_const(s, id);
    if (m != NULL) {
        *out = m->m;
    }
    return m != NULL;
}

void lg_swim_stats(const struct lg_swim *s, struct lg_swim_stats *out)
{
    *out = s->stats;
    out->alive = out->suspect = out->dead = out->left = 0;
    for (uint32_t i = 0; i < s->n_members; i++) {
        switch (s->members[i].m.state) {
        case LG_DISC_ALIVE:
            out->alive++;
            break;
        case LG_DISC_SUSPECT:
            out->suspect++;
            break;
        case LG_DISC_DEAD:
            out->dead++;
            break;
        default:
            out->left++;
            break;
        }
    }
}
