/**
 * @file Data-only Python unpickler: an allow-list of opcodes (protocols 2-5, binary forms) and of
 * GLOBALs, each mapped to a TypeScript handler. Nothing from the file is ever executed.
 */
import { FormatError } from "../errors.js";

/** A GLOBAL that passed the allow-list; pushing it is harmless, calling runs its handler. */
export class GlobalRef {
  constructor(readonly module: string, readonly name: string, readonly handler: GlobalHandler) {}
  get fullName(): string { return `${this.module}.${this.name}`; }
}

/**
 * An instance of an allow-listed class we do not model (argparse.Namespace, numpy scalars...):
 * kept as data, with the constructor arguments and the BUILD state as pickled.
 */
export class PickleObject {
  state: unknown = undefined;
  constructor(readonly global: string, readonly args: unknown[]) {}
}

/** What calling an allow-listed GLOBAL (REDUCE or NEWOBJ) produces; `source` is for errors. */
export type GlobalHandler = (args: unknown[], source: string, fullName: string) => unknown;

/** Handlers for GLOBALs and persistent ids; everything not listed is rejected. */
export interface UnpickleOptions {
  /** Allow-list keyed by "module.name". */
  globals: Record<string, GlobalHandler>;
  /** Resolves a BINPERSID id; without it persistent ids are rejected. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** Handler that records an instance as a {@link PickleObject}; for benign classes we keep as data. */
export const opaque: GlobalHandler = (args, _source, fullName) => new PickleObject(fullName, args);

/** Allow-listed Python globals that any data pickle may use (containers and plain records). */
export const PYTHON_GLOBALS: Record<string, GlobalHandler> = {
  "collections.OrderedDict": (args) => {
    const m = new Map<unknown, unknown>();
    if (Array.isArray(args[0])) for (const kv of args[0]) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
    return m;
  },
  // Protocol 2 writes Python 3 bytes as _codecs.encode(str, "latin1").
  "_codecs.encode": (args, source) => {
    const [s, enc] = args;
    if (typeof s !== "string" || (enc !== "latin1" && enc !== "latin-1")) throw new FormatError(`${source}: pickle _codecs.encode only supports (str, "latin1"), got ${typeof s}, ${String(enc)}`);
    return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
  },
  "argparse.Namespace": opaque,
  "pathlib.PosixPath": opaque,
  "pathlib.WindowsPath": opaque,
  "numpy.core.multiarray.scalar": opaque,
  "numpy.core.multiarray._reconstruct": opaque,
  "numpy.ndarray": opaque,
  "numpy.dtype": opaque,
};

/**
 * Short, safe text for an unpickled value in an error message: handles bigint, cycles, Maps and
 * globals, and truncates (JSON.stringify throws on the first two).
 */
export function describePickled(v: unknown, max = 120): string {
  const seen = new Set<unknown>();
  const go = (x: unknown, depth: number): string => {
    if (typeof x === "bigint") return `${x}`;
    if (typeof x === "string") return JSON.stringify(x.length > 40 ? x.slice(0, 40) + "..." : x);
    if (typeof x !== "object" || x === null) return String(x);
    if (x instanceof GlobalRef) return x.fullName;
    if (seen.has(x) || depth > 3) return "...";
    seen.add(x);
    if (Array.isArray(x)) return `(${x.slice(0, 8).map((y) => go(y, depth + 1)).join(", ")}${x.length > 8 ? ", ..." : ""})`;
    if (x instanceof Map) return `{${[...x].slice(0, 8).map(([k, y]) => `${go(k, depth + 1)}: ${go(y, depth + 1)}`).join(", ")}${x.size > 8 ? ", ..." : ""}}`;
    if (x instanceof Uint8Array) return `bytes[${x.length}]`;
    return x.constructor?.name ?? "object";
  };
  const s = go(v, 0);
  return s.length > max ? s.slice(0, max) + "..." : s;
}

const OP_NAMES: Record<number, string> = {
  0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
  0x47: "BINFLOAT", 0x4a: "BININT", 0x4b: "BININT1", 0x4d: "BININT2", 0x4e: "NONE", 0x51: "BINPERSID", 0x52: "REDUCE",
  0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x58: "BINUNICODE", 0x5d: "EMPTY_LIST", 0x61: "APPEND", 0x62: "BUILD",
  0x63: "GLOBAL", 0x64: "DICT", 0x65: "APPENDS", 0x68: "BINGET", 0x6a: "LONG_BINGET", 0x6c: "LIST", 0x71: "BINPUT",
  0x72: "LONG_BINPUT", 0x73: "SETITEM", 0x74: "TUPLE", 0x75: "SETITEMS", 0x7d: "EMPTY_DICT", 0x29: "EMPTY_TUPLE",
  0x80: "PROTO", 0x81: "NEWOBJ", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE",
  0x8a: "LONG1", 0x8b: "LONG4", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET",
  0x90: "ADDITEMS", 0x91: "FROZENSET", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
};

/**
 * Unpickles `bytes` as data. Dicts become `Map`, lists and tuples arrays, sets arrays, str
 * strings, bytes Uint8Array, ints numbers (bigint beyond 2^53), None null. Any opcode or GLOBAL
 * outside the allow-lists, and any malformed input, throws FormatError naming `source`.
 */
export function unpickle(bytes: Uint8Array, source: string, opts: UnpickleOptions): unknown {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8");
  const latin1 = new TextDecoder("latin1");
  const memo = new Map<number, unknown>();
  const metastack: unknown[][] = [];
  let stack: unknown[] = [];
  let pos = 0;
  let opPos = 0;

  const fail = (what: string): never => { throw new FormatError(`${source}: pickle ${what} (at byte ${opPos})`); };
  const need = (n: number): void => { if (n < 0 || pos + n > bytes.length) fail(`truncated: needs ${n} bytes, ${bytes.length - pos} left`); };
  const take = (n: number): Uint8Array => { need(n); const b = bytes.subarray(pos, pos + n); pos += n; return b; };
  const u8 = (): number => { need(1); return bytes[pos++]!; };
  const u32 = (): number => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const v = Number(dv.getBigUint64(pos, true));
    pos += 8;
    return v;
  };
  const pop = (): unknown => (stack.length === 0 ? fail("stack underflow") : stack.pop());
  const top = (): unknown => (stack.length === 0 ? fail("stack underflow") : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail("MARK missing");
    stack = prev!;
    return items;
  };
  const asString = (v: unknown, what: string): string => (typeof v === "string" ? v : fail(`${what} must be a string, got ${typeof v}`));
  const resolve = (module: string, name: string): GlobalRef => {
    const full = `${module}.${name}`;
    if (!Object.prototype.hasOwnProperty.call(opts.globals, full)) {
      fail(`GLOBAL "${full}" is not allowed (data-only loader; nothing was executed). Allowed: ${Object.keys(opts.globals).join(", ")}`);
    }
    return new GlobalRef(module, name, opts.globals[full]!);
  };
  const call = (fn: unknown, args: unknown, op: string): unknown => {
    if (!(fn instanceof GlobalRef)) return fail(`${op} on a non-callable ${typeof fn}`);
    if (!Array.isArray(args)) return fail(`${op} arguments must be a tuple`);
    return fn.handler(args, source, fn.fullName);
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail(`SETITEM(S) on a non-dict`);
    if (items.length % 2 !== 0) fail("SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  while (pos < bytes.length) {
    opPos = pos;
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { const v = u8(); if (v < 2 || v > 5) fail(`protocol ${v} is not supported (need 2-5)`); break; } // PROTO
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x2e: { // STOP
        const v = pop();
        if (metastack.length !== 0) fail("STOP inside an open MARK");
        return v;
      }
      case 0x30: pop(); break;
      case 0x31: popMark(); break;
      case 0x32: stack.push(top()); break;
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: need(4); stack.push(dv.getInt32(pos, true)); pos += 4; break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: need(2); stack.push(dv.getUint16(pos, true)); pos += 2; break; // BININT2
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { const n = dv.byteLength >= pos + 4 ? dv.getInt32(pos, true) : -1; u32(); if (n < 0) fail("LONG4 with a negative length"); stack.push(decodeLong(take(n))); break; }
      case 0x47: need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(latin1.decode(take(u32()))); break; // BINSTRING
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x8f: stack.push([]); break; // EMPTY_SET (as an array)
      // popMark swaps `stack`, so take the items before naming the stack to push on.
      case 0x74: case 0x6c: case 0x91: { const items = popMark(); stack.push(items); break; } // TUPLE, LIST, FROZENSET
      case 0x85: { const a = pop(); stack.push([a]); break; }
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; }
      case 0x64: { const m = new Map(); setItems(m, popMark()); stack.push(m); break; } // DICT
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail("APPEND to a non-list"); (l as unknown[]).push(v); break; }
      case 0x65: case 0x90: { // APPENDS, ADDITEMS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail(`${OP_NAMES[op]} to a non-list`);
        for (const it of items) (l as unknown[]).push(it);
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} is not defined`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const readLine = (): string => {
          const nl = bytes.indexOf(0x0a, pos);
          if (nl < 0 || nl - pos > 256) fail("GLOBAL name is unterminated");
          const s = latin1.decode(bytes.subarray(pos, nl));
          pos = nl + 1;
          return s;
        };
        const module = readLine();
        stack.push(resolve(module, readLine()));
        break;
      }
      case 0x93: { const name = asString(pop(), "STACK_GLOBAL name"); stack.push(resolve(asString(pop(), "STACK_GLOBAL module"), name)); break; }
      case 0x52: { const args = pop(); stack.push(call(pop(), args, "REDUCE")); break; }
      case 0x81: { const args = pop(); stack.push(call(pop(), args, "NEWOBJ")); break; }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickleObject) obj.state = state;
        // Maps get BUILD for OrderedDict attributes (a state dict's _metadata); tensors for hooks. Neither matters here.
        else if (!(obj instanceof Map) && (typeof obj !== "object" || obj === null || Array.isArray(obj))) fail(`BUILD on a ${Array.isArray(obj) ? "list" : typeof obj}`);
        break;
      }
      case 0x51: { // BINPERSID
        if (!opts.persistentLoad) fail("persistent ids are not allowed here");
        stack.push(opts.persistentLoad!(pop()));
        break;
      }
      default:
        fail(`opcode ${OP_NAMES[op] ?? "0x" + op.toString(16).padStart(2, "0")} is not allowed (data-only loader)`);
    }
  }
  return fail("ended without STOP (truncated?)");
}
