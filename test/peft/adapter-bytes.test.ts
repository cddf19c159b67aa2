/**
 * @file Adapters as bytes (what a browser page downloads and loads): the same bytes as the files
 * saveAdapter writes, a byte-exact round trip, fingerprints as node:crypto computed them before the
 * platform seam, and damaged bytes refused.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, applyAdapterFiles, encodeAdapter } from "../../src/peft/adapter-bytes.js";
import { applyAdapters, fingerprintParams } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";

const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const base = { cfg, params: createVitParams(cfg, new Rng(1)), name: "tiny" };
const snell = { method: "snell", rank: 4, sparsity: 0.5 };
const tmp = mkdtempSync(join(tmpdir(), "adapter-bytes-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A trained-looking model: its adapter tensors moved off their initial values. */
function trained() {
  const pm = applyAdapters(base, snell, { seed: 2 });
  const rng = new Rng(9);
  for (const n of pm.savedNames()) pm.params.set(n, pm.params.get(n).data.map((x) => x + rng.normal() * 0.1));
  return pm;
}

test("encodeAdapter gives the bytes saveAdapter writes", () => {
  const pm = trained();
  const dir = join(tmp, "a");
  pm.saveAdapter(dir);
  const files = encodeAdapter(pm);
  assert.equal(readFileSync(join(dir, ADAPTER_CONFIG_FILE), "utf8"), files[ADAPTER_CONFIG_FILE]);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, ADAPTER_WEIGHTS_FILE))), files[ADAPTER_WEIGHTS_FILE]);
});

test("the fingerprint is node:crypto's sha256 of the sorted name:shape lines, as before the platform seam", () => {
  const pm = trained();
  const lines = pm.baseNames.map((n) => `${n}:${pm.params.get(n).shape.join("x")}`).sort().join("\n");
  const want = `sha256:${createHash("sha256").update(lines).digest("hex")}`;
  assert.equal(pm.baseFingerprint(), want);
  assert.equal(fingerprintParams([{ name: "é", shape: [2, 3] }]), `sha256:${createHash("sha256").update("é:2x3").digest("hex")}`);
  assert.equal(JSON.parse(encodeAdapter(pm)[ADAPTER_CONFIG_FILE]).base_model.fingerprint, want);
});

test("applyAdapterFiles loads the tensors into a fresh model, which encodes to the same bytes", () => {
  const pm = trained();
  const files = encodeAdapter(pm);
  const fresh = applyAdapters(base, snell, { seed: 7 });
  assert.notDeepEqual(fresh.params.get(pm.savedNames()[0]!).data, pm.params.get(pm.savedNames()[0]!).data);
  applyAdapterFiles(fresh, files);
  for (const n of pm.savedNames()) assert.deepEqual(fresh.params.get(n).data, pm.params.get(n).data, n);
  assert.deepEqual(encodeAdapter(fresh), files);
});

test("a flipped byte in the weights is refused as corrupt", () => {
  const files = encodeAdapter(trained());
  const w = files[ADAPTER_WEIGHTS_FILE].slice();
  w[w.length - 3]! ^= 0x10;
  assert.throws(() => applyAdapterFiles(applyAdapters(base, snell), { ...files, [ADAPTER_WEIGHTS_FILE]: w }),
    (e: unknown) => e instanceof FormatError && /adapter_model\.safetensors is corrupt/.test((e as Error).message));
});
