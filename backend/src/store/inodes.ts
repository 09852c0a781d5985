// The store's inode space. Control nodes (reference dirs, layer dirs, info, blob) get single
// numbers; each layer directory's `diff/` tree gets a contiguous range, so a layer index's own
// inode numbers (1..n, deterministic for a given TOC) map to global ones by adding a base. A
// layer that leaves memory and is resolved again therefore keeps the inode numbers the kernel
// already knows.

export interface RefDirNode {
  kind: 'ref';
  ino: number;
  ref: string;
  children: Map<string, number>;
}

export interface LayerDirNode {
  kind: 'layer';
  ino: number;
  parent: number;
  ref: string;
  /** The name it was looked up by: compressed layer digest or TOC digest. */
  digest: string;
  infoIno: number;
  blobIno: number;
  /** Base of the diff/ range: global ino = diffBase + layer-index ino. Set at first resolve. */
  diffBase?: number;
  diffCount?: number;
}

export interface FileNode {
  kind: 'info' | 'blob';
  ino: number;
  layerDir: number;
}

export type ControlNode = RefDirNode | LayerDirNode | FileNode;

/**
 * One allocation, as the kernel may remember it. A supervised agent journals these to its
 * supervisor, so that the worker that replaces a dead one answers the kernel's inode numbers.
 */
export type InodeEvent =
  | { t: 'ref'; ref: string; ino: number }
  | { t: 'layer'; parent: number; digest: string; ino: number; info: number; blob: number }
  | { t: 'diff'; dir: number; base: number; count: number };

interface Range {
  base: number;
  count: number;
  layerDir: number;
}

export class InodeTable {
  #next = 2; // 1 is the root
  readonly #nodes = new Map<number, ControlNode>();
  readonly #refs = new Map<string, number>();
  readonly #ranges: Range[] = []; // ascending base: allocation is monotonic
  readonly #record: ((event: InodeEvent) => void) | undefined;

  /** `record` hears every allocation (before the kernel can learn of it). */
  constructor(record?: (event: InodeEvent) => void) {
    this.#record = record;
  }

  /** Re-creates the allocations of an earlier table, in their order, with the same numbers. */
  replay(events: Iterable<InodeEvent>): void {
    for (const e of events) {
      if (e.t === 'ref') {
        this.#nodes.set(e.ino, { kind: 'ref', ino: e.ino, ref: e.ref, children: new Map() });
        this.#refs.set(e.ref, e.ino);
        this.#next = Math.max(this.#next, e.ino + 1);
      } else if (e.t === 'layer') {
        const parent = this.#nodes.get(e.parent);
        if (parent?.kind !== 'ref') throw new Error(`inode journal: no reference dir ${e.parent}`);
        this.#addLayerDir(parent, e.digest, e.ino, e.info, e.blob);
        this.#next = Math.max(this.#next, e.blob + 1);
      } else {
        const dir = this.#nodes.get(e.dir);
        if (dir?.kind !== 'layer') throw new Error(`inode journal: no layer dir ${e.dir}`);
        this.#addDiffRange(dir, e.base, e.count);
        this.#next = Math.max(this.#next, e.base + e.count + 1);
      }
    }
  }

  node(ino: number): ControlNode | undefined {
    return this.#nodes.get(ino);
  }

  refDir(ref: string): RefDirNode {
    const existing = this.#refs.get(ref);
    if (existing !== undefined) return this.#nodes.get(existing) as RefDirNode;
    const node: RefDirNode = { kind: 'ref', ino: this.#next++, ref, children: new Map() };
    this.#record?.({ t: 'ref', ref, ino: node.ino });
    this.#nodes.set(node.ino, node);
    this.#refs.set(ref, node.ino);
    return node;
  }

  layerDir(parent: RefDirNode, digest: string): LayerDirNode {
    const existing = parent.children.get(digest);
    if (existing !== undefined) return this.#nodes.get(existing) as LayerDirNode;
    const [ino, info, blob] = [this.#next, this.#next + 1, this.#next + 2];
    this.#next += 3;
    this.#record?.({ t: 'layer', parent: parent.ino, digest, ino, info, blob });
    return this.#addLayerDir(parent, digest, ino, info, blob);
  }

  #addLayerDir(
    parent: RefDirNode,
    digest: string,
    ino: number,
    infoIno: number,
    blobIno: number,
  ): LayerDirNode {
    const node: LayerDirNode = {
      kind: 'layer',
      ino,
      parent: parent.ino,
      ref: parent.ref,
      digest,
      infoIno,
      blobIno,
    };
    this.#nodes.set(ino, node);
    this.#nodes.set(infoIno, { kind: 'info', ino: infoIno, layerDir: ino });
    this.#nodes.set(blobIno, { kind: 'blob', ino: blobIno, layerDir: ino });
    parent.children.set(digest, ino);
    return node;
  }

  /** Reserves the diff/ range of a layer dir for an index with `inodeCount` inodes. */
  assignDiffRange(dir: LayerDirNode, inodeCount: number): number {
    if (dir.diffBase !== undefined && dir.diffCount === inodeCount) return dir.diffBase;
    const base = this.#next - 1; // global = base + local, local starts at 1
    this.#next += inodeCount;
    this.#record?.({ t: 'diff', dir: dir.ino, base, count: inodeCount });
    this.#addDiffRange(dir, base, inodeCount);
    return base;
  }

  #addDiffRange(dir: LayerDirNode, base: number, count: number): void {
    dir.diffBase = base;
    dir.diffCount = count;
    this.#ranges.push({ base, count, layerDir: dir.ino });
  }

  /** Which layer dir's diff/ tree holds global inode `ino`, and the index-local inode. */
  diffOwner(ino: number): { dir: LayerDirNode; local: number } | undefined {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid];
      if (ino <= r.base) hi = mid - 1;
      else if (ino > r.base + r.count) lo = mid + 1;
      else {
        const dir = this.#nodes.get(r.layerDir) as LayerDirNode;
        if (dir.diffBase !== r.base) return undefined; // superseded range
        return { dir, local: ino - r.base };
      }
    }
    return undefined;
  }
}
