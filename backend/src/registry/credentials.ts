// Where registry credentials come from, and which one applies to a host/repository.
// Sources, in priority order: the ALS auth-helper map (freshest, pod-specific), Kubernetes
// dockerconfigjson pull secrets, then auth.json / config.json files in the order given.
// Lookups are keyed by the PHYSICAL location (the host we actually talk to), so a mirror never
// receives the credentials of the registry it mirrors unless they were given for the mirror.
// Auth files are read again when they change on disk (`refreshAuthFiles`): a rotated pull secret
// mounted from a Secret volume, or a node's global pull secret rewritten, takes effect without a
// restart.
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { RegistryError, RegistryErrorKind } from './errors.ts';
import { DOCKER_HUB, parseReference } from './reference.ts';

export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token for the token endpoint (docker `identitytoken`). */
  identityToken?: string;
  /** A bearer token to send as is (docker `registrytoken`). */
  registryToken?: string;
}

export interface CredentialLookup {
  credential?: Credential;
  /** Set when the matching entry delegates to a credential helper we cannot run. */
  unsupportedHelper?: string;
  /** Set when the matching entry cannot be used: why (never the secret). */
  invalid?: string;
  /** Which source answered, for messages (never the secret). */
  source?: string;
}

interface Entry {
  credential?: Credential;
  helper?: string;
  /** Why the entry's credentials cannot be used (an `auth` value that does not decode). */
  invalid?: string;
}

interface Source {
  name: string;
  entries: Map<string, Entry>;
}

/** An auth file as last read: its identity on disk then, and what it held (none if missing). */
interface AuthFileSlot {
  path: string;
  stamp: string;
  source: Source | undefined;
}

/** A file's identity: a rewrite (new inode, as a Secret volume's swap makes) or an edit changes it. */
async function fileStamp(path: string): Promise<string> {
  try {
    const st = await stat(path); // follows a Secret volume's ..data symlinks
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return 'missing';
  }
}

/** Where podman, skopeo, docker and the kubelet keep credentials, in containers/image's order. */
export function defaultAuthFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  files.push(
    '/run/containers/0/auth.json',
    join(homedir(), '.config/containers/auth.json'),
    join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json'),
    '/var/lib/kubelet/config.json',
  );
  return files;
}

/**
 * An auth file key as containers/image reads it: a key with a scheme is an old-style URL and
 * names its host only (`https://index.docker.io/v1/` → `docker.io`, `https://reg/ns` → `reg`),
 * and so is every key of a legacy `.dockercfg`; any other key is a host or a host/namespace/repo
 * prefix as written (`Quay.IO/ns/` → `quay.io/ns`). Docker Hub's host names all mean docker.io.
 */
