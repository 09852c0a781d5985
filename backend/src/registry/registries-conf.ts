// containers-registries.conf(5) v2: `[[registry]]` entries with prefix / location / insecure /
// blocked / mirror-by-digest-only and `[[registry.mirror]]` (location, insecure,
// pull-from-mirror). OpenShift's MCO renders ImageDigestMirrorSet / ImageTagMirrorSet into
// exactly this. Drop-ins in registries.conf.d/*.conf are applied in name order; an entry with
// the same prefix replaces the earlier one (within one file the first stays, as containers/image
// finds it). The v1 `[registries.insecure]`/`[registries.block]` lists are honoured too.
// Matching and rewriting follow containers/image (pkg/sysregistriesv2) to the letter: a prefix
// matches the whole reference string (tag and digest included) at a `/`, `:` or `@` boundary,
// `*.example.com` matches subdomains, the longest prefix wins, and a source's reference is its
// location followed by what the prefix did not match. The agent must ask where podman or CRI-O
// would: a disagreement sends requests (and that host's credentials) somewhere the runtime does
// not, or makes a lazily pullable image miss.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { parse as parseToml } from 'smol-toml';

import { RegistryError, RegistryErrorKind } from './errors.ts';
import { formatReference, parseReference, type ImageReference } from './reference.ts';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  prefix: string;
  /** '' only for a `*.` prefix without a location: references are used as written. */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
}

/** One place to try for a reference: a mirror or the (possibly relocated) source. */
export interface PullSource {
  registry: string;
  repository: string;
  /** The rewritten (physical) reference: its tag or digest is what this source is asked for. */
  reference: ImageReference;
  insecure: boolean;
  mirror: boolean;
}

function asBool(v: unknown, field: string, file: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw confError(file, `${field} must be a boolean`);
  return v;
}

function asString(v: unknown, field: string, file: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw confError(file, `${field} must be a string`);
  return v;
}

function confError(file: string, why: string): RegistryError {
  return new RegistryError(RegistryErrorKind.unsupported, `${file}: ${why}`);
}

function parseMirror(raw: unknown, file: string, mirrorByDigestOnly: boolean): MirrorEntry {
  const m = (raw ?? {}) as Record<string, unknown>;
  const location = asString(m.location, 'registry.mirror.location', file);
  if (!location) throw confError(file, 'registry.mirror needs a location');
  // Empty is unset, as in containers/image (its TOML decoder cannot tell them apart).
  const pull =
    asString(m['pull-from-mirror'], 'pull-from-mirror', file) ||
    (mirrorByDigestOnly ? 'digest-only' : 'all');
  if (pull !== 'all' && pull !== 'digest-only' && pull !== 'tag-only') {
    throw confError(file, `pull-from-mirror must be all, digest-only or tag-only, not "${pull}"`);
  }
  return {
    location: location.replace(/\/+$/, ''),
    insecure: asBool(m.insecure, 'registry.mirror.insecure', file),
    pullFromMirror: mirrorByDigestOnly ? 'digest-only' : pull,
  };
}

function parseEntry(raw: unknown, file: string): RegistryEntry {
  const r = (raw ?? {}) as Record<string, unknown>;
  const location = (asString(r.location, 'registry.location', file) ?? '').replace(/\/+$/, '');
  const prefix = (asString(r.prefix, 'registry.prefix', file) || location).replace(/\/+$/, '');
  if (!prefix) throw confError(file, '[[registry]] needs a prefix or a location');
  if (prefix.startsWith('*.') && /[/@:]/.test(prefix)) {
    throw confError(file, `wildcard prefix "${prefix}" must be of the form *.example.com`);
  }
  const mirrorByDigestOnly = asBool(r['mirror-by-digest-only'], 'mirror-by-digest-only', file);
  const mirrors = r.mirror === undefined ? [] : r.mirror;
  if (!Array.isArray(mirrors)) throw confError(file, 'registry.mirror must be an array of tables');
  return {
    prefix,
    // A wildcard entry without a location keeps each reference as written; any other names
    // where its images live (containers/image refuses a plain prefix without one: lenient here,
    // podman would not pull at all).
    location: location || (prefix.startsWith('*.') ? '' : prefix),
    insecure: asBool(r.insecure, 'registry.insecure', file),
    blocked: asBool(r.blocked, 'registry.blocked', file),
    mirrorByDigestOnly,
    mirrors: mirrors.map((m) => parseMirror(m, file, mirrorByDigestOnly)),
  };
}

/**
 * How much of `ref` (a reference string, `host[:port]/path[:tag][@digest]`) the prefix matches,
 * or -1. A plain prefix matches up to a `/`, `:` or `@` (so `example.com` also matches
 * `example.com:5000/…`, as containers/image does); `*.example.com` matches a host ending so, up
 * to such a boundary, with no `/` before it.
 */
export function prefixMatchLength(ref: string, prefix: string): number {
  const boundary = (at: number): boolean => at === ref.length || '/:@'.includes(ref[at]);
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    const at = ref.indexOf(suffix);
    if (at < 0 || ref.slice(0, at).includes('/')) return -1;
    return boundary(at + suffix.length) ? at + suffix.length : -1;
  }
  return ref.startsWith(prefix) && boundary(prefix.length) ? prefix.length : -1;
}

function hostOf(location: string): string {
  const slash = location.indexOf('/');
  return slash >= 0 ? location.slice(0, slash) : location;
}

export class RegistriesConfig {
  readonly entries: RegistryEntry[] = [];
  readonly #insecureHosts = new Set<string>();
  readonly #blockedHosts = new Set<string>();
  #unusable: string | undefined;

