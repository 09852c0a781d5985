// The Additional Layer Store tree, served through the FUSE Filesystem interface:
//
//   /<base64(image ref)>/<digest>/diff/   the layer's files (from the verified TOC), read lazily
//                                 /info   JSON for containers/storage (both protocol generations)
//                                 /blob   the compressed layer blob, served from a verified copy
//                                 /use    create → ENOENT, counts a reference
//   rmdir <digest>                        → ENOENT, releases a reference
//
// containers/storage only looks names up (it never lists the upper levels), so the upper levels
// list nothing. Layers never change: the diff/ tree is answered with long entry and attribute
// timeouts, and no open() (the kernel then keeps page caches across opens).
import {
  ROOT_INO,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type ChunkRef,
  type InodeAttr,
} from '../estargz/index.ts';
import {
  ChunkFetchError,
  ChunkVerificationError,
  Priority,
  type ChunkSpec,
} from '../fetch/types.ts';
import {
  Errno,
  FuseError,
  type Attr,
  type AttrReply,
  type DirEntry,
  type Entry,
  type Filesystem,
  type RequestContext,
} from '../fuse/index.ts';
import { parseReference } from '../registry/index.ts';
import { InodeTable, type InodeEvent, type LayerDirNode, type RefDirNode } from './inodes.ts';
import type { LayerManager, StoreLogger } from './layer-manager.ts';
import { chunkSpec, layerInfo, type ResolvedLayer } from './layer.ts';
import { ReadAhead } from './read-ahead.ts';
import { BlobCopyError, type VerifiedBlobs } from './verified-blob.ts';

/** Layers are immutable: let the kernel cache their names and attributes for an hour. */
const LAYER_TIMEOUT_S = 3600;
/** Upper levels change with pulls and releases: cache them briefly. */
const CONTROL_TIMEOUT_S = 1;
/**
 * One error for every missing xattr: overlayfs asks each lower file for
 * `trusted.overlay.metacopy` in every new container (30k files, 30k questions), and a new Error
 * (with its stack) each time was a tenth of the agent's time serving a cached start.
 */
const NO_SUCH_XATTR = new FuseError(Errno.ENODATA);
const TRUSTED_OPAQUE = 'trusted.overlay.opaque';
const USER_OPAQUE = 'user.overlay.opaque';
/** How long after `use` the runtime counts as holding a layer (its save looks at once). */
const HELD_MS = 60_000;
const MAX_HELD = 10_000;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const READ_AHEAD_BYTES = 32 * 2 ** 20;
/** Read-ahead fetch size, and how many run at once per file (the window bounds them too). */
const READ_AHEAD_STEP_BYTES = 4 * 2 ** 20;
const READ_AHEAD_DEPTH = 4;
/** Read-ahead window at the start of a sequential run; then as long as the run, up to the max. */
const MIN_READ_AHEAD_BYTES = 1 * 2 ** 20;
/** Smallest window of a run that started at the file's first byte: two steps. */
const FILE_START_READ_AHEAD_BYTES = 2 * READ_AHEAD_STEP_BYTES;
/** How far from the previous read's end a read may start and still continue the run. */
const SEQUENTIAL_SLACK_BYTES = 4 * 2 ** 20;

export interface StoreFilesystemOptions {
  manager: LayerManager;
  log: StoreLogger;
  /** Where `blob` reads are answered from: whole-blob copies checked against the layer digest. */
  blobs: VerifiedBlobs;
  /** Bytes fetched ahead of a sequential reader (default 32 MiB: absorbs a reader's stalls). */
  readAheadBytes?: number;
  /** Called for every chunk that failed verification twice and was refused (EIO). */
  onVerificationRefused?: (layer: string, path: string) => void;
  /** Compressed bytes around a small missing chunk fetched along with it (default 512 KiB). */
  neighbourBytes?: number;
  /** Called after each served file read (hot-file telemetry). */
  onFileRead?: (layer: string, path: string, bytes: number) => void;
  /** What the kernel may remember of an earlier server of this mount, and where to note more. */
  journal?: StoreJournal;
}

