/**
 * @file The demo's model and schedule, apart from its MNIST data (src/demo/mnist-tasks.ts), so the
 * browser page (src/web) takes them without the Node-only MNIST reader.
 */
import type { BackboneConfigBase } from "../models/backbone.js";
import { resolveVariant } from "../models/registry.js";

/**
 * The demo backbone: a small ViT on 28x28 single-channel digits (4x4 patches of 7 pixels), registered as
 * the named variant "demo-vit-mnist04" so `snell train --model demo-vit-mnist04` builds the same model.
 */
export const DEMO_VARIANT = resolveVariant("demo-vit-mnist04");
export const DEMO_VIT: BackboneConfigBase = { ...DEMO_VARIANT.config };

/**
 * The demo's trainer settings besides epochs, batch, lr and decay: the authors' cosine schedule with
 * one warm-up epoch (10 is for 100-epoch runs), stepped per optimizer step as the runs are short.
 */
export const DEMO_SCHEDULE = { warmupEpochs: 1, warmupLr: 1e-6, minLr: 1e-5, scheduleUpdate: "step", evalEvery: 1, dropLast: true } as const;
