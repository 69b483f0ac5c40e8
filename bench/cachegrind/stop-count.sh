#!/usr/bin/env bash
# Instructions the main thread executes to stop an HTTP server holding idle keep-alive
# connections, terminus against unipool, counted by callgrind (a simulated CPU: no timing noise).
# The `shutdown-idle` scenario times the same stop; the time is mostly the kernel closing sockets,
# the same on both sides, and the rest moves with the host. This counts what each side executes
# itself: each side stops 100 and then 1,000 idle connections, and the script prints
#   per connection = (count at 1,000 - count at 100) / 900
#   fixed          = count at 100 - 100 x per connection (work that does not grow with them:
#                    V8 compiling the stop path on its first and only run, the phases, hooks)
# Counted between os.getPriority() and os.loadavg() around the stop (see stop-server.ts), main
# thread only (V8's background compiler threads are not in it). Needs valgrind
# (apt-get install valgrind) and a build (npx tsc -p .). About 2 minutes.
#   bash bench/cachegrind/stop-count.sh [node options...]   (STOP_SIDES=unipool: one side only)
# Pass --min-semi-space-size=16 --max-semi-space-size=16 to give both sides the same young
# generation: otherwise terminus's lighter process scavenges during its stop and unipool's does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dist="$root/dist/bench/cachegrind"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
idle=$(node -e "console.log(require('$root/dist/src').DRAIN_KEEP_ALIVE_GRACE_MS + 200)")
declare -A ir
for side in ${STOP_SIDES:-terminus unipool}; do
  for n in 100 1000; do
    STOP_SIDE=$side STOP_N=$n STOP_IDLE_MS=$idle valgrind --tool=callgrind --separate-threads=yes \
      --zero-before=uv_os_getpriority --dump-before=uv_loadavg \
      --callgrind-out-file="$out/cg.$side.$n" node "$@" "$dist/stop-server.js" > "$out/log.$side.$n" 2>&1
    grep -q '^stopped' "$out/log.$side.$n" || { cat "$out/log.$side.$n"; exit 1; }
    # The dump at os.loadavg(), thread 1 (the main thread): cg.<side>.<n>.1-01.
    ir[$side.$n]=$(awk '/^totals:/ { print $2 }' "$out/cg.$side.$n.1-01")
  done
done
for side in ${STOP_SIDES:-terminus unipool}; do
  awk -v s="$side" -v a="${ir[$side.100]}" -v b="${ir[$side.1000]}" 'BEGIN {
    per = (b - a) / 900; printf "%-8s at 100: %.2fM  at 1,000: %.2fM  per connection: %.0f  fixed: %.2fM\n", s, a / 1e6, b / 1e6, per, (a - 100 * per) / 1e6 }'
done
if [ -n "${ir[terminus.1000]:-}" ] && [ -n "${ir[unipool.1000]:-}" ]; then
  awk -v t1="${ir[terminus.1000]}" -v u1="${ir[unipool.1000]}" -v t0="${ir[terminus.100]}" -v u0="${ir[unipool.100]}" 'BEGIN {
    printf "unipool/terminus at 1,000: %.3f  per connection: %.3f\n", u1 / t1, (u1 - u0) / (t1 - t0) }'
fi
