#!/bin/sh
# Installs chat-gtk for the current user, without meson: the binary, the .desktop file and the icon.
#
# Usage: scripts/install-desktop.sh            (installs under ~/.local)
#        PREFIX=/usr/local scripts/install-desktop.sh
# Build first: cargo build --release -p client-gtk (or name another build with BINARY=...)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${PREFIX:-"$HOME/.local"}
binary="${BINARY:-$root/target/release/chat-gtk}"
data="$root/client-gtk/data"

if [ ! -x "$binary" ]; then
    echo "install-desktop: $binary not found; build it with: cargo build --release -p client-gtk" >&2
    exit 1
fi

install -d "$prefix/bin" "$prefix/share/applications" "$prefix/share/metainfo" \
    "$prefix/share/icons/hicolor/scalable/apps" "$prefix/share/glib-2.0/schemas"
install -m 755 "$binary" "$prefix/bin/chat-gtk"
# Exec= names the installed binary by its full path, so the launcher works even when
# $prefix/bin is not on the session's PATH.
sed "s|^Exec=chat-gtk|Exec=$prefix/bin/chat-gtk|" "$data/org.quicchat.Chat.desktop" \
    >"$prefix/share/applications/org.quicchat.Chat.desktop"
chmod 644 "$prefix/share/applications/org.quicchat.Chat.desktop"
install -m 644 "$data/org.quicchat.Chat.metainfo.xml" "$prefix/share/metainfo/org.quicchat.Chat.metainfo.xml"
install -m 644 "$data/org.quicchat.Chat.gschema.xml" "$prefix/share/glib-2.0/schemas/org.quicchat.Chat.gschema.xml"
# The settings' schema must be compiled where it is installed (GSettings reads gschemas.compiled).
glib-compile-schemas "$prefix/share/glib-2.0/schemas"
install -m 644 "$data/org.quicchat.Chat.svg" "$prefix/share/icons/hicolor/scalable/apps/org.quicchat.Chat.svg"

# Refresh the caches when the tools are there; the files work without them, just later.
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$prefix/share/applications" || true
fi
if command -v gtk4-update-icon-cache >/dev/null 2>&1; then
    gtk4-update-icon-cache -q -t -f "$prefix/share/icons/hicolor" || true
elif command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t -f "$prefix/share/icons/hicolor" || true
fi

echo "installed: $prefix/bin/chat-gtk"
echo "           $prefix/share/applications/org.quicchat.Chat.desktop"
echo "           $prefix/share/metainfo/org.quicchat.Chat.metainfo.xml"
echo "           $prefix/share/glib-2.0/schemas/org.quicchat.Chat.gschema.xml"
echo "           $prefix/share/icons/hicolor/scalable/apps/org.quicchat.Chat.svg"
