// Mounting and unmounting with mount(8)/umount(8) (we are root; no fusermount), and the mount
// table queries around it: is the mountpoint mounted, and is that mount stale (daemon gone)?

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export class MountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountError';
  }
}

export interface MountInfoEntry {
  mountId: number;
  /** "major:minor" of the mounted filesystem; for FUSE the minor is the connection id. */
  device: string;
  mountpoint: string;
  fstype: string;
  source: string;
}

/** Mounts listed in /proc/self/mountinfo at exactly `mountpoint` (last one is on top). */
export function mountsAt(mountpoint: string): MountInfoEntry[] {
  const target = path.resolve(mountpoint);
  return readMountInfo().filter((m) => m.mountpoint === target);
}

export function readMountInfo(
  text = fs.readFileSync('/proc/self/mountinfo', 'utf8'),
): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    // id parent major:minor root mountpoint options [optional fields...] - fstype source superopts
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    const tail = post.split(' ');
    entries.push({
      mountId: Number(fields[0]),
      device: fields[2] ?? '',
      mountpoint: unescapeMountField(fields[4] ?? ''),
      fstype: tail[0] ?? '',
      source: unescapeMountField(tail[1] ?? ''),
    });
  }
  return entries;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** True when `mountpoint` is a mount whose FUSE daemon is gone ("Transport endpoint is not connected"). */
export function isStaleMount(mountpoint: string): boolean {
  try {
    fs.statSync(mountpoint);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTCONN' || code === 'ECONNABORTED';
  }
}

/**
 * Lazily unmount every stale mount stacked at `mountpoint` (left by a daemon that died).
 * Returns how many were removed. A live mount is left alone.
 */
export async function cleanStaleMounts(mountpoint: string): Promise<number> {
  let removed = 0;
  const canonical = canonicalMountpoint(mountpoint);
  while (mountsAt(mountpoint).length > 0 && isStaleMount(mountpoint)) {
    await runUmount(canonical, true);
    removed++;
  }
  return removed;
}

export interface MountCommand {
  fd: number;
  mountpoint: string;
  fsname: string;
  subtype: string;
  options: string[];
}

/** Run `mount -i -t fuse.<subtype> -o fd=3,... <fsname> <mountpoint>` with our device fd as fd 3. */
export async function runMount(cmd: MountCommand): Promise<void> {
  // fsname is not a kernel option (fusermount turns it into the source): it is the source here.
  const options = [`fd=3`, ...cmd.options].join(',');
  // -i: do not look for /sbin/mount.fuse.<subtype> helpers; we speak to the kernel ourselves.
  const args = ['-i', '-t', `fuse.${cmd.subtype}`, '-o', options, cmd.fsname, cmd.mountpoint];
  const result = await run('mount', args, cmd.fd);
  if (result.code !== 0) {
    throw new MountError(
      `mount ${cmd.mountpoint} failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
}

export type UnmountResult = 'unmounted' | 'detached';

/**
 * umount(8) otherwise resolves the path first, and that stat is a FUSE request: with the server
 * gone (a worker that took the SIGTERM meant for its process group) it waited forever. We resolve
 * the parent ourselves (outside the mount) so that the path still matches the mount table.
 */
const NO_CANONICALIZE = '--no-canonicalize';

function canonicalMountpoint(mountpoint: string): string {
  const absolute = path.resolve(mountpoint);
  try {
    return path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
  } catch {
    return absolute; // a parent that vanished: umount then reports what is wrong
  }
}

/**
 * Unmount `mountpoint`. When it is busy (open files, a process's cwd) and `lazyIfBusy` is set,
 * detach it instead: it disappears from the namespace now and the kernel ends the connection when
 * the last user lets go. An overlay using a directory of the mount as a lower layer does not make
 * it busy (the overlay holds a private clone of the mount): umount succeeds and the connection
 * lives on until the overlay goes — only connectionAlive() tells.
 */
export async function unmountPath(mountpoint: string, lazyIfBusy: boolean): Promise<UnmountResult> {
  const canonical = canonicalMountpoint(mountpoint);
  const result = await umount(canonical, false);
  if (result.code === 0) return 'unmounted';
  if (lazyIfBusy && /busy/i.test(result.stderr)) {
    await runUmount(canonical, true);
    return 'detached';
  }
  throw umountError(canonical, result);
}

const FUSECTL = '/sys/fs/fuse/connections';

/** The kernel's id for the FUSE connection mounted at `mountpoint` (the minor of its st_dev). */
export function connectionIdAt(mountpoint: string): number | undefined {
  const top = mountsAt(mountpoint).at(-1);
  const minor = top?.device.split(':')[1];
  return minor === undefined ? undefined : Number(minor);
}

/**
 * Abort FUSE connection `id` through fusectl (mounting fusectl when needed): every pending and
 * future request fails with ENOTCONN and blocked reads on the device return ENODEV.
 */
export async function abortConnection(id: number): Promise<void> {
  const control = path.join(FUSECTL, String(id), 'abort');
  if (!fs.existsSync(control)) {
    const result = await mountFusectl();
    if (result.code !== 0 && !fs.existsSync(control)) {
      throw new MountError(`cannot reach ${control}: ${result.stderr.trim()}`);
    }
  }
  fs.writeFileSync(control, '1');
}

/**
 * Does FUSE connection `id` still exist — mounted, or unmounted but kept alive by a user such as
 * an overlay? The kernel removes its fusectl directory when the superblock goes. Undefined when
 * fusectl cannot be reached (an empty, unmounted directory would say "gone" for every id).
 */
export async function connectionAlive(id: number): Promise<boolean | undefined> {
  if (!fusectlMounted() && (await mountFusectl()).code !== 0) return undefined;
  return fs.existsSync(path.join(FUSECTL, String(id)));
}

function fusectlMounted(): boolean {
  return mountsAt(FUSECTL).some((m) => m.fstype === 'fusectl');
}

function mountFusectl(): ReturnType<typeof run> {
  return run('mount', ['-t', 'fusectl', 'fusectl', FUSECTL]);
}

/** Set the readahead window (KiB) of the filesystem mounted at `mountpoint`. */
export function setReadAhead(mountpoint: string, kb: number): void {
  const device = mountsAt(mountpoint).at(-1)?.device;
  if (!device) throw new MountError(`${mountpoint} is not mounted`);
  fs.writeFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, String(Math.max(0, Math.floor(kb))));
}

/** umount(8) of a path from canonicalMountpoint(). */
function umount(canonical: string, lazy: boolean): ReturnType<typeof run> {
  return run('umount', [NO_CANONICALIZE, ...(lazy ? ['-l'] : []), canonical]);
}

function umountError(canonical: string, result: { code: number | null; stderr: string }) {
  return new MountError(
    `umount ${canonical} failed (exit ${result.code}): ${result.stderr.trim()}`,
  );
}

async function runUmount(canonical: string, lazy: boolean): Promise<void> {
  const result = await umount(canonical, lazy);
  if (result.code !== 0) throw umountError(canonical, result);
}

function run(
  command: string,
  args: string[],
  passFd?: number,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'ignore', 'pipe'];
    if (passFd !== undefined) stdio.push(passFd);
    const child = spawn(command, args, { stdio });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}
