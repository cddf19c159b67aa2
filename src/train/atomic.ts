/** @file The trainer's name for the one atomic file writer, which lives with the file formats in src/checkpoint/atomic.ts. */
export { fsyncDir, removeStaleTemps, tempPathFor, writeFileAtomic, type AtomicWriteOptions } from "../checkpoint/atomic.js";
