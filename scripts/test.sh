#!/bin/sh
# The whole test suite, as CI runs it: formatting, lints, then every crate's tests in one cargo run
# (one feature resolution, so nothing is compiled twice), under a virtual X server and a private
# D-Bus session when there is no display, because the GNOME client's tests open real windows.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
# Debian installs nats-server (for the cluster tests) in /usr/sbin, which is not on an ordinary
# user's PATH; without it those tests fail (CHAT_SKIP_CLUSTER_TESTS=1 skips them on purpose).
PATH="$PATH:/usr/sbin:/usr/local/sbin"
export PATH
if ! command -v nats-server >/dev/null 2>&1 && [ "${CHAT_SKIP_CLUSTER_TESTS:-}" != 1 ]; then
    echo "nats-server not found: the cluster tests will fail (install it, or set CHAT_SKIP_CLUSTER_TESTS=1)" >&2
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    cargo test --workspace --locked
else
    dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" cargo test --workspace --locked
fi
echo "== all tests passed"
