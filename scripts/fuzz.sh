#!/bin/sh
# Short, bounded fuzzing runs of the cargo-fuzz targets in wire/fuzz:
#   decode_client   bytes in arbitrary chunks into the server's FrameDecoder (ClientFrame)
#   decode_server   the same for the client's decoder (ServerFrame)
#   server_session  fuzzed frame sequences through the server's session rules into a real room
#                   (no sockets: server::fuzzing); `cargo test` in wire/fuzz runs its seeds on stable
#
# Usage: scripts/fuzz.sh [TARGET...]
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_SANITIZER  address (default) or none
#
# cargo-fuzz wants nightly Rust. On a stable toolchain RUSTC_BOOTSTRAP=1 lets rustc accept the
# nightly-only flags cargo-fuzz passes (-Zsanitizer=address, sancov passes), so this works on stable.
# Seeds are read from wire/fuzz/corpus/<target> (committed); what the fuzzer adds goes to
# wire/fuzz/target/corpus-work/<target> (not committed). Crashes land in wire/fuzz/artifacts/<target>.
# Exits 1 when a target crashed.
set -eu

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
if [ "$#" -gt 0 ]; then
    targets="$*"
else
    targets="decode_client decode_server server_session"
fi

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

fuzz=wire/fuzz
mkdir -p "$fuzz/target"
echo "building fuzz targets (sanitizer: $sanitizer)"
(cd wire && cargo fuzz build -O --sanitizer "$sanitizer")

failed=0
summary=""
for target in $targets; do
    work="$fuzz/target/corpus-work/$target"
    artifacts="$fuzz/artifacts/$target"
    log="$fuzz/target/fuzz-$target.log"
    mkdir -p "$work" "$artifacts"
    marker="$fuzz/target/.start-$target"
    : > "$marker"
    echo "fuzzing $target for ${seconds}s (log: $log)"
    start=$(date +%s)
    set +e
    (cd wire && cargo fuzz run -O --sanitizer "$sanitizer" "$target" \
        "fuzz/target/corpus-work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/") >"$log" 2>&1
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs="?"
    crashes=$(find "$artifacts" -type f -newer "$marker" | wc -l | tr -d ' ')
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        echo "  $target: exit $rc; last lines of the log:"
        tail -n 30 "$log" | sed 's/^/    /'
        find "$artifacts" -type f -newer "$marker" | sed 's/^/    artifact: /'
    fi
    rm -f "$marker"
    line="$target: ${took}s, $execs executions, $crashes crashes (exit $rc)"
    echo "  $line"
    summary="$summary$line
"
done

echo
echo "fuzz summary ($seconds s per target, sanitizer $sanitizer):"
printf '%s' "$summary"
exit "$failed"
