// FUSE_INIT: which protocol minor and flags we settle on with the kernel.

import { constants } from 'node:os';

import { FUSE_KERNEL_VERSION, FUSE_MIN_MINOR, FUSE_OUR_MINOR, InitFlag } from './abi.ts';
import type { RequestBody } from './decode.ts';
import type { InitReply } from './encode.ts';

/** What FUSE_INIT settled on. */
export interface NegotiatedProtocol {
  major: number;
  minor: number;
  kernelMinor: number;
  flags: bigint;
  maxReadahead: number;
  maxPages: number;
}

/** Flags we ask for; the reply carries those the kernel offered. */
const WANTED_FLAGS =
  InitFlag.ASYNC_READ |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.NO_OPEN_SUPPORT |
  InitFlag.NO_OPENDIR_SUPPORT |
  InitFlag.MAX_PAGES |
  InitFlag.EXPLICIT_INVAL_DATA |
  InitFlag.ASYNC_DIO |
  InitFlag.INIT_EXT |
  InitFlag.DIRECT_IO_ALLOW_MMAP |
  InitFlag.HAS_RESEND;

/**
 * Largest WRITE the kernel may send (writes are EROFS anyway). Keeps every request below the
 * 64 KiB read buffers: the kernel refuses reads smaller than max_write + headers.
 */
export const MAX_WRITE = 32 * 1024;

export interface InitLimits {
  maxPages?: number;
  maxReadahead?: number;
  maxBackground?: number;
}

export type InitOutcome =
  /** Kernel too old: answer EPROTO. */
  | { kind: 'refuse'; errno: number }
  /** A newer major: answer with ours; the kernel sends INIT again. */
  | { kind: 'retry'; reply: InitReply }
  | { kind: 'accept'; reply: InitReply; protocol: NegotiatedProtocol };

export function negotiateInit(
  body: Extract<RequestBody, { kind: 'init' }>,
  limits: InitLimits,
): InitOutcome {
  if (
    body.major < FUSE_KERNEL_VERSION ||
    (body.major === FUSE_KERNEL_VERSION && body.minor < FUSE_MIN_MINOR)
  ) {
    return { kind: 'refuse', errno: constants.errno.EPROTO };
  }
  const minor =
    body.major > FUSE_KERNEL_VERSION ? FUSE_OUR_MINOR : Math.min(body.minor, FUSE_OUR_MINOR);
  const maxPages = Math.min(256, Math.max(1, limits.maxPages ?? 256));
  const maxReadahead = Math.min(body.maxReadahead, limits.maxReadahead ?? body.maxReadahead);
  const flags = body.flags & WANTED_FLAGS;
  const maxBackground = limits.maxBackground ?? 32;
  const reply: InitReply = {
    minor,
    maxReadahead,
    flags,
    maxBackground,
    congestionThreshold: Math.max(1, Math.floor((maxBackground * 3) / 4)),
    maxWrite: MAX_WRITE,
    maxPages,
  };
  if (body.major > FUSE_KERNEL_VERSION) return { kind: 'retry', reply };
  const protocol = {
    major: FUSE_KERNEL_VERSION,
    minor,
    kernelMinor: body.minor,
    flags,
    maxReadahead,
    maxPages,
  };
  return { kind: 'accept', reply, protocol };
}