  /** Merges one file's content (later files override entries with the same prefix). */
  addToml(text: string, file = 'registries.conf'): void {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(text);
    } catch (e) {
      throw confError(file, `invalid TOML: ${(e as Error).message.split('\n')[0]}`);
    }
    const registries = doc.registry === undefined ? [] : doc.registry;
    if (!Array.isArray(registries))
      throw confError(file, '[[registry]] must be an array of tables');
    const inThisFile = new Set<string>();
    for (const raw of registries) {
      const entry = parseEntry(raw, file);
      if (inThisFile.has(entry.prefix)) continue; // containers/image finds the first
      inThisFile.add(entry.prefix);
      const existing = this.entries.findIndex((e) => e.prefix === entry.prefix);
      if (existing >= 0) this.entries.splice(existing, 1, entry);
      else this.entries.push(entry);
    }
    const v1 = doc.registries as Record<string, { registries?: unknown }> | undefined;
    for (const host of (v1?.insecure?.registries as string[] | undefined) ?? [])
      this.#insecureHosts.add(host);
    for (const host of (v1?.block?.registries as string[] | undefined) ?? [])
      this.#blockedHosts.add(host);
  }

  /** The entry whose prefix matches the reference string best (the longest; the first of equals). */
  entryFor(ref: string): RegistryEntry | undefined {
    let best: RegistryEntry | undefined;
    for (const e of this.entries) {
      if (prefixMatchLength(ref, e.prefix) >= 0 && e.prefix.length > (best?.prefix.length ?? 0)) {
        best = e;
      }
    }
    return best;
  }

  /** True when registries.conf allows plain http / unverified TLS for this host. */
  isInsecure(host: string): boolean {
    if (this.#insecureHosts.has(host)) return true;
    return this.entries.some(
      (e) =>
        (hostOf(e.location) === host && e.insecure) ||
        e.mirrors.some((m) => hostOf(m.location) === host && m.insecure),
    );
  }

  /** Where to pull a reference from: mirrors in order (as their pull-from-mirror allows), then the source. */
  pullSources(ref: ImageReference): PullSource[] {
    if (this.#unusable !== undefined) {
      throw new RegistryError(RegistryErrorKind.unsupported, this.#unusable);
    }
    const written = formatReference(ref);
    const entry = this.entryFor(written);
    if (this.#blockedHosts.has(ref.registry) || entry?.blocked) {
      const name = `${ref.registry}/${ref.repository}`;
      throw new RegistryError(RegistryErrorKind.blocked, `${name} is blocked in registries.conf`, {
        host: ref.registry,
      });
    }
    if (!entry) {
      const insecure = this.isInsecure(ref.registry);
      return [
        {
          registry: ref.registry,
          repository: ref.repository,
          reference: ref,
          insecure,
          mirror: false,
        },
      ];
    }
    const matched = prefixMatchLength(written, entry.prefix);
    const rewrite = (location: string, insecure: boolean, mirror: boolean): PullSource => {
      const physical = location === '' ? ref : rewritten(`${location}${written.slice(matched)}`);
      return {
        registry: physical.registry,
        repository: physical.repository,
        reference: physical,
        insecure,
        mirror,
      };
    };
    const rewritten = (text: string): ImageReference => {
      try {
        return parseReference(text);
      } catch (e) {
        throw new RegistryError(
          RegistryErrorKind.invalidReference,
          `registries.conf entry "${entry.prefix}" rewrites ${written} to ${text}: ${(e as Error).message}`,
        );
      }
    };
    const sources: PullSource[] = [];
    for (const m of entry.mirrors) {
      if (m.pullFromMirror === 'digest-only' && !ref.digest) continue;
      if (m.pullFromMirror === 'tag-only' && ref.digest) continue;
      sources.push(rewrite(m.location, m.insecure, true));
    }
    sources.push(rewrite(entry.location, entry.insecure, false));
    return sources;
  }

  /**
   * A configuration that cannot be used (its files do not parse): every pull source is refused
   * with `why`, so each lookup misses at once and the runtime decides (podman refuses to pull
   * with a file it cannot parse either). Guessing without it could ask hosts a mirror setup
   * exists to avoid.
   */
  static unusable(why: string): RegistriesConfig {
    const conf = new RegistriesConfig();
    conf.#unusable = why;
    return conf;
  }

  /** Why this configuration refuses every reference, or undefined when it is usable. */
  get unusableReason(): string | undefined {
    return this.#unusable;
  }
}

/** registries.conf and then its drop-ins (`*.conf` in `dropInDir`, in name order). */
async function confFiles(path: string, dropInDir: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = (await readdir(dropInDir)).filter((n) => n.endsWith('.conf')).sort();
  } catch {
    // no drop-in directory
  }
  return [path, ...names.map((n) => join(dropInDir, n))];
}

/** Reads registries.conf (missing is fine: no mirrors) and its registries.conf.d drop-ins. */
export async function loadRegistriesConf(
  path = '/etc/containers/registries.conf',
  dropInDir = `${path}.d`,
): Promise<RegistriesConfig> {
  const conf = new RegistriesConfig();
  for (const file of await confFiles(path, dropInDir)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw confError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    conf.addToml(text, file);
  }
  return conf;
}

/**
 * What registries.conf and its drop-ins are on disk now (each file's inode, mtime and size, and
 * which drop-ins exist): a reader polls it and loads the files again when it changes.
 */
export async function registriesConfStamp(
  path = '/etc/containers/registries.conf',
  dropInDir = `${path}.d`,
): Promise<string> {
  const stampOf = async (file: string): Promise<string> => {
    try {
      const st = await stat(file);
      return `${file}:${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch (e) {
      return `${file}:${(e as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  };
  const files = await confFiles(path, dropInDir);
  return (await Promise.all(files.map(stampOf))).join('|');
}
