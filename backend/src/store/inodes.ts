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

  node(ino: number): ControlNode | undefined {
    return this.#nodes.get(ino);
  }

  refDir(ref: string): RefDirNode {
    const existing = this.#refs.get(ref);
    if (existing !== undefined) return this.#nodes.get(existing) as RefDirNode;
    const node: RefDirNode = { kind: 'ref', ino: this.#next++, ref, children: new Map() };
    this.#nodes.set(node.ino, node);
    this.#refs.set(ref, node.ino);
    return node;
  }

  layerDir(parent: RefDirNode, digest: string): LayerDirNode {
    const existing = parent.children.get(digest);
    if (existing !== undefined) return this.#nodes.get(existing) as LayerDirNode;
    const node: LayerDirNode = {
      kind: 'layer',
      ino: this.#next++,
      parent: parent.ino,
      ref: parent.ref,
      digest,
      infoIno: this.#next++,
      blobIno: this.#next++,
    };
    this.#nodes.set(node.ino, node);
    this.#nodes.set(node.infoIno, { kind: 'info', ino: node.infoIno, layerDir: node.ino });
    this.#nodes.set(node.blobIno, { kind: 'blob', ino: node.blobIno, layerDir: node.ino });
    parent.children.set(digest, node.ino);
    return node;
  }

  /** Reserves the diff/ range of a layer dir for an index with `inodeCount` inodes. */
  assignDiffRange(dir: LayerDirNode, inodeCount: number): number {
    if (dir.diffBase !== undefined && dir.diffCount === inodeCount) return dir.diffBase;
    const base = this.#next - 1; // global = base + local, local starts at 1
    this.#next += inodeCount;
    dir.diffBase = base;
    dir.diffCount = inodeCount;
    this.#ranges.push({ base, count: inodeCount, layerDir: dir.ino });
    return base;
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
