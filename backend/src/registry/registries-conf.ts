// containers-registries.conf(5) v2: `[[registry]]` entries with prefix / location / insecure /
// blocked / mirror-by-digest-only and `[[registry.mirror]]` (location, insecure,
// pull-from-mirror). OpenShift's MCO renders ImageDigestMirrorSet / ImageTagMirrorSet into
// exactly this. Drop-ins in registries.conf.d/*.conf are applied in name order; an entry with
// the same prefix replaces the earlier one. The v1 `[registries.insecure]`/`[registries.block]`
// lists are honoured too.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parse as parseToml } from 'smol-toml';

import { RegistryError, RegistryErrorKind } from './errors.ts';
import type { ImageReference } from './reference.ts';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  prefix: string;
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
  const pull =
    asString(m['pull-from-mirror'], 'pull-from-mirror', file) ??
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
  const prefix = (asString(r.prefix, 'registry.prefix', file) ?? location).replace(/\/+$/, '');
  if (!prefix && !location) throw confError(file, '[[registry]] needs a prefix or a location');
  const mirrorByDigestOnly = asBool(r['mirror-by-digest-only'], 'mirror-by-digest-only', file);
  const mirrors = r.mirror === undefined ? [] : r.mirror;
  if (!Array.isArray(mirrors)) throw confError(file, 'registry.mirror must be an array of tables');
  return {
    prefix,
    location: location || prefix,
    insecure: asBool(r.insecure, 'registry.insecure', file),
    blocked: asBool(r.blocked, 'registry.blocked', file),
    mirrorByDigestOnly,
    mirrors: mirrors.map((m) => parseMirror(m, file, mirrorByDigestOnly)),
  };
}

function hostOf(location: string): string {
  const slash = location.indexOf('/');
  return slash >= 0 ? location.slice(0, slash) : location;
}

export class RegistriesConfig {
  readonly entries: RegistryEntry[] = [];
  readonly #insecureHosts = new Set<string>();
  readonly #blockedHosts = new Set<string>();

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
    for (const raw of registries) {
      const entry = parseEntry(raw, file);
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

  /** The entry whose prefix matches the reference best (longest prefix wins; `*.` wildcards). */
  entryFor(registry: string, repository: string): RegistryEntry | undefined {
    const name = `${registry}/${repository}`;
    let best: RegistryEntry | undefined;
    let bestLength = -1;
    for (const e of this.entries) {
      const matches = e.prefix.startsWith('*.')
        ? registry.endsWith(e.prefix.slice(1)) && !e.prefix.includes('/')
        : name === e.prefix ||
          name.startsWith(`${e.prefix}/`) ||
          (e.prefix !== '' && registry === e.prefix);
      if (matches && e.prefix.length > bestLength) {
        best = e;
        bestLength = e.prefix.length;
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
    const entry = this.entryFor(ref.registry, ref.repository);
    const name = `${ref.registry}/${ref.repository}`;
    if (this.#blockedHosts.has(ref.registry) || entry?.blocked) {
      throw new RegistryError(RegistryErrorKind.blocked, `${name} is blocked in registries.conf`, {
        host: ref.registry,
      });
    }
    if (!entry)
      return [
        {
          registry: ref.registry,
          repository: ref.repository,
          insecure: this.isInsecure(ref.registry),
          mirror: false,
        },
      ];
    const rest =
      entry.prefix.startsWith('*.') || entry.prefix === ''
        ? `/${name}`
        : name.slice(entry.prefix.length);
    const rewrite = (location: string, insecure: boolean, mirror: boolean): PullSource => {
      const full = location === '' ? name : `${location}${rest}`;
      const slash = full.indexOf('/');
      return {
        registry: full.slice(0, slash),
        repository: full.slice(slash + 1),
        insecure,
        mirror,
      };
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
}

/** Reads registries.conf (missing is fine: no mirrors) and its registries.conf.d drop-ins. */
export async function loadRegistriesConf(
  path = '/etc/containers/registries.conf',
  dropInDir = `${path}.d`,
): Promise<RegistriesConfig> {
  const conf = new RegistriesConfig();
  const read = async (file: string): Promise<void> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw confError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    conf.addToml(text, file);
  };
  await read(path);
  let names: string[] = [];
  try {
    names = (await readdir(dropInDir)).filter((n) => n.endsWith('.conf')).sort();
  } catch {
    // no drop-in directory
  }
  for (const name of names) await read(join(dropInDir, name));
  return conf;
}
