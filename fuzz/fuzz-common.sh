# Shared by fuzz/run.sh and fuzz/run-hxfr.sh (sourced, not run): builds one libFuzzer target
# with ASan + UBSan and runs it over a scratch copy of its seed corpus.
#   run_fuzzer TARGET CORPUS_DIR SECONDS MAX_LEN RSS_MB -- SOURCES... [-lLIB...]
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh --dev). New inputs that reach new
# code go to $FUZZ_OUT/corpus (the checked-in corpus is left alone); crashes land in
# fuzz/artifacts/. Extra libFuzzer flags come from FUZZ_FLAGS.
run_fuzzer() {
  local target=$1 corpus=$2 seconds=$3 max_len=$4 rss_mb=$5
  shift 6
  local here root out
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  root="$(dirname "$here")"
  out="${FUZZ_OUT:-/tmp/pixelrts-fuzz-$target}"
  mkdir -p "$out/corpus" "$here/artifacts"
  cp -n "$here/$corpus"/* "$out/corpus/" 2>/dev/null || true
  cd "$root"
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Inative "fuzz/$target.cc" "$@" -o "$out/$target"
  # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
  exec "$out/$target" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb="$rss_mb" \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$here/artifacts/" ${FUZZ_FLAGS:-} "$out/corpus"
}
