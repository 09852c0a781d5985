// A mounted FUSE connection: owns the /dev/fuse descriptor and the mountpoint, nothing else.
// Serving requests is FuseSession's job, so the fd can outlive (or be handed over to) a session.

import { FuseDevice, type DeviceOptions } from './device.ts';
import {
  abortConnection,
  cleanStaleMounts,
  connectionAlive,
  connectionIdAt,
  isStaleMount,
  MountError,
  mountsAt,
  runMount,
  unmountPath,
  type UnmountResult,
} from './mount.ts';

export interface MountOptions extends DeviceOptions {
  mountpoint: string;
  /** Shown as the mount source in /proc/mounts. Default "slipstream". */
  fsname?: string;
  /** Filesystem type becomes fuse.<subtype>. Default "slipstream". */
  subtype?: string;
  /** Largest READ the kernel may send, in bytes. Default 1 MiB (256 pages, the kernel's limit). */
  maxRead?: number;
  /** Let every user (CRI-O, containers) use the mount, not only root. Default true. */
  allowOther?: boolean;
  /** Let the kernel check permissions from the modes we report. Default true. */
  defaultPermissions?: boolean;
  /**
   * Mount with MS_RDONLY. Default false: on a read-only mount the VFS answers EROFS to create and
   * rmdir before asking us, and the layer store needs both to reach it (reference counting). The
   * session answers every modifying request EROFS anyway.
   */
  readOnly?: boolean;
  /**
   * Kernel readahead for this mount in KiB (/sys/class/bdi/<dev>/read_ahead_kb). The kernel's
   * default, 128 KiB, caps sequential READs at 128 KiB whatever max_pages allows; a larger window
   * means fewer, larger requests on sequential reads. Default: leave the kernel's value.
   * Applied by mountFilesystem once FUSE_INIT is answered: the kernel lowers the window to the
   * max_readahead of the INIT reply when it processes it, undoing any earlier setting.
   */
  readAheadKb?: number;
  /** Remove a stale mount left at the mountpoint by a dead daemon. Default true. */
  cleanStale?: boolean;
}

export class FuseConnection {
  readonly device: FuseDevice;
  readonly mountpoint: string;
  /** The kernel's connection id (/sys/fs/fuse/connections/<id>), if it could be read. */
  readonly connectionId: number | undefined;
  private mounted: boolean;

  private constructor(device: FuseDevice, mountpoint: string) {
    this.device = device;
    this.mountpoint = mountpoint;
    this.mounted = true;
    this.connectionId = connectionIdAt(mountpoint);
  }

  /** Open /dev/fuse and mount it at options.mountpoint. Serve it with a FuseSession right after. */
  static async mount(options: MountOptions): Promise<FuseConnection> {
    const { mountpoint } = options;
    if (options.cleanStale ?? true) await cleanStaleMounts(mountpoint);
    if (isStaleMount(mountpoint)) {
      throw new MountError(`${mountpoint} is a stale FUSE mount that could not be removed`);
    }
    const live = mountsAt(mountpoint).find((m) => m.fstype.startsWith('fuse'));
    if (live) {
      // Another daemon serves this mountpoint; mounting over it would hide it, not replace it.
      throw new MountError(
        `${mountpoint} is already a live FUSE mount (${live.fstype} ${live.source})`,
      );
    }
    const device = FuseDevice.open(options);
    try {
      await runMount({
        fd: device.fd,
        mountpoint,
        fsname: options.fsname ?? 'slipstream',
        subtype: options.subtype ?? 'slipstream',
        options: mountFlags(options),
      });
    } catch (err) {
      device.close();
      throw err;
    }
    return new FuseConnection(device, mountpoint);
  }

  /**
   * Take over a connection that is already mounted at `mountpoint`, from an fd inherited from the
   * process that mounted it (fd hand-over). Serve it with a FuseSession given `resume`.
   */
  static adopt(fd: number, mountpoint: string, options: DeviceOptions = {}): FuseConnection {
    return new FuseConnection(new FuseDevice(fd, options), mountpoint);
  }

  /**
   * Stop using the device in this process without unmounting: the connection lives on in the
   * process that adopted the fd. Requests read here but not answered are lost until the new
   * owner calls notifyResend().
   */
  release(): void {
    this.mounted = false;
    this.device.close();
  }

  /** Is our mount still in the mount table? (False after an unmount from outside, too.) */
  isMounted(): boolean {
    return this.mounted && mountsAt(this.mountpoint).length > 0;
  }

  /**
   * Unmount; when busy and lazyIfBusy (default true), detach lazily. The session's reads end with
   * the connection (immediately, or when the last user of a detached mount lets go).
   *
   * 'detached' also when the mount is gone from the namespace but the connection is not: an
   * overlay (a running container) using the mount as a lower layer does not make umount fail,
   * and a preStop hook may have detached the mount already. Its users still read through us.
   */
  async unmount(options: { lazyIfBusy?: boolean } = {}): Promise<UnmountResult | 'not-mounted'> {
    if (!this.mounted) return 'not-mounted'; // released: the connection is another process's
    const result = this.isMounted()
      ? await unmountPath(this.mountpoint, options.lazyIfBusy ?? true)
      : 'not-mounted';
    this.mounted = false;
    if (result !== 'detached' && (await this.isAlive())) return 'detached';
    return result;
  }

  /**
   * Does the kernel still hold this connection (mounted, or kept by its users after an unmount)?
   * Undefined when that cannot be told (id unknown, fusectl out of reach).
   */
  async isAlive(): Promise<boolean | undefined> {
    if (this.connectionId === undefined) return undefined;
    return connectionAlive(this.connectionId).catch(() => undefined);
  }

  /**
   * Abort the connection (fusectl): pending requests fail, blocked device reads return. Needed to
   * stop a session whose detached mount is still in use — and before the process exits, because
   * Node waits for its threadpool, where the device reads block, at exit.
   */
  async abort(): Promise<void> {
    if (this.connectionId === undefined) throw new MountError('FUSE connection id unknown');
    await abortConnection(this.connectionId);
  }

  /** Close the device fd. Call after the session has ended (see FuseDevice.close). */
  close(): void {
    this.device.close();
  }
}

function mountFlags(options: MountOptions): string[] {
  const flags = [
    'rootmode=40000',
    'user_id=0',
    'group_id=0',
    `max_read=${options.maxRead ?? 1024 * 1024}`,
  ];
  if (options.allowOther ?? true) flags.push('allow_other');
  if (options.defaultPermissions ?? true) flags.push('default_permissions');
  if (options.readOnly) flags.push('ro');
  return flags;
}
