// Conversion progress: a redrawn bar with bytes and rate on a terminal, plain lines otherwise.
import type { Writable } from 'node:stream';

export interface ProgressSink {
  /** A new task (e.g. one layer) of `total` bytes. */
  start(label: string, total: number): void;
  /** Bytes done so far in the current task. */
  update(done: number): void;
  /** The current task finished; `note` is appended to its line. */
  finish(note: string): void;
  /** A message outside any task. */
  log(message: string): void;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // Whole bytes: a rate (bytes / seconds) is fractional.
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

interface Task {
  label: string;
  total: number;
  done: number;
  startedAt: number;
}

function rate(task: Task, now: number): string {
  const seconds = Math.max((now - task.startedAt) / 1000, 0.001);
  return `${formatBytes(task.done / seconds)}/s`;
}

/** Picks the bar on a TTY and plain lines elsewhere. */
export function createProgress(
  out: Writable & { isTTY?: boolean; columns?: number },
): ProgressSink {
  return out.isTTY ? new BarProgress(out) : new LineProgress(out);
}

export class LineProgress implements ProgressSink {
  private task: Task | undefined;
  private lastLine = 0;
  private readonly out: Writable;

  constructor(out: Writable) {
    this.out = out;
  }

  start(label: string, total: number): void {
    this.task = { label, total, done: 0, startedAt: Date.now() };
    this.lastLine = Date.now();
    this.out.write(`${label}: ${formatBytes(total)}\n`);
  }

  update(done: number): void {
    if (!this.task) return;
    this.task.done = done;
    const now = Date.now();
    if (now - this.lastLine >= 5000) {
      this.lastLine = now;
      const t = this.task;
      this.out.write(
        `${t.label}: ${formatBytes(t.done)} / ${formatBytes(t.total)} (${rate(t, now)})\n`,
      );
    }
  }

  finish(note: string): void {
    if (!this.task) return;
    const t = this.task;
    this.out.write(
      `${t.label}: done, ${formatBytes(t.done)} in ${((Date.now() - t.startedAt) / 1000).toFixed(1)} s (${rate(t, Date.now())}) ${note}\n`,
    );
    this.task = undefined;
  }

  log(message: string): void {
    this.out.write(message + '\n');
  }
}

export class BarProgress implements ProgressSink {
  private task: Task | undefined;
  private lastDraw = 0;
  private readonly out: Writable & { columns?: number };

  constructor(out: Writable & { columns?: number }) {
    this.out = out;
  }

  private draw(final = false): void {
    const t = this.task;
    if (!t) return;
    const now = Date.now();
    if (!final && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const fraction = t.total > 0 ? Math.min(1, t.done / t.total) : 1;
    const stats = ` ${formatBytes(t.done)}/${formatBytes(t.total)} ${rate(t, now)}`;
    const width = Math.max(10, (this.out.columns ?? 80) - t.label.length - stats.length - 4);
    const filled = Math.round(fraction * width);
    this.out.write(
      `\r${t.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${stats}\x1b[K`,
    );
  }

  start(label: string, total: number): void {
    this.task = { label, total, done: 0, startedAt: Date.now() };
    this.lastDraw = 0;
    this.draw();
  }

  update(done: number): void {
    if (!this.task) return;
    this.task.done = done;
    this.draw();
  }

  finish(note: string): void {
    this.draw(true);
    this.out.write(` ${note}\n`);
    this.task = undefined;
  }

  log(message: string): void {
    this.out.write(message + '\n');
  }
}
