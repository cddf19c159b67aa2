/** @file ImageFolder layout (torchvision): one sub-folder per class, classes sorted by name. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { FormatError } from "../errors.js";
import { ListDataset, type Sample } from "./dataset.js";

/** torchvision's IMG_EXTENSIONS, compared case-insensitively. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"] as const;

export interface ImageFolderOptions {
  /** File extensions to keep, lower case with the dot. */
  extensions?: readonly string[];
}

function walk(dir: string, keep: (f: string) => boolean, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(name)) out.push(p);
  }
}

/** Reads `<root>/<class>/**\/<image>`; class ids follow the sorted folder names, files are sorted too. */
export function readImageFolder(root: string, opts: ImageFolderOptions = {}): ListDataset {
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FormatError(`image folder ${dir} does not exist or is not a folder`);
  const exts = (opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
  const keep = (f: string) => exts.includes(extname(f).toLowerCase());
  const classes = readdirSync(dir)
    .filter((n) => statSync(join(dir, n)).isDirectory())
    .sort();
  if (classes.length === 0) throw new FormatError(`${dir}: empty dataset (no class sub-folders)`);
  const samples: Sample[] = [];
  classes.forEach((cls, label) => {
    const files: string[] = [];
    walk(join(dir, cls), keep, files);
    if (files.length === 0) {
      throw new FormatError(`${join(dir, cls)}: class folder holds no image (extensions ${exts.join(" ")})`);
    }
    for (const f of files) samples.push({ source: f, label, origin: f });
  });
  return new ListDataset(samples, classes.length, classes);
}
