// A bounded on-disk queue of reports waiting for the hub. A report is written (atomically: temp
// file, then rename) before the first attempt to send it, so an agent restart or a hub outage loses
// nothing; when the spool outgrows its cap the OLDEST reports are dropped, because the newest carry
// the current node state and the hub can live with a gap in old deltas better than with a stale node.
// One agent owns the directory, so the index of files and sizes is kept in memory after init().
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpoolEntry {
  name: string;
  body: string;
}

const SUFFIX = '.report.json';

export class ReportSpool {
  private sequence = 0;
  private readonly dir: string;
  private readonly maxBytes: number;
  /** Pending reports, oldest first, with their sizes. */
  private index: { name: string; size: number }[] | null = null;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** Creates the directory and indexes reports left by a previous run. */
  async init(): Promise<void> {
    if (this.index) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const names = (await readdir(this.dir))
      .filter((n) => n.endsWith(SUFFIX) && !n.startsWith('.'))
      .sort();
    const sizes = await Promise.all(
      names.map((n) =>
        stat(join(this.dir, n)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
    );
    this.index = names.map((name, i) => ({ name, size: sizes[i] ?? 0 }));
  }

  /** Adds a report; returns how many old reports were dropped to stay under the cap. */
  async add(body: string): Promise<number> {
    const index = await this.ready();
    // Names sort in arrival order: wall time, then a sequence for ties (and clock steps back).
    const stamp = Math.max(Date.now(), this.lastStamp(index));
    const name = `${stamp.toString().padStart(15, '0')}-${(this.sequence++).toString().padStart(10, '0')}${SUFFIX}`;
    const tmp = join(this.dir, `.${name}.tmp`);
    await writeFile(tmp, body, { mode: 0o600 });
    await rename(tmp, join(this.dir, name));
    index.push({ name, size: Buffer.byteLength(body) });
    return this.enforceCap(index);
  }

  /** Pending report names, oldest first. */
  async list(): Promise<string[]> {
    return (await this.ready()).map((e) => e.name);
  }

  async read(name: string): Promise<SpoolEntry | null> {
    try {
      return { name, body: await readFile(join(this.dir, name), 'utf8') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    const index = await this.ready();
    await rm(join(this.dir, name), { force: true });
    const at = index.findIndex((e) => e.name === name);
    if (at >= 0) index.splice(at, 1);
  }

  async sizeBytes(): Promise<number> {
    return (await this.ready()).reduce((s, e) => s + e.size, 0);
  }

  private async ready(): Promise<{ name: string; size: number }[]> {
    await this.init();
    return this.index!;
  }

  private lastStamp(index: { name: string }[]): number {
    const last = index[index.length - 1];
    return last ? Number(last.name.slice(0, 15)) : 0;
  }

  private async enforceCap(index: { name: string; size: number }[]): Promise<number> {
    let total = index.reduce((s, e) => s + e.size, 0);
    let dropped = 0;
    // Never drop the newest report, even if it alone exceeds the cap.
    while (index.length > 1 && total > this.maxBytes) {
      const oldest = index.shift()!;
      await rm(join(this.dir, oldest.name), { force: true });
      total -= oldest.size;
      dropped++;
    }
    return dropped;
  }
}
