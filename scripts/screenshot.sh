#!/bin/sh
# Takes docs/screenshot.png: a real chat-server on loopback, chat-gtk signed in as "ann" on a private
# Xvfb display, and chat-cli users talking to her in rooms and directly. ann's earlier lines and rooms
# come from the server (said and joined from the terminal before the window signed in), so the picture
# shows her own lines, her rooms with unread counts, and a direct conversation. Every user has its
# own identity in a temporary folder; nothing of the user's own is read or written.
#
# Usage: scripts/screenshot.sh [OUTPUT.png]   (builds debug binaries if none are there)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/docs/screenshot.png"}
cd "$root"

bin_dir=""
for dir in target/release target/debug; do
    if [ -x "$dir/chat-server" ] && [ -x "$dir/chat-cli" ] && [ -x "$dir/chat-gtk" ]; then
        bin_dir=$dir
        break
    fi
done
if [ -z "$bin_dir" ]; then
    cargo build -p server -p client -p client-gtk
    bin_dir=target/debug
fi

work=$(mktemp -d)
pids=""
# The input scripts below idle until this file appears, so nothing outlives the script.
linger() {
    while [ -d "$work" ] && [ ! -e "$work/done" ]; do sleep 0.2; done
}
cleanup() {
    touch "$work/done" 2>/dev/null || true
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A free X display and a free UDP port.
display=90
while [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
port=$((40000 + $$ % 20000))

Xvfb ":$display" -screen 0 1000x700x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids="$pids $!"
"$bin_dir/chat-server" --listen "127.0.0.1:$port" --cert-dir "$work/certs" --no-persist >"$work/server.log" 2>&1 &
pids="$pids $!"

i=0
until [ -e "$work/certs/ca.pem" ] && [ -e "/tmp/.X11-unix/X$display" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "screenshot: server or Xvfb did not start" >&2
        cat "$work/server.log" "$work/xvfb.log" >&2
        exit 1
    fi
    sleep 0.1
done

cli() {
    "$bin_dir/chat-cli" --server "127.0.0.1:$port" --ca "$work/certs/ca.pem" --user "$1" \
        --identity "$work/id-$1"
}

# bob stays for the whole session; his input is a script of lines with pauses.
{
    sleep 0.6
    echo "Morning! The new build is on the test server."
    sleep 1.6
    echo "Great. Handshakes are down to about a millisecond on loopback."
    sleep 2.4
    echo "/join #rust"
    echo "The borrow checker is happy with the new session code."
    sleep 0.3
    echo "Benchmarks are in bench/README.md."
    sleep 0.3
    echo "/switch #general"
    echo "ann, could you look at the new sidebar?"
    linger
} | cli bob >"$work/bob.log" 2>&1 &
pids="$pids $!"

# ann, from the terminal first: these lines are history when the window signs in as ann.
{
    sleep 1.2
    echo "Thanks, Bob! Trying it now."
    sleep 0.6
    echo "Did the TLS change land too?"
    echo "/topic Team chat: be kind, ship often"
    echo "/join #design"
    echo "/join #rust"
    echo "/topic Crabs, lifetimes and the borrow checker"
    sleep 0.3
} | cli ann >"$work/ann.log" 2>&1

DISPLAY=":$display" GSK_RENDERER=cairo NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory \
    "$bin_dir/chat-gtk" --server "127.0.0.1:$port" --user ann --ca "$work/certs/ca.pem" \
    --identity "$work/id-ann" >"$work/gtk.log" 2>&1 &
pids="$pids $!"

sleep 1.5
{
    sleep 0.5
    echo "Hi all, joining from the terminal client. Long lines wrap in the window, and the text stays selectable so you can copy a snippet out of a long explanation like this one."
    sleep 0.3
    echo "/msg ann Lunch at noon?"
    linger
} | cli carol >"$work/carol.log" 2>&1 &
pids="$pids $!"

sleep 3
mkdir -p "$(dirname "$out")"
# The window is undecorated by a window manager (there is none); grab just it.
if ! DISPLAY=":$display" import -window Chat "$out" 2>/dev/null; then
    DISPLAY=":$display" import -window root "$out"
fi
echo "screenshot: wrote $out"
