/** @file Error classes: user errors name where, what and which value; internal errors ask for a report. */

/** Base class of every error this library throws on purpose. */
export class SnellError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value is invalid (unknown name, out of range, inconsistent). */
export class ConfigError extends SnellError {}

/** Two shapes or dtypes do not fit an op. */
export class ShapeError extends SnellError {}

/** A gradient was asked of an op that has no rule, or may never have one. */
export class GradError extends SnellError {}

/** A file (checkpoint, dataset list, image) is unreadable or malformed. */
export class FormatError extends SnellError {}

/** Running a compiled graph failed; the message names our node where ONNX Runtime gave one. */
export class RuntimeError extends SnellError {}

/** A bug in this library, not in the caller's input. */
export class InternalError extends SnellError {
  constructor(message: string, options?: ErrorOptions) {
    super(`internal: ${message} (please report this)`, options);
  }
}

/** Lists valid names in an "unknown X" message. */
export function unknownName(kind: string, got: string, valid: Iterable<string>): ConfigError {
  return new ConfigError(`unknown ${kind} "${got}"; expected one of ${[...valid].join(", ")}`);
}
