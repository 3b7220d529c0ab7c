/* fuzz_gossip: the gossip packet decoders and the SWIM core's receive path on arbitrary
 * bytes (anything on the UDP gossip port; docs/discovery.md).
 *
 * The input is tried three ways: as a whole packet (lg_swim_envelope_decode: a random
 * packet almost never carries a valid tag, so this covers the envelope); as a body
 * (lg_swim_body_decode: every field bounded); and as a body wrapped under the core's key,
 * delivered to a live core (lg_swim_receive: records merged, answers sent to a no-op
 * network). Properties: never crash; a decoded body is within its bounds; every member
 * the core then holds has an id, a known state and a gossip address. Seeds in
 * corpus/gossip/ are bodies (ping, ack, ping_req, join, sync, leave, bad ones). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../discovery/swim.h"
#include "assert.h"
#include "err.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz-key";

static void no_send(void *arg, const char *address, const uint8_t *packet, size_t len)
{
    (void)arg;
    LG_ASSERT(address != NULL && address[0] != '\0');
    LG_ASSERT(packet != NULL && len > 0 && len <= LG_SWIM_PACKET_MAX);
}

static struct lg_swim *core(void)
{
    static struct lg_swim *s;
    if (s == NULL) {
        lg_log_setup(0, LG_LOG_ERROR);
        struct lg_swim_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.id = 1;
        cfg.cluster = "ledger";
        cfg.gossip_address = "127.0.0.1:7946";
        cfg.raft_address = "127.0.0.1:7001";
        cfg.client_address = "127.0.0.1:7002";
        cfg.version = "fuzz";
        cfg.key = key;
        cfg.key_len = sizeof key - 1u;
        cfg.probe_interval_ms = 1000;
        cfg.probe_timeout_ms = 500;
        cfg.indirect_probes = 3;
        cfg.suspicion_mult = 4;
        cfg.retransmit_mult = 4;
        cfg.sync_interval_ms = 30000;
        cfg.seed = 1;
        cfg.send = no_send;
        char errmsg[LG_ERRMSG_SIZE];
        LG_ASSERT(lg_swim_init(&s, &cfg, 0, errmsg) == LG_OK);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t now_ms;
    static struct lg_swim_msg msg;
    struct lg_swim *s = core();
    const uint8_t *body = NULL;
    size_t body_len = 0;
    enum lg_swim_drop d = lg_swim_envelope_decode(data, size, "ledger", key, sizeof key - 1u,
                                                  &body, &body_len);
    LG_ASSERT(d <= LG_SWIM_DROP_AUTH);
    LG_ASSERT(d != LG_SWIM_KEEP || (body != NULL && body_len < size));
    if (lg_swim_body_decode(data, size, &msg) == LG_OK) {
        LG_ASSERT(msg.type >= LG_SWIM_PING && msg.type <= LG_SWIM_LEAVE);
        LG_ASSERT(msg.from != 0 && msg.n_records <= LG_SWIM_RECORDS_MAX);
        for (uint32_t i = 0; i < msg.n_records; i++) {
            LG_ASSERT(msg.records[i].id != 0 && msg.records[i].gossip_address[0] != '\0');
            LG_ASSERT(msg.records[i].state >= LG_DISC_ALIVE &&
                      msg.records[i].state <= LG_DISC_LEFT);
        }
    }
    static uint8_t packet[LG_SWIM_PACKET_MAX];
    size_t len = lg_swim_envelope_encode(data, size, "ledger", key, sizeof key - 1u, packet,
                                         sizeof packet);
    if (len > 0) {
        now_ms += 100;
        lg_swim_receive(s, "127.0.0.1:9999", packet, len, now_ms);
        lg_swim_tick(s, now_ms);
        static struct lg_disc_member ms[LG_SWIM_MEMBERS_MAX];
        uint32_t n = lg_swim_members(s, ms, LG_SWIM_MEMBERS_MAX);
        LG_ASSERT(n >= 1 && n <= LG_SWIM_MEMBERS_MAX && ms[0].id == 1);
        for (uint32_t i = 0; i < n; i++) {
            LG_ASSERT(ms[i].id != 0 && ms[i].gossip_address[0] != '\0');
            LG_ASSERT(ms[i].state >= LG_DISC_ALIVE && ms[i].state <= LG_DISC_LEFT);
        }
    }
    return 0;
}
