/** @file Seeded random numbers (mulberry32 + Box-Muller) and the initialisers models use. */

/** A small, fast, seedable generator; its whole state is one 32-bit number (checkpointable). */
export class Rng {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/** U(-b, b) with b = 1/sqrt(fanIn): torch's kaiming_uniform_(a=sqrt(5)), as nn.Linear and the SNELL factors use. */
export function kaimingUniform(rng: Rng, n: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * bound;
  return out;
}

/** N(0, std^2) truncated at +-2 std (timm's trunc_normal_). */
export function truncNormal(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal();
    while (Math.abs(v) > 2) v = rng.normal();
    out[i] = v * std;
  }
  return out;
}
