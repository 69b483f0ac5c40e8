#!/usr/bin/env bash
# Lints what an operator consumes with Prometheus' own tool:
#   1. /metrics of the multi-protocol sample with live connections -> `promtool check metrics`
#   2. docs/prometheus/alerts.yml -> `promtool check rules`
# Needs promtool (Debian/Ubuntu: apt-get install prometheus) and a build (`npm run build`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "promtool not found: apt-get install prometheus" >&2; exit 2; }
[ -f dist/scripts/scrape-metrics.js ] || npx tsc -p tsconfig.json

metrics="$(mktemp)"
trap 'rm -f "$metrics"' EXIT
UNIPOOL_LOG_LEVEL=error node dist/scripts/scrape-metrics.js "$metrics"
families=$(grep -c '^# TYPE unipool_' "$metrics" || true)
echo "scraped $(wc -l < "$metrics") lines, ${families} unipool families"
# promtool prints lint problems and exits non-zero on any of them.
promtool check metrics < "$metrics"
echo "promtool check metrics: clean"
promtool check rules docs/prometheus/alerts.yml
