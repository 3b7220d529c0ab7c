#!/bin/sh
# entrypoint: start `ledger-node serve` in a StatefulSet pod (deploy/README.md).
#
# The pod's ordinal (HOSTNAME ledger-N) gives the Raft id N + 1. Pods 0 .. VOTERS-1 are
# the initial voters: they all get the same --initial-cluster naming the stable DNS names
# ledger-N.<headless service>; pods added by scaling up get no --initial-cluster and are
# added by the leader (spare -> standby -> voter). Every pod gets --join with the initial
# pods' gossip addresses (its own left out): without seeds a node has nobody to gossip
# with. Every other flag comes from the LEDGER_* environment that `ledger-node serve`
# reads itself (docs/cli.md).
#
# Environment (set by deploy/k8s/statefulset.yaml):
#   LEDGER_PEER_SERVICE   headless Service name (DNS: <pod>.<service>)
#   LEDGER_INITIAL_VOTERS how many pods bootstrap the cluster (3 or 5)
#   LEDGER_RAFT_PORT, LEDGER_GOSSIP_PORT, LEDGER_CLIENT_PORT
#   LEDGER_KEY_SECRET     the cluster key as mounted from the Secret (copied to a 0600 file)
#   POD_IP                the pod's IP (downward API): we wait until our name resolves to it
#   LEDGER_ENTRYPOINT_DRY_RUN=1  print the command instead of running it (tests)
set -eu

fail() {
    echo "entrypoint: $*" >&2
    exit 2
}

host=${HOSTNAME:?HOSTNAME is not set}
ordinal=${host##*-}
case "$ordinal" in
'' | *[!0-9]*) fail "HOSTNAME '$host' does not end in -<ordinal>" ;;
esac
prefix=${host%-*}
service=${LEDGER_PEER_SERVICE:?LEDGER_PEER_SERVICE is not set}
voters=${LEDGER_INITIAL_VOTERS:-3}
raft_port=${LEDGER_RAFT_PORT:-7001}
gossip_port=${LEDGER_GOSSIP_PORT:-7002}
client_port=${LEDGER_CLIENT_PORT:-7000}
case "$voters" in
3 | 5) ;;
*) fail "LEDGER_INITIAL_VOTERS must be 3 or 5, got '$voters'" ;;
esac

id=$((ordinal + 1))
self="$host.$service"

set -- serve --id "$id" \
    --raft "$self:$raft_port" \
    --gossip "$self:$gossip_port" \
    --client "0.0.0.0:$client_port" \
    --advertise-client "$self:$client_port"

if [ "$ordinal" -lt "$voters" ]; then
    list=""
    i=0
    while [ "$i" -lt "$voters" ]; do
        list="$list${list:+,}$((i + 1))=$prefix-$i.$service:$raft_port"
        i=$((i + 1))
    done
    set -- "$@" --initial-cluster "$list"
fi
i=0
while [ "$i" -lt "$voters" ]; do
    if [ "$i" -ne "$ordinal" ]; then
        set -- "$@" --join "$prefix-$i.$service:$gossip_port"
    fi
    i=$((i + 1))
done

# The Secret volume's files are root-owned and group-readable under fsGroup; the node
# refuses a key file others can read, so it gets its own 0600 copy.
if [ -n "${LEDGER_KEY_SECRET:-}" ]; then
    key_dir=${LEDGER_KEY_DIR:-/run/ledger}
    if [ "${LEDGER_ENTRYPOINT_DRY_RUN:-0}" != 1 ]; then
        [ -r "$LEDGER_KEY_SECRET" ] || fail "cannot read the cluster key $LEDGER_KEY_SECRET"
        umask 077
        mkdir -p "$key_dir"
        cp "$LEDGER_KEY_SECRET" "$key_dir/cluster.key"
        chmod 600 "$key_dir/cluster.key"
    fi
    set -- "$@" --key-file "$key_dir/cluster.key"
fi

if [ "${LEDGER_ENTRYPOINT_DRY_RUN:-0}" = 1 ]; then
    echo ledger-node "$@"
    exit 0
fi

# Raft listens on the address it advertises: wait (bounded) until our stable name
# resolves to this pod (the headless Service publishes not-ready addresses).
if [ -n "${POD_IP:-}" ]; then
    tries=0
    while ! getent hosts "$self" | grep -q "^$POD_IP[[:space:]]"; do
        tries=$((tries + 1))
        [ "$tries" -le 120 ] || fail "$self does not resolve to $POD_IP after 60 s"
        sleep 0.5
    done
fi

exec ledger-node "$@"
