/**
 * @file PyTorch .pth / .pth.tar reader (torch.save zip format, torch >= 1.6): data-only unpickling,
 * storages read on demand from `<archive>/data/<key>`, state dict found under model / state_dict.
 */
import { FormatError } from "../errors.js";
import { GlobalRef, type GlobalHandler, PYTHON_GLOBALS, describePickled, opaque, unpickle } from "./pickle.js";
import { type CheckpointDType, type NamedTensor, DTYPE_BYTES, shapeSize, viewOrDecode } from "./tensor.js";
import { type ByteSource, ZipArchive, looksLikeZip, memorySource, withFileSource } from "./zip.js";

/** torch storage classes and the element type each holds. */
const STORAGE_DTYPES: Record<string, CheckpointDType> = {
  "torch.FloatStorage": "F32", "torch.HalfStorage": "F16", "torch.BFloat16Storage": "BF16",
  "torch.DoubleStorage": "F64", "torch.LongStorage": "I64", "torch.IntStorage": "I32",
  "torch.ShortStorage": "I16", "torch.CharStorage": "I8", "torch.ByteStorage": "U8", "torch.BoolStorage": "BOOL",
};

/** One storage (`<archive>/data/<key>`), read from the archive the first time a tensor needs it. */
class TorchStorage {
  private bytes: Uint8Array | undefined;
  constructor(readonly dtype: CheckpointDType, readonly key: string, private readonly zip: ZipArchive, private readonly entry: string) {}

  /** Storage bytes; length checked to be a whole number of elements. */
  load(): Uint8Array {
    if (!this.bytes) {
      const b = this.zip.read(this.entry);
      if (b.length % DTYPE_BYTES[this.dtype] !== 0) throw new FormatError(`${this.zip.src.name}: storage "${this.entry}" has ${b.length} bytes, not a multiple of ${this.dtype}'s ${DTYPE_BYTES[this.dtype]}`);
      this.bytes = b;
    }
    return this.bytes;
  }
}

/**
 * A tensor as pickled: storage, element offset, shape and strides. Its values are read only when
 * `load()` is called, so optimizer state in a checkpoint costs nothing unless asked for.
 */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage, readonly offset: number, readonly shape: number[], readonly stride: number[],
    private readonly source: string,
  ) {}

  get dtype(): CheckpointDType { return this.storage.dtype; }

  /**
   * Values as float32. Contiguous F32 tensors alias the storage bytes (tensors that share a
   * storage share memory: copy before writing in place); strided tensors are gathered into a copy.
   */
  load(): NamedTensor {
    const where = `${this.source}: tensor in storage "${this.storage.key}"`;
    const numel = shapeSize(this.shape, where);
    const bytes = this.storage.load();
    const esize = DTYPE_BYTES[this.dtype];
    const capacity = bytes.length / esize;
    const shape = [...this.shape];
    if (numel === 0) return { dtype: this.dtype, shape, data: new Float32Array(0) };
    let last = this.offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * this.stride[i]!;
    if (last >= capacity) throw new FormatError(`${where}: offset ${this.offset}, shape ${JSON.stringify(shape)}, stride ${JSON.stringify(this.stride)} reach element ${last} of a ${capacity}-element storage`);
    let contiguous = true;
    for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
      if (shape[i] !== 1 && this.stride[i] !== expect) contiguous = false;
      expect *= shape[i]!;
    }
    if (contiguous) return { dtype: this.dtype, shape, data: viewOrDecode(this.dtype, bytes, this.offset * esize, numel) };
    // Stride-0 (expanded) tensors may legally exceed their storage; cap that so a hostile shape cannot allocate without bound.
    if (numel > capacity && numel > 1 << 26) throw new FormatError(`${where}: strided shape ${JSON.stringify(shape)} would expand a ${capacity}-element storage to ${numel} elements`);
    const all = viewOrDecode(this.dtype, bytes, 0, capacity);
    const out = new Float32Array(numel);
    const idx = new Array<number>(shape.length).fill(0);
    for (let n = 0, at = this.offset; n < numel; n++) {
      out[n] = all[at]!;
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) { at += this.stride[d]!; break; }
        at -= (shape[d]! - 1) * this.stride[d]!;
        idx[d] = 0;
      }
    }
    return { dtype: this.dtype, shape, data: out };
  }
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
}

/** torch's allow-listed GLOBALs: tensor and parameter rebuilds, plus the benign Python ones. */
function torchGlobals(source: string): Record<string, GlobalHandler> {
  const rebuildTensor: GlobalHandler = (args) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof TorchStorage)) throw new FormatError(`${source}: _rebuild_tensor_v2 expects a storage, got ${typeof storage}`);
    if (!Number.isSafeInteger(offset) || (offset as number) < 0 || !isIntArray(size) || !isIntArray(stride) || size.length !== stride.length) {
      throw new FormatError(`${source}: _rebuild_tensor_v2 has bad offset/size/stride ${describePickled([offset, size, stride])}`);
    }
    return new TorchTensor(storage, offset as number, size, stride, source);
  };
  const firstArg: GlobalHandler = (args) => args[0];
  const notCallable: GlobalHandler = (_args, _src, name) => { throw new FormatError(`${source}: pickle calls "${name}", which is only allowed as a storage type`); };
  const globals: Record<string, GlobalHandler> = {
    ...PYTHON_GLOBALS,
    "torch._utils._rebuild_tensor_v2": rebuildTensor,
    "torch._utils._rebuild_parameter": firstArg,
    "torch._utils._rebuild_parameter_with_state": firstArg,
    "torch.nn.parameter.Parameter": firstArg,
    // (func, new_type, args, state): apply func, which must itself have passed the allow-list.
    "torch._tensor._rebuild_from_type_v2": (args, src) => {
      const [fn, , inner] = args;
      if (!(fn instanceof GlobalRef) || !Array.isArray(inner)) throw new FormatError(`${src}: _rebuild_from_type_v2 expects (function, type, args, state)`);
      return fn.handler(inner, src, fn.fullName);
    },
    "torch.Tensor": notCallable,
    "torch.Size": (args) => args[0],
    "torch.device": opaque,
  };
  for (const name of Object.keys(STORAGE_DTYPES)) globals[name] = notCallable;
  return globals;
}

