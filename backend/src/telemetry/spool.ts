// A bounded on-disk queue of reports waiting for the hub. A report is written (atomically: temp
// file, then rename) before the first attempt to send it, so an agent restart or a hub outage loses
// nothing; when the spool outgrows its cap the OLDEST reports are dropped, because the newest carry
// the current node state and the hub can live with a gap in old deltas better than with a stale node.
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

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Adds a report; returns how many old reports were dropped to stay under the cap. */
  async add(body: string): Promise<number> {
    // Names sort in arrival order: wall time, then a per-process sequence for ties.
    const name = `${Date.now().toString().padStart(15, '0')}-${(this.sequence++).toString().padStart(8, '0')}-${process.pid}${SUFFIX}`;
    const tmp = join(this.dir, `.${name}.tmp`);
    await writeFile(tmp, body, { mode: 0o600 });
    await rename(tmp, join(this.dir, name));
    return this.enforceCap();
  }

  /** Pending report names, oldest first. */
  async list(): Promise<string[]> {
    const names = await readdir(this.dir);
    return names.filter((n) => n.endsWith(SUFFIX) && !n.startsWith('.')).sort();
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
    await rm(join(this.dir, name), { force: true });
  }

  async sizeBytes(): Promise<number> {
    let total = 0;
    for (const name of await this.list()) total += await this.fileSize(name);
    return total;
  }

  private async fileSize(name: string): Promise<number> {
    try {
      return (await stat(join(this.dir, name))).size;
    } catch {
      return 0;
    }
  }

  private async enforceCap(): Promise<number> {
    const names = await this.list();
    const sizes = await Promise.all(names.map((n) => this.fileSize(n)));
    let total = sizes.reduce((s, n) => s + n, 0);
    let dropped = 0;
    // Never drop the newest report, even if it alone exceeds the cap.
    for (let i = 0; i < names.length - 1 && total > this.maxBytes; i++) {
      await this.remove(names[i]);
      total -= sizes[i];
      dropped++;
    }
    return dropped;
  }
}
