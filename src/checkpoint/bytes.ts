/** @file The byte-level half of src/checkpoint (no file system): safetensors parse and encode. */
export type { CheckpointDType, NamedTensor } from "./tensor.js";
export {
  type SafetensorsEntry, type SafetensorsFile, type SafetensorsHeader, type TensorToWrite, encodeSafetensors, parseSafetensors,
} from "./safetensors-bytes.js";
