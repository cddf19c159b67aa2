/** @file SNELLA's MixK kernel: K + alpha * softmax(K / gamma, over outputs) + beta; (alpha, gamma, beta) start at (1, 1, 0). */
export { mixKernel } from "../snell/kernel.js";

/** Initial (alpha, gamma, beta), the order of the stored `snella_mix` parameter. */
export const MIX_INIT: readonly [number, number, number] = [1, 1, 0];
