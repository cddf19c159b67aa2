/**
 * @file The page's downloads: the adapter as `snell train` writes it (adapter/adapter_config.json and
 * adapter/adapter_model.safetensors, zipped with fflate) and the merged inference ONNX model.
 */
import { zipSync } from "fflate";
import type { PeftModel } from "../../peft/apply.js";
import { exportOnnxBytes } from "../../peft/export.js";
import { encodeAdapter } from "../../peft/adapter-bytes.js";

export interface DownloadFiles {
  /** adapter.zip holding adapter/<the two files>. */
  adapterZip: Uint8Array;
  /** The merged model: pixel_values [1, C, H, W] -> logits. */
  mergedOnnx: Uint8Array;
}

/** Builds both downloads from the trained model. */
export function buildDownloads(pm: PeftModel): DownloadFiles {
  const files = encodeAdapter(pm);
  const enc = (b: string | Uint8Array) => (typeof b === "string" ? new TextEncoder().encode(b) : b);
  const adapterZip = zipSync(Object.fromEntries(Object.entries(files).map(([n, b]) => [`adapter/${n}`, enc(b)])));
  return { adapterZip, mergedOnnx: exportOnnxBytes(pm, { batch: 1 }).bytes };
}

/** Replaces the children of `el` with one link per download. */
export function showDownloads(el: HTMLElement, d: DownloadFiles): void {
  const link = (name: string, bytes: Uint8Array, text: string) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([bytes as BlobPart]));
    a.download = name;
    a.id = `download-${name.replace(/\W/g, "-")}`;
    a.textContent = `${text} (${(bytes.byteLength / 1024).toFixed(0)} KiB)`;
    return a;
  };
  el.replaceChildren(
    link("adapter.zip", d.adapterZip, "adapter (snell eval / PEFT-style files)"),
    link("model.onnx", d.mergedOnnx, "merged ONNX model"),
  );
}