/**
 * Inode allocations and layer references (`use` +1, `rmdir` −1; the supervisor hands a successor
 * one net count per layer dir), in the order they happened.
 */
export type StoreEvent = InodeEvent | { t: 'use'; dir: number; delta: number };

/**
 * A supervised agent's memory across worker restarts: the supervisor keeps what the worker
 * records (compacted: allocations in order, references netted) and hands it to the next worker,
 * whose filesystem replays it before serving.
 */
export interface StoreJournal {
  replay: StoreEvent[];
  record(event: StoreEvent): void;
}

function dirAttr(ino: number): Attr {
  return { ino, mode: S_IFDIR | 0o755, nlink: 2, size: 0 };
}

/** A reference or layer directory: short timeouts, its state changes with pulls/releases. */
function controlDirEntry(ino: number): Entry {
  return {
    ino,
    attr: dirAttr(ino),
    entryTimeout: CONTROL_TIMEOUT_S,
    attrTimeout: CONTROL_TIMEOUT_S,
  };
}

function enoent(what: string): FuseError {
  return new FuseError(Errno.ENOENT, what);
}

/** base64 (std, padded) → image reference, or undefined when the name is not one. */
export function decodeRefDirName(name: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(name) || name.length % 4 !== 0) return undefined;
  const ref = Buffer.from(name, 'base64').toString('utf8');
  if (Buffer.from(ref, 'utf8').toString('base64') !== name) return undefined;
  try {
    parseReference(ref);
  } catch {
    return undefined;
  }
  return ref;
}

export class StoreFilesystem implements Filesystem {
  readonly #manager: LayerManager;
  readonly #log: StoreLogger;
  readonly #blobs: VerifiedBlobs;
  readonly #readAhead: number;
  readonly #readAheadPipeline: ReadAhead;
  readonly #neighbourBytes: number;
  readonly #onRefused: StoreFilesystemOptions['onVerificationRefused'];
  readonly #onFileRead: StoreFilesystemOptions['onFileRead'];
  readonly #inodes: InodeTable;
  readonly #journal: StoreJournal | undefined;
  /** Resolved layer per layer dir (dropped when the layer is released). */
  readonly #resolved = new Map<number, ResolvedLayer>();
  /** Layer directories answered from a layer record and not yet confirmed by a manifest. */
  readonly #fromRecord = new Set<number>();
  /** Layer directories whose last word from the runtime was `use` (not rmdir), and when. */
  readonly #held = new Map<number, number>();
  /** Per inode: end of the last read and where its sequential run began (read-ahead heuristics). */
  readonly #runs = new Map<number, { end: number; start: number }>();

  constructor(options: StoreFilesystemOptions) {
    this.#manager = options.manager;
    this.#log = options.log;
    this.#blobs = options.blobs;
    this.#readAhead = options.readAheadBytes ?? READ_AHEAD_BYTES;
    this.#readAheadPipeline = new ReadAhead({
      windowBytes: this.#readAhead,
      stepBytes: Math.min(READ_AHEAD_STEP_BYTES, this.#readAhead),
      depth: READ_AHEAD_DEPTH,
    });
    this.#neighbourBytes = options.neighbourBytes ?? 512 * 1024;
    this.#onRefused = options.onVerificationRefused;
    this.#onFileRead = options.onFileRead;
    this.#journal = options.journal;
    const journal = this.#journal;
    this.#inodes = new InodeTable(journal && ((e) => journal.record(e)));
    if (this.#journal) this.#inodes.replay(this.#journal.replay.filter((e) => e.t !== 'use'));
  }

