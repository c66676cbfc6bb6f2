#!/usr/bin/env bash
# A/B of two Hubcast builds on this machine: fan-out server CPU per delivery and server RSS per
# idle subscribed connection, measured alternately (A, B, A, B, …) so both see the same machine.
# Usage: bench/ab/run.sh <checkout A> <checkout B> [rounds] [connections]
#   Each checkout must be built (npm run build). The load tool is A's. Prints one line per run
#   and the mean of each side with the B/A ratio. Sends traffic only to 127.0.0.1.
set -euo pipefail
if [ "$#" -lt 2 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
rounds=${3:-3}
connections=${4:-8000}
for tree in "$a" "$b"; do
  [ -f "$tree/packages/server/dist/cli/main.js" ] || { echo "ab: $tree is not built; run npm run build there" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo '{"namespaces":{"bench":{"allowPublish":true}}}' > "$work/bench.json"
bench="$a/packages/bench/dist/cli/main.js"

# Starts a node of checkout $1 on a free port; prints "<pid> <port>".
start_node() {
  local port
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  node "$1/packages/server/dist/cli/main.js" start --port "$port" --config "$work/bench.json" --no-demo \
    --command-rate-per-second 0 --max-connections-per-second 0 --log-level warn --log-format json >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  echo "$pid $port"
}

# Runs one scenario against checkout $1; prints the figure $3 of result.json's server block.
measure() {
  local tree=$1 scenario=$2 field=$3 out="$work/run-$RANDOM"
  read -r pid port < <(start_node "$tree")
  if [ "$scenario" = fanout ]; then
    node "$bench" fanout --url "ws://127.0.0.1:$port/ws" --connections "$connections" --rate 10 --duration 10 --warmup 2 --out "$out" >/dev/null 2>&1
  else
    node "$bench" connect --url "ws://127.0.0.1:$port/ws" --connections "$connections" --channels "$connections" --duration 3 --out "$out" >/dev/null 2>&1
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]+"/result.json"));console.log(r.server[process.argv[2]])' "$out" "$field"
}

declare -a cpu_a cpu_b rss_a rss_b
for i in $(seq "$rounds"); do
  cpu_a+=("$(measure "$a" fanout cpuMicrosPerDelivery)"); cpu_b+=("$(measure "$b" fanout cpuMicrosPerDelivery)")
  rss_a+=("$(measure "$a" connect rssBytesPerConnection)"); rss_b+=("$(measure "$b" connect rssBytesPerConnection)")
  printf 'round %d: CPU µs/delivery A %.2f B %.2f; RSS B/connection A %.0f B %.0f\n' "$i" \
    "${cpu_a[-1]}" "${cpu_b[-1]}" "${rss_a[-1]}" "${rss_b[-1]}"
done
node -e '
  const [ca, cb, ra, rb] = process.argv.slice(1).map((s) => s.split(" ").map(Number));
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(`mean CPU µs/delivery: A ${mean(ca).toFixed(2)}, B ${mean(cb).toFixed(2)}, B/A ${(mean(cb) / mean(ca)).toFixed(3)}`);
  console.log(`mean RSS KiB/connection: A ${(mean(ra) / 1024).toFixed(2)}, B ${(mean(rb) / 1024).toFixed(2)}, B/A ${(mean(rb) / mean(ra)).toFixed(3)}`);
' "${cpu_a[*]}" "${cpu_b[*]}" "${rss_a[*]}" "${rss_b[*]}"
