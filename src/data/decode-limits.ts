/**
 * @file Bounds on what one image may cost to decode. A 0.7 MB PNG can claim 16000x16000 pixels (1.7 GB
 * decoded), so the header is read first: above MAX_IMAGE_PIXELS the image is refused, and above
 * SHRINK_ABOVE_PIXELS it is shrunk while it is decoded (libvips streams the resize and JPEG decodes
 * at 1/2, 1/4 or 1/8 scale) to fit SHRINK_TO_SIDE, far more than any model input needs. Images under
 * SHRINK_ABOVE_PIXELS, i.e. every VTAB-1k and FGVC image, decode exactly as before.
 */
import sharp from "sharp";
import { FormatError } from "../errors.js";

/** Largest image accepted, in pixels (64 MiP, e.g. 8192x8192); documented in the README. */
export const MAX_IMAGE_PIXELS = 8192 * 8192;
/** Images with more pixels than this are shrunk on load. */
export const SHRINK_ABOVE_PIXELS = 4096 * 4096;
/** The longer side a shrunk image is reduced to. */
export const SHRINK_TO_SIDE = 2048;

/**
 * A sharp pipeline over `file` whose decode is bounded: refuses more than `maxPixels` (FormatError
 * naming the size) and shrinks large images on load.
 */
export async function openBounded(file: string, maxPixels = MAX_IMAGE_PIXELS): Promise<ReturnType<typeof sharp>> {
  // limitInputPixels also guards formats whose header metadata() cannot read cheaply.
  const img = sharp(file, { limitInputPixels: maxPixels });
  const { width, height } = await sharp(file, { limitInputPixels: false }).metadata();
  if (width === undefined || height === undefined) return img;
  if (width * height > maxPixels) {
    throw new FormatError(`image is ${width}x${height} = ${(width * height / 1e6).toFixed(0)} megapixels, above the limit of ${(maxPixels / 1e6).toFixed(0)} megapixels`);
  }
  if (width * height <= SHRINK_ABOVE_PIXELS) return img;
  return img.resize({ width: SHRINK_TO_SIDE, height: SHRINK_TO_SIDE, fit: "inside", fastShrinkOnLoad: true });
}