/** Result of reading a PyTorch checkpoint. */
export interface PthFile {
  /** The state dict's tensors, float32, with any "module." prefix stripped. */
  tensors: Map<string, NamedTensor>;
  /** Where the state dict was found: "model", "state_dict", or "" for the top level. */
  stateDictKey: string;
  /** The whole unpickled object: Maps, arrays, primitives, {@link TorchTensor}s (lazy). */
  raw: unknown;
}

/** Options for {@link readPth}. */
export interface PthOptions {
  /** Use this top-level key as the state dict instead of searching "model", "state_dict", top level. */
  stateDictKey?: string;
}

function hasTensors(v: unknown): v is Map<unknown, unknown> {
  if (!(v instanceof Map)) return false;
  for (const x of v.values()) if (x instanceof TorchTensor) return true;
  return false;
}

function readArchive(src: ByteSource, opts: PthOptions): PthFile {
  const name = src.name;
  const head = src.read(0, Math.min(8, src.size));
  if (!looksLikeZip(head)) {
    if (head[0] === 0x80) throw new FormatError(`${name}: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch >= 1.6`);
    throw new FormatError(`${name}: not a PyTorch zip checkpoint (bad magic)`);
  }
  const zip = ZipArchive.open(src);
  const pkls = [...zip.entries.keys()].filter((k) => k === "data.pkl" || k.endsWith("/data.pkl"));
  if (pkls.length !== 1) throw new FormatError(`${name}: expected one data.pkl in the archive, found ${pkls.length}`);
  const prefix = pkls[0]!.slice(0, -"data.pkl".length);
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`));
    if (order !== "little") throw new FormatError(`${name}: byteorder "${order}" is not supported (little only)`);
  }
  const storages = new Map<string, TorchStorage>();
  const raw = unpickle(zip.read(pkls[0]!), `${name}:${pkls[0]}`, {
    globals: torchGlobals(name),
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid[0] !== "storage" || !(pid[1] instanceof GlobalRef) || typeof pid[2] !== "string") {
        throw new FormatError(`${name}: unsupported persistent id ${describePickled(pid)}`);
      }
      const dtype = STORAGE_DTYPES[pid[1].fullName];
      if (!dtype) throw new FormatError(`${name}: unsupported storage type "${pid[1].fullName}"`);
      const key = pid[2];
      let s = storages.get(key);
      if (!s) {
        const entry = `${prefix}data/${key}`;
        if (!zip.entries.has(entry)) throw new FormatError(`${name}: zip entry "${entry}" is missing (storage "${key}")`);
        s = new TorchStorage(dtype, key, zip, entry);
        storages.set(key, s);
      }
      return s;
    },
  });
  let stateDictKey = "";
  let dict: unknown = raw;
  if (opts.stateDictKey !== undefined) {
    stateDictKey = opts.stateDictKey;
    dict = raw instanceof Map ? raw.get(stateDictKey) : undefined;
    if (!(dict instanceof Map)) throw new FormatError(`${name}: no dict under key "${stateDictKey}"`);
  } else if (raw instanceof Map) {
    for (const k of ["model", "state_dict"]) {
      if (hasTensors(raw.get(k))) { stateDictKey = k; dict = raw.get(k); break; }
    }
  }
  if (!hasTensors(dict)) {
    const keys = raw instanceof Map ? [...raw.keys()].map(String).join(", ") : typeof raw;
    throw new FormatError(`${name}: no state dict found under "model", "state_dict" or the top level (top-level keys: ${keys})`);
  }
  // Tensors are materialised while the file is still open: storages are read on demand.
  const tensors = new Map<string, NamedTensor>();
  for (const [k, v] of dict) {
    if (!(v instanceof TorchTensor)) continue;
    const key = String(k).startsWith("module.") ? String(k).slice("module.".length) : String(k);
    tensors.set(key, v.load());
  }
  return { tensors, stateDictKey, raw };
}

/**
 * Reads a PyTorch checkpoint and returns its state dict: under "model" (MAE), under "state_dict"
 * (MoCo v3; "module." stripped, "base_encoder." kept for the key mapper) or at the top level.
 * Tensors in `raw` outside the state dict can be loaded only from a buffer read ({@link parsePth}).
 */
export function readPth(file: string, opts: PthOptions = {}): PthFile {
  return withFileSource(file, (src) => readArchive(src, opts));
}

/** In-memory variant of {@link readPth}; every tensor in `raw` stays loadable. */
export function parsePth(bytes: Uint8Array, source = "<buffer>", opts: PthOptions = {}): PthFile {
  return readArchive(memorySource(bytes, source), opts);
}
