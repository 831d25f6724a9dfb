#!/bin/sh
# A local three-node cluster to try by hand: one nats-server with JetStream (store in a temporary
# directory) and three chat-server nodes on UDP 1241, 1242 and 1243 (loopback). Ctrl-C stops them all.
# Connect with: target/release/chat-cli --user NAME --server 127.0.0.1:1241,127.0.0.1:1242,127.0.0.1:1243
# (add --ca "$dir/certs/ca.pem" as printed below). Kill one node (kill -9 PID) and watch its users
# move to another within seconds.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p server -p client

nats_port="${NATS_PORT:-4222}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/chat-cluster.XXXXXX")"
pids=""
stop() {
    trap - INT TERM EXIT
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
    echo "cluster stopped"
}
trap stop INT TERM EXIT

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
pids="$!"
tries=0
until grep -q "Server is ready" "$dir/nats.log" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && { echo "nats-server did not start; see $dir/nats.log" >&2; exit 1; }
    sleep 0.1
done
echo "nats-server on 127.0.0.1:$nats_port (log: $dir/nats.log)"

for n in 1 2 3; do
    target/release/chat-server --listen "127.0.0.1:124$n" --cert-dir "$dir/certs" --no-persist \
        --cluster "nats://127.0.0.1:$nats_port" --node "node$n" >"$dir/node$n.log" 2>&1 &
    pids="$pids $!"
    echo "node$n on udp 127.0.0.1:124$n, pid $! (log: $dir/node$n.log)"
    # The first node creates the development certificates the others then share.
    [ "$n" = 1 ] && sleep 1
done
echo
echo "try: target/release/chat-cli --ca $dir/certs/ca.pem --user NAME --server 127.0.0.1:1241,127.0.0.1:1242,127.0.0.1:1243"
echo "Ctrl-C stops everything."
wait
