#!/usr/bin/env bash
# The "Many runs" show case on one machine: a local redis-server, two `snell worker` processes and the
# demo's four methods x 3 seeds (docs/many-runs/demo-sweep.yaml) through the queue, then `snell report`.
# Usage: bash scripts/demo-queue-sweep.sh RUNS_DIR   (needs redis-server: scripts/install-redis.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: demo-queue-sweep.sh RUNS_DIR}
mkdir -p "$runs"
[ -d demo-task ] || node --import tsx scripts/export-demo-task.ts demo-task
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --dir "$runs" --daemonize no > "$runs/redis.log" 2>&1 &
redis=$!
trap 'kill $redis ${w1:-} ${w2:-} 2>/dev/null || true' EXIT
sleep 1
q="redis://127.0.0.1:$port"
start=$(date +%s)
node --import tsx src/cli/main.ts worker --queue "$q" --runs "$runs" > "$runs/worker1.log" 2>&1 & w1=$!
node --import tsx src/cli/main.ts worker --queue "$q" --runs "$runs" > "$runs/worker2.log" 2>&1 & w2=$!
node --import tsx src/cli/main.ts sweep docs/many-runs/demo-sweep.yaml --queue "$q"
# Wait until every job has finished or failed.
pending() { node --import tsx src/cli/main.ts status --queue "$q" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(r=>!["completed","failed"].includes(r.state)).length))'; }
while [ "$(pending)" != 0 ]; do sleep 15; done
node --import tsx src/cli/main.ts status --queue "$q"
echo "wall: $(( $(date +%s) - start )) s"
node --import tsx src/cli/main.ts report "$runs" --sweep docs/many-runs/demo-sweep.yaml --charts "$runs/charts"
