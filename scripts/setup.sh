#!/bin/sh
# Installs what building and testing need, only what is missing: Debian/Ubuntu packages with apt-get
# (through sudo when not root) and, if cargo is absent, Rust through rustup.
set -eu

packages="pkg-config gcc libc6-dev libgtk-4-dev libadwaita-1-dev xvfb xauth dbus dbus-x11 nats-server systemd \
    desktop-file-utils appstream flatpak-builder python3 libglib2.0-bin gettext \
    at-spi2-core python3-pyatspi gir1.2-atspi-2.0 xdotool librsvg2-bin"
[ "${WITH_SCREENSHOT_TOOLS:-0}" = 1 ] && packages="$packages imagemagick"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: please install these packages with your package manager:$missing" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "setup: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        echo "setup: add \$HOME/.cargo/bin to your PATH" >&2
    else
        echo "setup: installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    fi
fi
