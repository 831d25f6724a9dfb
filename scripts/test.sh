#!/bin/sh
# The whole test suite, as CI runs it: formatting, lints, every crate's tests (the GTK ones under a
# virtual X server when there is no display), then a short run of the load tool.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests (protocol, certificates, server, client, terminal client)"
cargo test --workspace --exclude client-gtk --locked

echo "== GNOME client tests"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    cargo test -p client-gtk --locked
else
    dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p client-gtk --locked
fi
echo "== all tests passed"
