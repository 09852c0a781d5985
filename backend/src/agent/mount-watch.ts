// Notices when the store's mount disappears under a running agent (`umount -l` by an admin or a
// cleanup script). The FUSE connection outlives a lazy unmount, so nothing reaches the agent:
// without this it would stay healthy while every new pull silently went normal, and images that
// share layers with lazily pulled ones failed to start (their layer's diff link dangles). A lost
// mount makes /healthz fail, so the kubelet restarts the agent, which mounts the store again.
import { readFile } from 'node:fs/promises';

import { readMountInfo } from '../fuse/mount.ts';

const CHECK_EVERY_MS = 5_000;

export interface MountWatch {
  /** Whether the store was still mounted at the last check. */
  mounted(): boolean;
  stop(): void;
}

/**
 * Checks every few seconds that `mountpoint` is still a FUSE mount in this mount namespace;
 * `onLost` is called once when it is not.
 */
export function watchMount(
  mountpoint: string,
  onLost: () => void,
  read: () => Promise<string> = () => readFile('/proc/self/mountinfo', 'utf8'),
  everyMs = CHECK_EVERY_MS,
): MountWatch {
  let mounted = true;
  const timer = setInterval(() => {
    read().then(
      (mountinfo) => {
        if (!mounted || isFuseMount(mountinfo, mountpoint)) return;
        mounted = false;
        clearInterval(timer);
        onLost();
      },
      () => undefined, // unreadable now: asked again at the next check
    );
  }, everyMs);
  timer.unref();
  return { mounted: () => mounted, stop: () => clearInterval(timer) };
}

/** Whether /proc/<pid>/mountinfo text lists a FUSE mount at `mountpoint`. */
export function isFuseMount(mountinfo: string, mountpoint: string): boolean {
  return readMountInfo(mountinfo).some(
    (m) => m.mountpoint === mountpoint && /^fuse(\.|$)/.test(m.fstype),
  );
}
