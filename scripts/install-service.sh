#!/bin/sh
# Installs chat-server as a systemd service: the binary in /usr/local/bin, the unit in
# /etc/systemd/system, its settings in /etc/quic-chat/chat-server.toml (kept if already there),
# then enables and starts it. Run as root (or through sudo).
#
# Usage: cargo build --release -p server && sudo scripts/install-service.sh
#        BIN_DIR=/opt/bin UNIT_DIR=/etc/systemd/system scripts/install-service.sh
#        NO_START=1 ...   (install only)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${BIN_DIR:-/usr/local/bin}
unit_dir=${UNIT_DIR:-/etc/systemd/system}
config_dir=${CONFIG_DIR:-/etc/quic-chat}
binary="$root/target/release/chat-server"

if [ ! -x "$binary" ]; then
    echo "install-service: $binary not found; build it with: cargo build --release -p server" >&2
    exit 1
fi

install -d "$bin_dir" "$unit_dir"
install -m 755 "$binary" "$bin_dir/chat-server"
sed -e "s|/usr/local/bin/chat-server|$bin_dir/chat-server|" \
    -e "s|/etc/quic-chat/chat-server.toml|$config_dir/chat-server.toml|" \
    "$root/scripts/chat-server.service" >"$unit_dir/chat-server.service"
chmod 644 "$unit_dir/chat-server.service"
install -d -m 755 "$config_dir"
if [ -e "$config_dir/chat-server.toml" ]; then
    echo "kept:      $config_dir/chat-server.toml (yours; scripts/chat-server.toml has the defaults)"
else
    install -m 644 "$root/scripts/chat-server.toml" "$config_dir/chat-server.toml"
fi
# The settings are checked now rather than at the service's start.
"$bin_dir/chat-server" --config "$config_dir/chat-server.toml" --print-config >/dev/null
echo "installed: $bin_dir/chat-server"
echo "           $unit_dir/chat-server.service"
echo "           $config_dir/chat-server.toml (edit, then: systemctl reload chat-server)"

if [ "${NO_START:-0}" = 1 ]; then
    exit 0
fi
if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
    echo "install-service: systemd is not running here; start it later with: systemctl enable --now chat-server" >&2
    exit 0
fi
systemctl daemon-reload
systemctl enable --now chat-server.service
echo "started: journalctl -u chat-server shows its log; the CA for clients is /var/lib/quic-chat/certs/ca.pem"
