/** @file What the plots share: the palette, the font, text escaping and SVG -> PNG through sharp. */
import sharp from "sharp";
import { writeFileAtomic } from "../checkpoint/atomic.js";

/** Colour per series (matplotlib's tab10), so the plots read like the paper's figures. */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export const FONT = `font-family="DejaVu Sans, Arial, Helvetica, sans-serif"`;

/** Escapes text for an SVG element or attribute. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Rasterises SVG text to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Writes the PNG of `svg` to `file` atomically and returns its path. */
export async function writeSvgPng(file: string, svg: string): Promise<string> {
  writeFileAtomic(file, await svgToPng(svg));
  return file;
}
