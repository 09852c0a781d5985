// Public API of the FUSE server. A filesystem implements `Filesystem` and is served with
// `mountFilesystem(fs, { mountpoint, ... })`; see filesystem.ts for the contract.

export {
  Errno,
  errnoName,
  FuseError,
  type Attr,
  type AttrReply,
  type DirEntry,
  type Entry,
  type Filesystem,
  type MaybePromise,
  type OpenReply,
  type RequestContext,
  type StatFs,
} from './filesystem.ts';
export { FUSE_ROOT_ID } from './abi.ts';
export {
  adoptFilesystem,
  mountFilesystem,
  serveInheritedFilesystem,
  unmountOnSignals,
  type MountedFilesystem,
} from './serve.ts';
export { FuseConnection, type MountOptions } from './connection.ts';
export { FuseDevice, type DeviceOptions, type DeviceReader } from './device.ts';
export {
  FuseSession,
  type FuseLogger,
  type NegotiatedProtocol,
  type SessionOptions,
} from './session.ts';
export type { FuseTransport } from './transport.ts';
export {
  cleanStaleMounts,
  isStaleMount,
  mountsAt,
  MountError,
  setReadAhead,
  type UnmountResult,
} from './mount.ts';
