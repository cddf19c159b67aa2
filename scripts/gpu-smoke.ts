/**
 * @file Device smoke test for scripts/gpu-probe.sh: per device, whether a session starts (or the one
 * ConfigError it gives), a [N, N] x [N, N] MatMul + Tanh against the CPU result, and its median run time
 * (a GPU that really runs it is far faster than CPU at N = 2048). One JSON line per device.
 * node --import tsx scripts/gpu-smoke.ts [--n 2048] [--devices cpu,webgpu,cuda]
 */
import { GraphBuilder } from "../src/ir/builder.js";
import { CompiledGraph } from "../src/runtime/compiled.js";
import { parseDevice, type Device } from "../src/runtime/device.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const n = Number(opt("n", "2048"));
const devices = opt("devices", "cpu,webgpu,cuda").split(",").map(parseDevice);

function graph(): GraphBuilder {
  const g = new GraphBuilder("smoke");
  const a = g.input("a", [n, n]);
  const b = g.input("b", [n, n]);
  g.output(g.Tanh(g.MatMul(a, b)), "y");
  return g;
}

// Values k/n-ish in [-1, 1], so the product stays well inside tanh's slope and float32 sums agree.
const a = Float32Array.from({ length: n * n }, (_, i) => (((i * 7) % 13) - 6) / (6 * Math.sqrt(n)));
const b = Float32Array.from({ length: n * n }, (_, i) => (((i * 5) % 11) - 5) / (5 * Math.sqrt(n)));

async function run(device: Device): Promise<{ y: Float32Array; ms: number }> {
  const c = await CompiledGraph.compile(graph(), { device });
  const times: number[] = [];
  let y: Float32Array = new Float32Array();
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    y = (await c.run({ a, b })).y!.data as Float32Array;
    if (i) times.push(performance.now() - t0);
  }
  await c.release();
  return { y, ms: times.sort((p, q) => p - q)[times.length >> 1]! };
}

const cpu = await run("cpu");
for (const device of devices) {
  try {
    const r = device === "cpu" ? cpu : await run(device);
    let maxDiff = 0;
    for (let i = 0; i < r.y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.y[i]! - cpu.y[i]!));
    console.log(JSON.stringify({ device, ok: true, n, median_ms: r.ms, cpu_median_ms: cpu.ms, max_abs_diff_vs_cpu: maxDiff }));
  } catch (e) {
    console.log(JSON.stringify({ device, ok: false, error: `${(e as Error).name}: ${(e as Error).message}` }));
  }
}
