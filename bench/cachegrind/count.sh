#!/usr/bin/env bash
# Instructions, L1 data misses and branch mispredictions per request of one server, counted by
# cachegrind (a simulated CPU: no timing noise). Runs the server for 5,000 and for 25,000
# requests and prints (count at 25,000 - count at 5,000) / 20,000, so start-up, module loading
# and JIT warm-up cancel out. Needs valgrind (apt-get install valgrind) and a build (npx tsc -p .).
#   bash bench/cachegrind/count.sh bare|loaded|unipool [node options...]
# e.g. bash bench/cachegrind/count.sh unipool --min-semi-space-size=16 --max-semi-space-size=16
# Extra cachegrind options: CACHEGRIND_ARGS="--LL=8388608,16,64". About 3 minutes per mode.
set -euo pipefail
mode=${1:?usage: count.sh bare|loaded|unipool [node options...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
dist="$root/dist/bench/cachegrind"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A ir d1 mp
for n in 5000 25000; do
  port=$((20000 + RANDOM % 20000))
  COUNT_MODE=$mode COUNT_N=$n COUNT_PORT=$port valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes ${CACHEGRIND_ARGS:-} \
    --cachegrind-out-file="$out/cg.$n" node "$@" "$dist/count-server.js" > "$out/log.$n" 2>&1 &
  vg=$!
  for _ in $(seq 1 600); do grep -q '^ready' "$out/log.$n" && break; sleep 0.5; done
  grep -q '^ready' "$out/log.$n" || { cat "$out/log.$n"; kill $vg; exit 1; }
  node "$dist/count-client.js" $n $port
  wait $vg
  ir[$n]=$(grep -E '== I +refs:' "$out/log.$n" | awk '{gsub(",","",$4); print $4}')
  d1[$n]=$(grep -E '== D1 +misses:' "$out/log.$n" | awk '{gsub(",","",$4); print $4}')
  mp[$n]=$(grep -E '== Mispredicts:' "$out/log.$n" | awk '{gsub(",","",$3); print $3}')
done
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 20000 }'; }
echo "$mode $*: instructions $(per ${ir[5000]} ${ir[25000]}), D1 misses $(per ${d1[5000]} ${d1[25000]}), mispredictions $(per ${mp[5000]} ${mp[25000]}) per request"
