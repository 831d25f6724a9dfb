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

# Waits until the log $2 of process $1 has a line containing $3. Gives up after 20 s or when the
# process has exited, showing the end of its log here: stop() deletes the directory it is in.
wait_for() {
    tries=0
    until grep -q "$3" "$2" 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -gt 200 ] || ! kill -0 "$1" 2>/dev/null; then
            echo "$(basename "$2" .log) did not start; the end of its log:" >&2
            tail -n 20 "$2" >&2
            exit 1
        fi
        sleep 0.1
    done
}

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
pids="$!"
wait_for "$!" "$dir/nats.log" "Server is ready"
echo "nats-server on 127.0.0.1:$nats_port, pid $! (log: $dir/nats.log)"

node_pids=""
for n in 1 2 3; do
    # Logs without colour codes, and a start-up error without a backtrace: its end says what failed.
    NO_COLOR=1 RUST_LIB_BACKTRACE=0 target/release/chat-server --listen "127.0.0.1:124$n" \
        --cert-dir "$dir/certs" --no-persist --cluster "nats://127.0.0.1:$nats_port" \
        --node "node$n" >"$dir/node$n.log" 2>&1 &
    pids="$pids $!"
    node_pids="${node_pids:+$node_pids,}$!"
    # One at a time: the first node creates the development certificates the others then share,
    # and a node that cannot start (its port taken) is reported here rather than at the first client.
    wait_for "$!" "$dir/node$n.log" "chat-server listening"
    echo "node$n on udp 127.0.0.1:124$n, pid $! (log: $dir/node$n.log)"
done
echo
echo "try: target/release/chat-cli --ca $dir/certs/ca.pem --user NAME --server 127.0.0.1:1241,127.0.0.1:1242,127.0.0.1:1243"
echo "load (cargo build --release -p bench): target/release/chat-bench --server 127.0.0.1:1241,127.0.0.1:1242,127.0.0.1:1243 --ca $dir/certs/ca.pem --server-pid $node_pids fanout -n 30 -m 10"
echo "Ctrl-C stops everything."
wait
