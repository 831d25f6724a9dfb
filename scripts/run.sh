#!/bin/sh
# Try the chat on this machine: installs what is missing, builds, starts chat-server on port 1234 and
# opens the GNOME client (or, without a display, the terminal client). Stopping the client stops the
# server. Options: --cli (terminal client even with a display), --user NAME.
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

./target/release/chat-server &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT INT TERM
sleep 1

if [ "$use_cli" = 1 ]; then
    echo "Type a line to send it; /users lists who is here; /quit leaves."
    ./target/release/chat-cli --server localhost:1234 --user "$user"
else
    ./target/release/chat-gtk --server localhost:1234
fi
