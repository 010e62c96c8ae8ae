# Sourced by the benchmark scripts: their figures in machine-readable form, for bench/run.
#
# When BENCH_JSON names a file, `figure SCENARIO FIGURE UNIT VALUE...` appends one JSON object
# per line to it: {"benchmark", "scenario", "figure", "unit", "values": [every run's value]}.
# A value that is not a number (nan: nothing to measure in that run) is left out, and a figure
# with no value is not written.
# Without BENCH_JSON it does nothing: the scripts' own output stays as it is.

figure() {
  [[ -n "${BENCH_JSON:-}" ]] || return 0
  local scenario="$1" name="$2" unit="$3"
  shift 3
  jq -cn --arg b "${BENCH_NAME:-$(basename "$0")}" --arg s "$scenario" --arg f "$name" --arg u "$unit" \
    '{benchmark: $b, scenario: $s, figure: $f, unit: $u, values: ($ARGS.positional | map(tonumber? // empty))}
     | select(.values | length > 0)' \
    --args "$@" >>"$BENCH_JSON"
}
