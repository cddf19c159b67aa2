/** @file The live chart: training loss per step (line) and test top-1 per evaluation (dots), on one canvas. */

export interface ChartData {
  losses: readonly number[];
  evals: readonly { step: number; top1: number }[];
  /** Steps the run will take (x axis length). */
  totalSteps: number;
}

const PAD = { left: 48, right: 48, top: 16, bottom: 28 };

/** Redraws the whole chart (cheap at these sizes: a few thousand points at most). */
export function drawChart(canvas: HTMLCanvasElement, d: ChartData): void {
  const ctx = canvas.getContext("2d")!;
  const W = canvas.width, H = canvas.height;
  const w = W - PAD.left - PAD.right, h = H - PAD.top - PAD.bottom;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px sans-serif";
  const n = Math.max(d.totalSteps, d.losses.length, 1);
  const maxLoss = Math.max(1e-6, ...d.losses.filter(Number.isFinite)) * 1.05;
  const x = (step: number) => PAD.left + (w * step) / n;
  const yLoss = (l: number) => PAD.top + h * (1 - l / maxLoss);
  const yAcc = (a: number) => PAD.top + h * (1 - a / 100);
  ctx.strokeStyle = "#999";
  ctx.strokeRect(PAD.left, PAD.top, w, h);
  ctx.fillStyle = "#1d6fd1";
  ctx.fillText(`loss (max ${maxLoss.toFixed(2)})`, PAD.left + 4, PAD.top + 12);
  ctx.fillStyle = "#d1541d";
  ctx.fillText("test top-1 %", W - PAD.right - 80, PAD.top + 12);
  ctx.fillStyle = "#444";
  ctx.fillText("0", PAD.left - 10, H - 10);
  ctx.fillText(`${n} steps`, W - PAD.right - 50, H - 10);
  for (const a of [0, 50, 100]) ctx.fillText(String(a), W - PAD.right + 6, yAcc(a) + 4);
  ctx.strokeStyle = "#1d6fd1";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  d.losses.forEach((l, i) => (i === 0 ? ctx.moveTo(x(i + 1), yLoss(l)) : ctx.lineTo(x(i + 1), yLoss(l))));
  ctx.stroke();
  ctx.fillStyle = "#d1541d";
  for (const e of d.evals) {
    ctx.beginPath();
    ctx.arc(x(e.step), yAcc(e.top1), 4, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillText(`${e.top1.toFixed(1)}%`, x(e.step) - 14, yAcc(e.top1) - 8);
  }
}
