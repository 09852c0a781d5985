// The files an image's own command opens first: the program its Entrypoint/Cmd names (found on
// the image's PATH, through symlinks, in the layers stacked as overlay stacks them) and the
// arguments that are files of the image (`python3 /app/start.py`). A container started with the
// image's command reads them right after the loader and libc; an image converted without a start
// profile (most are) would fetch them on demand at exec, a round trip or several apiece (the
// python image's interpreter is 6.8 MB). They are prefetched with the landmark phase. A pod that
// overrides the command wastes what they cost, at most the prefetch's maxBytes per layer.
import { constants } from 'node:fs';
import { posix } from 'node:path';

import type { ChunkRef, LayerIndex } from '../estargz/index.ts';

/** The PATH a runtime uses when the image sets none (CRI-O, podman, containerd). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Symlinks followed for one path, as the kernel's ELOOP bound does in spirit. */
const MAX_HOPS = 16;
/** Arguments looked at for file names (`sh -c '…'` has none; `java -jar app.jar` one). */
const MAX_ARGS = 8;
/** Candidate paths at all: a hostile config's PATH of a thousand entries costs nothing. */
const MAX_CANDIDATES = 64;

/** The `config` object of an image config, as far as the command goes. */
export interface CommandConfig {
  Entrypoint?: unknown;
  Cmd?: unknown;
  Env?: unknown;
  WorkingDir?: unknown;
}

/** A regular file of the merged layers: which layer (index in `layers`) holds it, and its inode. */
export interface MergedFile {
  layer: number;
  ino: number;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Entrypoint then Cmd, as the runtime joins them. */
export function commandLine(config: CommandConfig | undefined): string[] {
  return [...strings(config?.Entrypoint), ...strings(config?.Cmd)];
}

/** Candidate absolute paths for the command's program and its file arguments, in order. */
export function commandCandidates(config: CommandConfig | undefined): string[][] {
  const argv = commandLine(config);
  if (argv.length === 0) return [];
  const env = strings(config?.Env);
  const path = env.findLast((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const cwd = typeof config?.WorkingDir === 'string' && config.WorkingDir ? config.WorkingDir : '/';
  const [program, ...args] = argv;
  const programCandidates = program.includes('/')
    ? [posix.resolve(cwd, program)]
    : path
        .split(':')
        .filter((dir) => dir.startsWith('/'))
        .map((dir) => posix.join(dir, program));
  const argCandidates = args
    .slice(0, MAX_ARGS)
    .filter((a) => a !== '' && !a.startsWith('-') && !a.includes('\n') && a.length < 4096)
    .map((a) => [posix.resolve(cwd, a)]);
  return [programCandidates.slice(0, MAX_CANDIDATES), ...argCandidates];
}

/**
 * Looks `path` (absolute) up in the layers stacked bottom to top, following symlinks in every
 * component: the regular file it names, or undefined (missing, a whiteout above it, a
 * directory, a device, a loop).
 */
export function resolveMerged(layers: readonly LayerIndex[], path: string): MergedFile | undefined {
  let parts = components(path);
  let hops = 0;
  for (let i = 0; i < parts.length; i++) {
    const prefix = parts.slice(0, i + 1).join('/');
    const top = topmost(layers, prefix);
    if (!top) return undefined;
    const { mode } = layers[top.layer].stat(top.ino);
    const type = mode & constants.S_IFMT;
    if (type === constants.S_IFLNK) {
      if (++hops > MAX_HOPS) return undefined;
      const target = layers[top.layer].readlink(top.ino) ?? '';
      // `..` lexically, after the link's directory: close enough for the paths images use.
      const base = target.startsWith('/') ? '' : parts.slice(0, i).join('/');
      parts = components(posix.join('/', base, target, ...parts.slice(i + 1)));
      i = -1; // walk the new path from its start
      continue;
    }
    const last = i === parts.length - 1;
    if (last) return type === constants.S_IFREG ? { layer: top.layer, ino: top.ino } : undefined;
    if (type !== constants.S_IFDIR) return undefined;
  }
  return undefined;
}

/** An absolute path's components, `.` and `..` resolved lexically. */
function components(path: string): string[] {
  return posix
    .normalize(`/${path}`)
    .split('/')
    .filter((p) => p !== '');
}

/** The topmost layer's entry at `path`; a whiteout (char 0:0) hides what lies below. */
function topmost(layers: readonly LayerIndex[], path: string): MergedFile | undefined {
  for (let layer = layers.length - 1; layer >= 0; layer--) {
    const ino = layers[layer].resolve(path);
    if (ino === undefined) continue;
    const attr = layers[layer].stat(ino);
    if ((attr.mode & constants.S_IFMT) === constants.S_IFCHR && attr.rdev === 0) return undefined;
    return { layer, ino };
  }
  return undefined;
}

/**
 * The chunks of the command's files, per layer (indexes as in `layers`, bottom to top): the
 * program (its first candidate that exists) and each argument that is a file of the image.
 */
export function commandFileChunks(
  layers: readonly LayerIndex[],
  config: CommandConfig | undefined,
): Map<number, ChunkRef[]> {
  const found = new Map<number, ChunkRef[]>();
  const seen = new Set<string>();
  for (const candidates of commandCandidates(config)) {
    for (const path of candidates) {
      const file = resolveMerged(layers, path);
      if (!file) continue;
      const key = `${file.layer}:${file.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        const chunks = found.get(file.layer) ?? [];
        chunks.push(...layers[file.layer].chunksOf(file.ino));
        found.set(file.layer, chunks);
      }
      break;
    }
  }
  return found;
}
