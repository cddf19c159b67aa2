/** @file Per-epoch progress: a cli-progress bar with ETA and running loss on a terminal, plain lines otherwise. */
import cliProgress from "cli-progress";

/** What a progress display needs to know at each update. */
export interface ProgressUpdate {
  /** Running mean loss of the epoch so far. */
  loss?: number;
  /** Current learning rate. */
  lr?: number;
}

/** A progress display for one loop of `total` steps. */
export interface Progress {
  /** Reports that `done` of `total` steps are complete. */
  update(done: number, info?: ProgressUpdate): void;
  /** Finishes the display (prints the last plain line, or releases the terminal). */
  stop(): void;
}

/** Options of createProgress. */
export interface ProgressOptions {
  /** Steps in this loop (e.g. batches per epoch). */
  total: number;
  /** Prefix such as "epoch 3/100". */
  label: string;
  /** Where to write (default process.stderr, so stdout stays clean for results). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force the bar (true) or plain lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: minimum milliseconds between lines (default 10 s); the first and last step always print. */
  intervalMs?: number;
  /** Clock in ms, injectable for tests (default Date.now). */
  now?: () => number;
}

/** "1h02m", "3m05s", "42s": short durations for ETA text. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}

function fmtLoss(loss: number | undefined): string {
  return loss === undefined ? "-" : Number.isFinite(loss) ? loss.toFixed(4) : String(loss);
}

/** Plain-line progress: `label step d/t (p%) loss x lr y elapsed e eta r`, rate-limited. */
class LineProgress implements Progress {
  private readonly start: number;
  private lastPrint = -Infinity;
  private last: { done: number; info: ProgressUpdate } | null = null;
  private printedDone = -1;
  constructor(private readonly o: Required<Omit<ProgressOptions, "tty">>) {
    this.start = o.now();
  }
  update(done: number, info: ProgressUpdate = {}): void {
    this.last = { done, info };
    const t = this.o.now();
    if (done === 1 || done >= this.o.total || t - this.lastPrint >= this.o.intervalMs) this.print(t);
  }
  stop(): void {
    if (this.last && this.printedDone !== this.last.done) this.print(this.o.now());
  }
  private print(t: number): void {
    const { done, info } = this.last!;
    const { total, label } = this.o;
    const elapsed = (t - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const lr = info.lr === undefined ? "" : ` lr ${info.lr.toExponential(3)}`;
    this.o.stream.write(
      `${label} step ${done}/${total} (${pct}%) loss ${fmtLoss(info.loss)}${lr} elapsed ${formatDuration(elapsed)} eta ${formatDuration(eta)}\n`,
    );
    this.lastPrint = t;
    this.printedDone = done;
  }
}

/** Terminal progress bar (cli-progress computes the ETA from a moving window of recent steps). */
class BarProgress implements Progress {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  constructor(private readonly o: ProgressOptions & { stream: NodeJS.WritableStream }) {
    this.bar = new cliProgress.SingleBar({
      format: `${o.label} |{bar}| {value}/{total} loss {loss} | {duration_formatted} eta {eta_formatted}`,
      stream: o.stream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    }, cliProgress.Presets.shades_classic);
  }
  update(done: number, info: ProgressUpdate = {}): void {
    const payload = { loss: fmtLoss(info.loss) };
    if (!this.started) {
      this.bar.start(this.o.total, done, payload);
      this.started = true;
    } else {
      this.bar.update(done, payload);
    }
  }
  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** A bar on a TTY, plain lines elsewhere (CI logs, `| tee`, files). */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  if (tty) return new BarProgress({ ...opts, stream });
  return new LineProgress({
    total: opts.total, label: opts.label, stream, intervalMs: opts.intervalMs ?? 10_000, now: opts.now ?? Date.now,
  });
}