export function normalizeAuthKey(key: string, legacy = false): string {
  let k = key.trim().replace(/^https?:\/\//i, '');
  if (isUrlKey(key, legacy)) k = k.split('/')[0];
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  const host = (slash >= 0 ? k.slice(0, slash) : k).toLowerCase();
  const path = slash >= 0 ? k.slice(slash) : '';
  const canonicalHost =
    host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
  return canonicalHost + path;
}

/** Whether a key is an old-style URL (or a legacy file's): it yields to a key written plainly. */
function isUrlKey(key: string, legacy: boolean): boolean {
  return legacy || /^https?:\/\//i.test(key.trim());
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INVALID_AUTH = 'its "auth" value is not the base64 encoding of "username:password"';

/** An `auth` value (base64 of `user:password`), or undefined when it is not one. */
function decodeAuthField(auth: string): Credential | undefined {
  const compact = auth.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) return undefined;
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function entryFromJson(value: unknown): Entry | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const str = (k: string): string | undefined =>
    typeof v[k] === 'string' && v[k] !== '' ? v[k] : undefined;
  const fromAuth = str('auth') ? decodeAuthField(str('auth')!) : undefined;
  // A broken `auth` is not skipped silently (the registry would then say only "unauthorized"),
  // unless the entry names the user and password on their own too.
  if (str('auth') && !fromAuth && !(str('username') && str('password'))) {
    return { invalid: INVALID_AUTH };
  }
  const credential: Credential = {
    ...fromAuth,
    ...(str('username') ? { username: str('username') } : {}),
    ...(str('password') ? { password: str('password') } : {}),
    ...(str('identitytoken') || str('identityToken')
      ? { identityToken: str('identitytoken') ?? str('identityToken') }
      : {}),
    ...(str('registrytoken') ? { registryToken: str('registrytoken') } : {}),
  };
  return Object.keys(credential).length > 0 ? { credential } : undefined;
}

/** Parses auth.json / config.json / dockerconfigjson / legacy dockercfg content. */
export function parseAuthConfig(name: string, json: unknown): Source {
  const entries = new Map<string, Entry>();
  if (!json || typeof json !== 'object') {
    throw new RegistryError(RegistryErrorKind.unsupported, `${name}: not a JSON object`);
  }
  const doc = json as Record<string, unknown>;
  const legacy = !('auths' in doc) && !('credHelpers' in doc) && !('credsStore' in doc);
  const auths = 'auths' in doc ? doc.auths : legacy ? doc : {};
  // containers/image looks for the exact key first and falls back to URL keys naming the host.
  const fromUrl = new Set<string>();
  // docker login with a credsStore leaves an empty entry under auths for each registry whose
  // secret went to the store: those registries' credentials are in a helper we cannot run.
  const store = typeof doc.credsStore === 'string' && doc.credsStore ? doc.credsStore : undefined;
  if (auths && typeof auths === 'object') {
    for (const [key, value] of Object.entries(auths as Record<string, unknown>)) {
      const entry = entryFromJson(value) ?? (store && value ? { helper: store } : undefined);
      if (!entry) continue;
      const normalized = normalizeAuthKey(key, legacy);
      const url = isUrlKey(key, legacy);
      if (entries.has(normalized) && (url || !fromUrl.has(normalized))) continue;
      entries.set(normalized, entry);
      if (url) fromUrl.add(normalized);
      else fromUrl.delete(normalized);
    }
  }
  const helpers = doc.credHelpers;
  if (helpers && typeof helpers === 'object') {
    for (const [key, helper] of Object.entries(helpers as Record<string, unknown>)) {
      if (typeof helper === 'string') entries.set(normalizeAuthKey(key), { helper });
    }
  }
  return { name, entries };
}

/** Parses the JSON map containers/image hands to an additional-layer-store auth helper. */
export function parseAuthHelperMap(json: unknown): Source {
  const entries = new Map<string, Entry>();
  if (!json || typeof json !== 'object') {
    throw new RegistryError(RegistryErrorKind.unsupported, 'auth helper input: not a JSON object');
  }
  for (const [refString, value] of Object.entries(json as Record<string, unknown>)) {
    if (!value || typeof value !== 'object') continue;
    let key: string;
    try {
      // containers/image sends whole references; a bare host (hand-written input) stands for
      // that registry, not for a Docker Hub repository of that name.
      if (!refString.includes('/') && /[.:]|^localhost$/.test(refString)) {
        key = normalizeAuthKey(refString);
      } else {
        const ref = parseReference(refString);
        key = `${ref.registry}/${ref.repository}`;
      }
    } catch {
      continue; // a key we cannot parse cannot match any request; skip it rather than fail all
    }
    const v = value as Record<string, unknown>;
    const credential: Credential = {};
    if (typeof v.username === 'string' && v.username) credential.username = v.username;
    if (typeof v.password === 'string' && v.password) credential.password = v.password;
    if (typeof v.identityToken === 'string' && v.identityToken) {
      credential.identityToken = v.identityToken;
    }
    if (Object.keys(credential).length > 0) entries.set(key, { credential });
  }
  return { name: 'auth-helper', entries };
}

/** Candidate keys from most to least specific: host/a/b, host/a, host. */
function lookupKeys(registry: string, repository: string): string[] {
  const host = normalizeAuthKey(registry);
  const keys: string[] = [];
  const parts = repository.split('/');
  for (let n = parts.length; n > 0; n--) keys.push(`${host}/${parts.slice(0, n).join('/')}`);
  keys.push(host);
  return keys;
}

/** An auth file's credentials; undefined when it does not exist (nodes vary). */
async function readAuthFile(path: string): Promise<Source | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryError(RegistryErrorKind.unsupported, `cannot read auth file ${path}`, {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Never echo the content: it is full of secrets.
    throw new RegistryError(RegistryErrorKind.unsupported, `auth file ${path} is not valid JSON`);
  }
  return parseAuthConfig(path, json);
}

export class CredentialStore {
  #helper: Source = { name: 'auth-helper', entries: new Map() };
  /** In the order given: pull secrets and explicit credentials, and auth files as last read. */
  #sources: (Source | AuthFileSlot)[] = [];
  readonly warnings: string[] = [];

  /** Adds the auth-helper map; later calls override earlier entries for the same repository. */
  addAuthHelperMap(json: unknown): void {
    for (const [k, v] of parseAuthHelperMap(json).entries) this.#helper.entries.set(k, v);
  }

  /** Adds a dockerconfigjson pull secret's decoded content (the `.dockerconfigjson` value). */
  addPullSecret(name: string, json: unknown): void {
    this.#addSource(parseAuthConfig(`pull secret ${name}`, json));
  }

  /** Adds an auth.json / config.json file; a missing file is not an error (nodes vary). */
  async addAuthFile(path: string): Promise<void> {
    // Tracked even when it cannot be read now: once fixed, the refresh picks it up.
    const slot: AuthFileSlot = { path, stamp: await fileStamp(path), source: undefined };
    this.#sources.push(slot);
    slot.source = await readAuthFile(path);
    if (slot.source) this.#warnAboutUnusable(slot.source);
  }

  /**
   * Reads again the auth files whose identity on disk changed since they were read; a file that
   * cannot be read or parsed now keeps its previous credentials (and the error is thrown after
   * the others were refreshed). Returns whether any credentials changed.
   */
  async refreshAuthFiles(): Promise<boolean> {
    let changed = false;
    let failure: Error | undefined;
    for (const slot of this.#sources) {
      if (!('path' in slot)) continue;
      const stamp = await fileStamp(slot.path);
      if (stamp === slot.stamp) continue;
      try {
        slot.source = await readAuthFile(slot.path);
        slot.stamp = stamp;
        changed = true;
      } catch (e) {
        slot.stamp = stamp; // said once; the next change on disk is read again
        failure ??= e as Error;
      }
    }
    if (failure) throw failure;
    return changed;
  }

  /** A store loaded from `files` (default: the usual auth.json / config.json locations). */
  static async fromFiles(files: string[] = defaultAuthFiles()): Promise<CredentialStore> {
    const store = new CredentialStore();
    for (const file of files) await store.addAuthFile(file);
    return store;
  }

  /** Adds one credential for a host or host/repository prefix (CLI flags, tests). */
  addCredential(key: string, credential: Credential, name = 'explicit'): void {
    this.#addSource({ name, entries: new Map([[normalizeAuthKey(key), { credential }]]) });
  }

  #addSource(source: Source): void {
    this.#warnAboutUnusable(source);
    this.#sources.push(source);
  }

  #warnAboutUnusable(source: Source): void {
    for (const [key, entry] of source.entries) {
      if (entry.invalid) {
        this.warnings.push(`${source.name}: the entry for ${key} cannot be used: ${entry.invalid}`);
      }
      if (entry.helper) {
        this.warnings.push(
          `${source.name}: credential helper "docker-credential-${entry.helper}" for ${key} is not supported; store the credentials in the file instead`,
        );
      }
    }
  }

  /**
   * The credential for a physical registry host + repository: from the first source with any
   * key for it (as containers/image takes the first auth file that has one), its most specific
   * key.
   */
  lookup(registry: string, repository: string): CredentialLookup {
    const sources = [this.#helper, ...this.#sources.map((s) => ('path' in s ? s.source : s))];
    const keys = lookupKeys(registry, repository);
    for (const source of sources) {
      if (!source) continue;
      for (const key of keys) {
        const entry = source.entries.get(key);
        if (!entry) continue;
        if (entry.helper) return { unsupportedHelper: entry.helper, source: source.name };
        if (entry.invalid) return { invalid: entry.invalid, source: source.name };
        return { credential: entry.credential, source: source.name };
      }
    }
    return {};
  }
}
