#!/bin/sh
# Extracts chat-gtk's translatable strings into po/org.quicchat.Chat.pot with xgettext (the Rust
# sources as C: gettext("…") and ngettext("…", "…", n) calls look the same; the .ui templates as
# GtkBuilder XML; the .desktop file and the AppStream metainfo by their own rules), then merges the
# template into every po/<lang>.po named in po/LINGUAS.
#
# Usage: scripts/update-po.sh            rewrite the template and the translations
#        scripts/update-po.sh --check    fail if the template is out of date (CI; changes nothing)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
domain=org.quicchat.Chat
pot=po/$domain.pot

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

grep -v '^#' po/POTFILES | grep -v '^$' >"$work/all"
grep '\.rs$' "$work/all" >"$work/rs" || true
grep '\.ui$' "$work/all" >"$work/ui" || true
grep -e '\.desktop$' -e '\.metainfo\.xml$' "$work/all" >"$work/data" || true

# Known noise: Rust lifetimes ('static) read as unterminated C character constants, and the
# GtkBuilder rules shipped with gettext itself. Anything else xgettext says is shown.
quiet() {
    "$@" 2>"$work/said" || { cat "$work/said" >&2; return 1; }
    grep -v -e 'unterminated character constant' -e 'fallback ITS rule file' "$work/said" >&2 || true
}
# File names without line numbers: moving code does not make the template stale.
common="--from-code=UTF-8 --add-comments=Translators --add-location=file --sort-by-file --package-name=chat-gtk"
# shellcheck disable=SC2086
quiet xgettext $common --language=C --keyword= --keyword=gettext --keyword=ngettext:1,2 \
    --files-from="$work/rs" --output="$work/rs.pot"
# shellcheck disable=SC2086
quiet xgettext $common --language=Glade --files-from="$work/ui" --output="$work/ui.pot"
# shellcheck disable=SC2086
quiet xgettext $common --files-from="$work/data" --output="$work/data.pot"
msgcat --use-first --add-location=file --sort-by-file "$work/rs.pot" "$work/ui.pot" "$work/data.pot" \
    --output-file="$work/new.pot"

# The creation date changes on every run; it is not a difference.
strip_date() { grep -v '^"POT-Creation-Date:' "$1"; }

if [ "${1:-}" = "--check" ]; then
    if ! strip_date "$work/new.pot" | diff -u "$(strip_date "$pot" >"$work/old"; echo "$work/old")" - >"$work/diff"; then
        echo "update-po: $pot is out of date; run scripts/update-po.sh and translate what is new:" >&2
        cat "$work/diff" >&2
        exit 1
    fi
    exit 0
fi

if [ -f "$pot" ] && strip_date "$work/new.pot" | cmp -s "$(strip_date "$pot" >"$work/old"; echo "$work/old")" -; then
    echo "update-po: $pot is up to date"
else
    cp "$work/new.pot" "$pot"
    echo "update-po: wrote $pot"
fi
for lang in $(grep -v '^#' po/LINGUAS); do
    msgmerge --quiet --update --backup=none --add-location=file --sort-by-file "po/$lang.po" "$pot"
    # Strings no longer in the code are dropped, not kept as obsolete (#~) entries.
    msgattrib --no-obsolete --add-location=file --output-file="po/$lang.po" "po/$lang.po"
    msgfmt --check --statistics -o /dev/null "po/$lang.po"
done
