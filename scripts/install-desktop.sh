#!/bin/sh
# Installs chat-gtk for the current user, without meson: the binary, the .desktop file, the AppStream
# metainfo, the GSettings schema, the icons (scalable, symbolic, and PNG sizes when rsvg-convert is
# there) and the translations (po/*.po compiled with msgfmt into share/locale, where the installed
# binary looks for them).
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

icons="$prefix/share/icons/hicolor"
if ! command -v msgfmt >/dev/null 2>&1; then
    echo "install-desktop: msgfmt not found (Debian: gettext); it installs the translations" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

install -d "$prefix/bin" "$prefix/share/applications" "$prefix/share/metainfo" \
    "$icons/scalable/apps" "$icons/symbolic/apps" "$prefix/share/glib-2.0/schemas"
install -m 755 "$binary" "$prefix/bin/chat-gtk"
# Exec= names the installed binary by its full path, so the launcher works even when
# $prefix/bin is not on the session's PATH.
# The launcher and the metainfo carry their translations (Name[de]=..., xml:lang="de"), merged
# from po/ by msgfmt.
msgfmt --desktop -d "$root/po" --template="$data/org.quicchat.Chat.desktop" -o "$work/app.desktop"
sed "s|^Exec=chat-gtk|Exec=$prefix/bin/chat-gtk|" "$work/app.desktop" \
    >"$prefix/share/applications/org.quicchat.Chat.desktop"
chmod 644 "$prefix/share/applications/org.quicchat.Chat.desktop"
msgfmt --xml -d "$root/po" --template="$data/org.quicchat.Chat.metainfo.xml" -o "$work/metainfo.xml"
install -m 644 "$work/metainfo.xml" "$prefix/share/metainfo/org.quicchat.Chat.metainfo.xml"
install -m 644 "$data/org.quicchat.Chat.gschema.xml" "$prefix/share/glib-2.0/schemas/org.quicchat.Chat.gschema.xml"
# The settings' schema must be compiled where it is installed (GSettings reads gschemas.compiled).
glib-compile-schemas "$prefix/share/glib-2.0/schemas"
install -m 644 "$data/org.quicchat.Chat.svg" "$icons/scalable/apps/org.quicchat.Chat.svg"
install -m 644 "$data/org.quicchat.Chat-symbolic.svg" "$icons/symbolic/apps/org.quicchat.Chat-symbolic.svg"
# The fixed sizes GNOME and other desktops still look up first; the SVG covers them where the
# renderer is missing (Debian: librsvg2-bin).
if command -v rsvg-convert >/dev/null 2>&1; then
    for size in 16 24 32 48 64 128 256 512; do
        install -d "$icons/${size}x${size}/apps"
        rsvg-convert -w "$size" -h "$size" "$data/org.quicchat.Chat.svg" \
            -o "$icons/${size}x${size}/apps/org.quicchat.Chat.png"
    done
    pngs="PNG icons from 16 to 512 pixels"
else
    pngs="no PNG icons (rsvg-convert not found; the scalable icon serves every size)"
fi

# Translations: one catalogue per language in po/LINGUAS.
languages=""
for lang in $(grep -v '^#' "$root/po/LINGUAS"); do
    install -d "$prefix/share/locale/$lang/LC_MESSAGES"
    msgfmt --check -o "$prefix/share/locale/$lang/LC_MESSAGES/org.quicchat.Chat.mo" "$root/po/$lang.po"
    languages="$languages $lang"
done

# Refresh the caches when the tools are there; the files work without them, just later.
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$prefix/share/applications" || true
fi
if command -v gtk4-update-icon-cache >/dev/null 2>&1; then
    gtk4-update-icon-cache -q -t -f "$icons" || true
elif command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t -f "$icons" || true
fi

echo "installed: $prefix/bin/chat-gtk"
echo "           $prefix/share/applications/org.quicchat.Chat.desktop"
echo "           $prefix/share/metainfo/org.quicchat.Chat.metainfo.xml"
echo "           $prefix/share/glib-2.0/schemas/org.quicchat.Chat.gschema.xml"
echo "           $icons/scalable/apps/org.quicchat.Chat.svg, $icons/symbolic/apps/org.quicchat.Chat-symbolic.svg"
echo "           $pngs"
echo "           $prefix/share/locale/*/LC_MESSAGES/org.quicchat.Chat.mo (languages:$languages)"
