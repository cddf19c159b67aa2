/** @file Weight-file readers and writers: safetensors, NumPy .npy/.npz and PyTorch .pth (data-only pickle). */
export type { CheckpointDType, NamedTensor } from "./tensor.js";
export {
  type SafetensorsEntry, type SafetensorsFile, type SafetensorsHeader, type TensorToWrite,
  encodeSafetensors, loadSafetensors, parseSafetensors, readSafetensors, readSafetensorsHeader, writeSafetensors,
} from "./safetensors.js";
export { type NpyHeader, parseNpy, readNpy } from "./npy.js";
export { parseNpz, readNpz } from "./npz.js";
export { type PthFile, type PthOptions, TorchTensor, parsePth, readPth } from "./pth.js";
export { GlobalRef, PickleObject, type UnpickleOptions, unpickle } from "./pickle.js";