  /**
   * Takes again the references an earlier worker held (layers of running containers keep their
   * background fetch and their place in the cache). Their layers resolve from the TOC cache.
   */
  async restoreReferences(): Promise<void> {
    const held = new Map<number, number>();
    for (const e of this.#journal?.replay ?? []) {
      if (e.t === 'use') held.set(e.dir, (held.get(e.dir) ?? 0) + e.delta);
    }
    await Promise.all(
      [...held].map(async ([ino, count]) => {
        const node = this.#inodes.node(ino);
        if (node?.kind !== 'layer' || count <= 0) return;
        try {
          const layer = await this.#layerOf(node);
          for (let i = 0; i < count; i++) this.#manager.use(layer);
        } catch (e) {
          this.#log.warn(
            { ref: node.ref, digest: node.digest, err: String(e) },
            'store: reference not restored',
          );
        }
      }),
    );
  }

  // ── resolution ──────────────────────────────────────────────────────────────────────────

  async #layerOf(dir: LayerDirNode): Promise<ResolvedLayer> {
    const known = this.#resolved.get(dir.ino);
    if (known && this.#manager.live(known.digest) === known) return known;
    const result = await this.#manager.lookup(dir.ref, dir.digest);
    if (!result.ok) {
      this.#resolved.delete(dir.ino);
      throw enoent(`${dir.ref} ${dir.digest}: ${result.reason}`);
    }
    this.#resolved.set(dir.ino, result.layer);
    if (result.fromRecord) this.#fromRecord.add(dir.ino);
    else this.#fromRecord.delete(dir.ino);
    this.#inodes.assignDiffRange(dir, result.layer.index.inodeCount);
    return result.layer;
  }

  async #diffNode(
    ino: number,
  ): Promise<{ dir: LayerDirNode; layer: ResolvedLayer; local: number }> {
    const owner = this.#inodes.diffOwner(ino);
    if (!owner) throw new FuseError(Errno.ESTALE, `no inode ${ino}`);
    const layer = await this.#layerOf(owner.dir);
    if (!layer.index.has(owner.local)) throw new FuseError(Errno.ESTALE, `no inode ${ino}`);
    return { dir: owner.dir, layer, local: owner.local };
  }

  #diffAttr(base: number, a: InodeAttr): Attr {
    return {
      ino: base + a.ino,
      mode: a.mode,
      size: a.size,
      nlink: a.nlink,
      uid: a.uid,
      gid: a.gid,
      rdev: a.rdev,
      atimeMs: a.mtimeMs,
      mtimeMs: a.mtimeMs,
      ctimeMs: a.mtimeMs,
    };
  }

  #diffEntry(dir: LayerDirNode, layer: ResolvedLayer, local: number): Entry {
    return {
      ino: dir.diffBase! + local,
      attr: this.#diffAttr(dir.diffBase!, layer.index.stat(local)),
      entryTimeout: LAYER_TIMEOUT_S,
      attrTimeout: LAYER_TIMEOUT_S,
    };
  }

  #fileAttr(ino: number, size: number): Attr {
    return { ino, mode: S_IFREG | 0o444, nlink: 1, size };
  }

  // ── Filesystem ──────────────────────────────────────────────────────────────────────────

  async lookup(parent: number, name: string): Promise<Entry> {
    if (parent === ROOT_INO) return this.#lookupRef(name);
    const node = this.#inodes.node(parent);
    if (node?.kind === 'ref') return this.#lookupLayerDir(node, name);
    if (node?.kind === 'layer') return this.#lookupInLayerDir(node, name);
    if (node) throw new FuseError(Errno.ENOTDIR);
    const { dir, layer, local } = await this.#diffNode(parent);
    const child = layer.index.lookup(local, name);
    if (child === undefined) {
      throw new FuseError(Errno.ENOENT, undefined, { negativeTimeout: LAYER_TIMEOUT_S });
    }
    return this.#diffEntry(dir, layer, child);
  }

  #lookupRef(name: string): Entry {
    const ref = decodeRefDirName(name);
    if (ref === undefined) throw enoent(`not a base64 image reference: ${name}`);
    const node = this.#inodes.refDir(ref);
    return controlDirEntry(node.ino);
  }

  async #lookupLayerDir(parent: RefDirNode, name: string): Promise<Entry> {
    if (!DIGEST_RE.test(name)) throw enoent(`not a digest: ${name}`);
    const dir = this.#inodes.layerDir(parent, name);
    try {
      await this.#layerOf(dir);
    } catch (e) {
      this.#log.info(
        { ref: dir.ref, digest: name, reason: (e as Error).message },
        'store: lookup miss',
      );
      throw e;
    }
    return controlDirEntry(dir.ino);
  }

  async #lookupInLayerDir(dir: LayerDirNode, name: string): Promise<Entry> {
    if (name !== 'diff' && name !== 'info' && name !== 'blob') throw enoent(name); // incl. `use`
    const layer = await this.#layerOf(dir);
    if (name === 'diff') return this.#diffEntry(dir, layer, ROOT_INO);
    await this.#confirm(dir);
    const attr =
      name === 'info'
        ? this.#fileAttr(dir.infoIno, layerInfo(layer, dir.digest).length)
        : this.#fileAttr(dir.blobIno, layer.descriptor.size);
    return { ino: attr.ino, attr, entryTimeout: CONTROL_TIMEOUT_S, attrTimeout: CONTROL_TIMEOUT_S };
  }

  /**
   * A pull checks `diff`, `info` and `blob` and reads `info`; a container start only goes through
   * `diff`. So `info` and `blob` show only while a manifest the agent has read, recently for a
   * tag, lists the layer (LayerManager.confirmed): a layer answered from its record, or from a
   * tag that may have been pushed again since, is then served to container starts, while a pull
   * that cannot be confirmed takes the layer as absent and pulls it itself.
   */
  async #confirm(dir: LayerDirNode): Promise<void> {
    // A layer the runtime already holds: it announced `use` before looking at `info` and
    // `blob`, which a pull never does (it checks them first) and saving or pushing an image
    // does (containers/storage's LookupAdditionalLayerByID). Those need no manifest: the tag
    // may have moved on, or the registry be down, and the layer is the same.
    const heldAt = this.#held.get(dir.ino);
    if (heldAt !== undefined && Date.now() - heldAt < HELD_MS) return;
    const confirmed = await this.#manager.confirmed(dir.ref, dir.digest);
    if (confirmed.ok) {
      this.#fromRecord.delete(dir.ino);
      return;
    }
    const { reason } = confirmed;
    const fromRecord = this.#fromRecord.has(dir.ino);
    this.#log.info(
      { ref: dir.ref, digest: dir.digest, fromRecord, reason },
      'store: layer not offered to a pull',
    );
    throw enoent(`${dir.ref} ${dir.digest}: not offered to a pull: ${reason}`);
  }

  async getattr(ino: number): Promise<AttrReply> {
    if (ino === ROOT_INO) return { attr: dirAttr(ino), timeout: CONTROL_TIMEOUT_S };
    const node = this.#inodes.node(ino);
    if (node?.kind === 'ref' || node?.kind === 'layer') {
      return { attr: dirAttr(ino), timeout: CONTROL_TIMEOUT_S };
    }
    if (node) {
      const dir = this.#inodes.node(node.layerDir) as LayerDirNode;
      const layer = await this.#layerOf(dir);
      const size =
        node.kind === 'info' ? layerInfo(layer, dir.digest).length : layer.descriptor.size;
      return { attr: this.#fileAttr(ino, size), timeout: CONTROL_TIMEOUT_S };
    }
    const { dir, layer, local } = await this.#diffNode(ino);
    return {
      attr: this.#diffAttr(dir.diffBase!, layer.index.stat(local)),
      timeout: LAYER_TIMEOUT_S,
    };
  }

  async readlink(ino: number): Promise<string> {
    const { layer, local } = await this.#diffNode(ino);
    const target = layer.index.readlink(local);
    if (target === undefined || (layer.index.stat(local).mode & S_IFMT) !== S_IFLNK) {
      throw new FuseError(Errno.EINVAL);
    }
    return target;
  }

  async readdir(ino: number, _fh: number, offset: number): Promise<Iterable<DirEntry>> {
    const node = ino === ROOT_INO ? undefined : this.#inodes.node(ino);
    if (ino === ROOT_INO || node?.kind === 'ref') return listing(ino, ROOT_INO, [], offset);
    if (node?.kind === 'layer') {
      const known = this.#resolved.get(node.ino);
      const confirmed = !this.#fromRecord.has(node.ino);
      const children =
        known && node.diffBase !== undefined
          ? [
              ...(confirmed ? [{ name: 'blob', ino: node.blobIno, mode: S_IFREG }] : []),
              { name: 'diff', ino: node.diffBase + ROOT_INO, mode: S_IFDIR },
              ...(confirmed ? [{ name: 'info', ino: node.infoIno, mode: S_IFREG }] : []),
            ]
          : [];
      return listing(ino, node.parent, children, offset);
    }
    if (node) throw new FuseError(Errno.ENOTDIR);
    const { dir, layer, local } = await this.#diffNode(ino);
    if (!layer.index.isDir(local)) throw new FuseError(Errno.ENOTDIR);
    const base = dir.diffBase!;
    const parent = local === ROOT_INO ? dir.ino : base + layer.index.parentOf(local);
    const children = layer.index.readdir(local).map((e) => ({
      name: e.name,
      ino: base + e.ino,
      // d_type matters: overlayfs only recognises whiteouts (char 0:0) among DT_CHR entries.
      mode: layer.index.stat(e.ino).mode,
    }));
    return listing(ino, parent, children, offset);
  }

  async getxattr(ino: number, name: string, ctx: RequestContext): Promise<Buffer> {
    const value = (await this.#xattrs(ino, ctx)).get(name);
    if (value === undefined) throw NO_SUCH_XATTR;
    return value;
  }

  async listxattr(ino: number, ctx: RequestContext): Promise<string[]> {
    return [...(await this.#xattrs(ino, ctx)).keys()];
  }

  /**
   * An entry's xattrs as `ctx`'s caller sees them. Opaque directories carry the marker for both
   * kinds of overlay: `trusted.overlay.opaque` for the kernel overlay mounted by root (CRI-O,
   * podman as root) and `user.overlay.opaque` for one mounted with `userxattr` (rootless podman,
   * whose requests come with its own uid). Root's overlay takes `user.*` for an ordinary xattr
   * and copies it up with the directory: a commit or a build on a lazily pulled image would
   * carry it into the new layer, where a rootless overlay hides the lower layers' files under
   * it. So root is shown the trusted marker only.
   */
  async #xattrs(ino: number, ctx: RequestContext): Promise<ReadonlyMap<string, Buffer>> {
    if (this.#inodes.diffOwner(ino) === undefined) return new Map();
    const { layer, local } = await this.#diffNode(ino);
    const xattrs = layer.index.xattrs(local);
    if (ctx.uid !== 0 || !xattrs.has(USER_OPAQUE) || !xattrs.has(TRUSTED_OPAQUE)) return xattrs;
    return new Map([...xattrs].filter(([name]) => name !== USER_OPAQUE));
  }

  async read(ino: number, _fh: number, offset: number, size: number): Promise<Buffer> {
    const node = this.#inodes.node(ino);
    if (node?.kind === 'info' || node?.kind === 'blob') {
      const dir = this.#inodes.node(node.layerDir) as LayerDirNode;
      const layer = await this.#layerOf(dir);
      if (node.kind === 'info') return layerInfo(layer, dir.digest).subarray(offset, offset + size);
      return this.#readBlob(layer, offset, size);
    }
    if (node) throw new FuseError(Errno.EISDIR);
    const { layer, local } = await this.#diffNode(ino);
    return this.#readFile(layer, ino, local, offset, size);
  }

  async #readBlob(layer: ResolvedLayer, offset: number, size: number): Promise<Buffer> {
    try {
      // Never the registry's bytes as they come: the raw bytes of a layer blob are covered only by
      // its digest, which the copy passed before it answers anything.
      return await this.#blobs.read(layer.blob, offset, size);
    } catch (e) {
      // A failed download was logged once for all the reads that waited for it.
      if (!(e instanceof BlobCopyError)) {
        this.#log.warn(
          { layer: layer.digest, err: (e as Error).message },
          'store: blob read failed',
        );
      }
      throw new FuseError(Errno.EIO);
    }
  }

  async #readFile(
    layer: ResolvedLayer,
    ino: number,
    local: number,
    offset: number,
    size: number,
  ): Promise<Buffer> {
    const attr = layer.index.stat(local);
    if ((attr.mode & S_IFMT) !== S_IFREG) throw new FuseError(Errno.EINVAL);
    // A layer of an image pulled before this agent started: see adopt().
    if (layer.refs === 0) this.#manager.adopt(layer);
    const end = Math.min(offset + size, attr.size);
    if (offset >= end) return Buffer.alloc(0);
    const refs = layer.index.chunksFor(local, offset, end - offset);
    // The kernel's own readahead sends several reads at once, not strictly in order: "near the
    // previous read" is sequential enough.
    const last = this.#runs.get(ino);
    // A first read alone (`head -c 4096`) is no evidence of a sequential reader.
    const sequential = last !== undefined && Math.abs(offset - last.end) <= SEQUENTIAL_SLACK_BYTES;
    if (this.#runs.size > 10_000) this.#runs.clear(); // bound it: a heuristic only
    const start = sequential ? last.start : offset;
    this.#runs.set(ino, { end, start });
    if (sequential && end < attr.size) {
      // The window grows with the run, like the kernel's: a model's 2 MiB slices read at
      // scattered offsets fetch little beyond each, a 200 MB stream soon has the full window.
      const run = end - start;
      // A run from the file's first byte is a whole-file read (cp, tar, a checksum, a loader)
      // far more often than a slice: it fetches the next steps at once instead of waiting for
      // its first chunk to arrive before the window grows past it (at 20 ms RTT the first 4 MiB
      // chunk takes ~200 ms, in which the link carried nothing else).
      const floor = start === 0 ? FILE_START_READ_AHEAD_BYTES : MIN_READ_AHEAD_BYTES;
      const window = Math.min(this.#readAhead, Math.max(floor, run));
      this.#readAheadPipeline.advance(ino, layer, local, end, attr.size, window);
    }
    let data: Buffer[];
    try {
      const specs = refs.map(chunkSpec);
      const alongside = () =>
        this.#neighbours(layer, refs[refs.length - 1].id, refs[0].compressedOffset);
      data = await layer.fetcher.read(specs, Priority.onDemand, alongside);
    } catch (e) {
      const path = layer.index.path(local);
      if (e instanceof ChunkVerificationError && e.remembered) {
        // Refused without a request: logged when it failed, and summed up by the fetcher.
        this.#log.debug(
          { layer: layer.digest, path, chunk: e.digest },
          'store: known bad chunk (EIO)',
        );
      } else if (e instanceof ChunkVerificationError) {
        this.#log.error(
          { layer: layer.digest, path, chunk: e.digest },
          'store: chunk failed verification twice; refusing to serve it (EIO)',
        );
        this.#onRefused?.(layer.digest, path);
      } else {
        const why = e instanceof ChunkFetchError ? e.message : String(e);
        this.#log.warn({ layer: layer.digest, path, err: why }, 'store: read failed (EIO)');
      }
      throw new FuseError(Errno.EIO);
    }
    const out = assemble(refs, data, offset, end);
    this.#onFileRead?.(layer.digest, layer.index.path(local), out.length);
    return out;
  }

  /**
   * Chunks that follow `lastId` in the blob within a small window from `start`: small files of
   * the same directory sit next to each other, and one round trip for several of them is much
   * cheaper than one each (node_modules, Python packages).
   */
  #neighbours(layer: ResolvedLayer, lastId: number, start: number): ChunkSpec[] {
    const out: ChunkSpec[] = [];
    for (let id = lastId + 1; id < layer.index.chunkCount; id++) {
      const chunk = layer.index.chunk(id);
      if (chunk.compressedEnd - start > this.#neighbourBytes) break;
      out.push(chunkSpec(chunk));
    }
    return out;
  }

  async create(parent: number, name: string): Promise<never> {
    const node = this.#inodes.node(parent);
    if (node?.kind === 'layer' && name === 'use') {
      const layer = await this.#layerOf(node).catch(() => undefined);
      if (layer) {
        this.#manager.use(layer);
        if (this.#held.size >= MAX_HELD) this.#held.clear(); // bound it: a shortcut only
        this.#held.set(node.ino, Date.now());
        this.#journal?.record({ t: 'use', dir: node.ino, delta: 1 });
      }
      this.#log.debug({ ref: node.ref, digest: node.digest, refs: layer?.refs }, 'store: use');
      throw enoent('use counted');
    }
    throw new FuseError(Errno.EROFS);
  }

  rmdir(parent: number, name: string): void {
    const node = this.#inodes.node(parent);
    if (node?.kind !== 'ref') throw new FuseError(Errno.EROFS);
    const dirIno = node.children.get(name);
    if (dirIno !== undefined) this.#held.delete(dirIno);
    const layer = dirIno === undefined ? undefined : this.#resolved.get(dirIno);
    if (layer && dirIno !== undefined) {
      this.#manager.release(layer);
      this.#journal?.record({ t: 'use', dir: dirIno, delta: -1 });
      this.#log.debug({ ref: node.ref, digest: name, refs: layer.refs }, 'store: release');
      if (layer.refs === 0) {
        for (const [ino, l] of this.#resolved) {
          if (l !== layer) continue;
          this.#resolved.delete(ino);
          this.#fromRecord.delete(ino);
        }
        this.#blobs.drop(layer.digest);
      }
    }
    throw enoent('release counted');
  }
}

/**
 * The bytes [offset, end) of a file from its chunks. A read within one chunk (most READs: the
 * kernel sends at most 1 MiB, chunks are usually 4 MiB) is a view of the cached chunk, not a
 * copy: the reply is written to /dev/fuse synchronously and cached chunks are never modified.
 */
function assemble(
  refs: readonly ChunkRef[],
  data: readonly Buffer[],
  offset: number,
  end: number,
): Buffer {
  if (refs.length === 1) {
    return data[0].subarray(offset - refs[0].fileOffset, end - refs[0].fileOffset);
  }
  const out = Buffer.allocUnsafe(end - offset);
  refs.forEach((ref, i) => {
    const from = Math.max(offset, ref.fileOffset);
    const to = Math.min(end, ref.fileOffset + ref.size);
    if (to > from) data[i].copy(out, from - offset, from - ref.fileOffset, to - ref.fileOffset);
  });
  return out;
}

/** A directory listing with "." and "..", resumable at any cookie. */
function listing(
  self: number,
  parent: number,
  children: { name: string; ino: number; mode: number }[],
  offset: number,
): DirEntry[] {
  const all = [
    { name: '.', ino: self, mode: S_IFDIR },
    { name: '..', ino: parent, mode: S_IFDIR },
    ...children,
  ];
  return all.slice(offset).map((e, i) => ({ ...e, nextOffset: offset + i + 1 }));
}
