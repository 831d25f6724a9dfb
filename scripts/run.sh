#!/bin/sh
# Try the chat on this machine: installs what is missing, builds, starts chat-server on port 1234 and
# opens the GNOME client (or, without a display, the terminal client). Stopping the client stops the
# server. Options: --cli (terminal client even with a display), --user NAME.
# With the terminal client the server's log goes to $XDG_STATE_HOME/quic-chat/server.log
# (~/.local/state/quic-chat/server.log), not into the chat; the script says where.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi

use_cli=0
user="${USER:-me}"
while [ $# -gt 0 ]; do
    case "$1" in
        --cli) use_cli=1 ;;
        --user) shift; user="$1" ;;
        *) echo "usage: scripts/run.sh [--cli] [--user NAME]" >&2; exit 2 ;;
    esac
    shift
done
[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && use_cli=1

if [ "$use_cli" = 1 ]; then
    cargo build --release --locked -p server -p client
else
    cargo build --release --locked -p server -p client -p client-gtk
fi

if [ "$use_cli" = 1 ]; then
    # The terminal is the chat's: the server writes to a file instead (plain text: no colours
    # when its output is not a terminal).
    log_dir="${XDG_STATE_HOME:-$HOME/.local/state}/quic-chat"
    mkdir -p "$log_dir"
    log="$log_dir/server.log"
    ./target/release/chat-server >"$log" 2>&1 &
else
    log=""
    ./target/release/chat-server &
fi
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT INT TERM
if [ -n "$log" ]; then
    tries=0
    until grep -q "^chat-server listening" "$log" 2>/dev/null; do
        tries=$((tries + 1))
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$tries" -ge 100 ]; then
            echo "run.sh: chat-server did not start; its log ($log):" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "chat-server log: $log"
else
    sleep 1
fi

if [ "$use_cli" = 1 ]; then
    echo "Type a line to send it; /users lists who is here; /quit leaves."
    ./target/release/chat-cli --server localhost:1234 --user "$user"
else
    ./target/release/chat-gtk --server localhost:1234
fi
