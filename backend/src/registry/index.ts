// Slipstream's OCI registry client. Public surface for the agent (layer store), the converter,
// the inspector and `slipstream check-registry`.
//
// ── Agent (layer store) ────────────────────────────────────────────────────────────────────
//   const credentials = new CredentialStore();
//   await credentials.addAuthFile('/var/lib/kubelet/config.json');      // auth.json / config.json
//   credentials.addPullSecret('ns/name', dockerconfigjsonObject);        // .dockerconfigjson
//   credentials.addAuthHelperMap(jsonFromAuthHelper);                    // keyed by PHYSICAL ref
//   const registries = await loadRegistriesConf('/etc/containers/registries.conf'); // + .conf.d
//   const client = new RegistryClient({ credentials, registries, stats?, timeoutMs?, proxy? });
//     one client per process: it holds the keep-alive pools (24 connections per host), the token
//     cache and what it learned about hosts (scheme, multi-range support). HTTP(S)_PROXY and
//     NO_PROXY from the environment are honoured; certs.d CAs per host; retries with backoff and
//     jitter on 5xx/429 (Retry-After respected), resets and timeouts, within each deadline.
//
//   const image: ResolvedImage = await client.resolve(logicalRef, { platform?, signal?, timeoutMs? });
//     → { manifest, manifestDigest, manifestBytes, config, layers: Descriptor[], source, indexDigest? }
//     mirrors from registries.conf are tried in order, then the source; each with its own creds.
//   const blob: BlobReader = image.openBlob(layerDescriptor);   // same registry the manifest came from
//     (or client.openBlob(ref, { digest, size })). Readers are shared per blob without options:
//     every caller joins one redirect cache and one in-flight request per identical range.
//     await blob.readRange(start, endExclusive, { signal?, timeoutMs? }) → Buffer (length-checked)
//     await blob.readSuffix(n, { signal? })                        → last n bytes (footer + TOC)
//     await blob.readRanges([{ start, end }, ...], { signal? })     → Buffer[] in the order asked
//     await blob.readAll({ signal? })                               → whole blob, digest-checked
//     blob.openStream({ signal? })                                  → Readable, digest-checked
//
// ── Errors ─────────────────────────────────────────────────────────────────────────────────
//   Everything throws RegistryError with `kind` in RegistryErrorKind:
//   not-found | unauthorized | no-range-support | unreachable | timeout | aborted | protocol |
//   integrity | unsupported | invalid-reference | blocked. Messages never contain credentials,
//   tokens or presigned query strings.
//
// ── Telemetry ──────────────────────────────────────────────────────────────────────────────
//   client.stats.on('request', (e: RequestEvent) => …)  host, purpose, status, bytes,
//   firstByteMs, durationMs, attempt, error — one event per HTTP response/failure.
//   client.stats.totals                                 running totals.
//
// ── Converter ──────────────────────────────────────────────────────────────────────────────
//   const repo = openRegistryRepository('host/repo', { client?, mountFrom?, insecure? });
//   repo implements ImageRepository (getManifest, openBlob, hasBlob, putBlob, putManifest,
//   checkWritable).

export {
  BlobReader,
  type BlobReaderOptions,
  type BlobRef,
  type ReadOptions,
} from './blob-reader.ts';
export {
  RegistryClient,
  type RegistryClientOptions,
  type EarlyManifest,
  type ResolveOptions,
  type ResolvedImage,
} from './client.ts';
export { CredentialStore, type Credential, type CredentialLookup } from './credentials.ts';
export type { RetryPolicy } from './deadline.ts';
export { RegistryError, RegistryErrorKind, isRegistryError, redactUrl } from './errors.ts';
export { hostPlatform, parsePlatform, MANIFEST_ACCEPT } from './manifest.ts';
export type { ByteRange } from './multipart.ts';
export { pushBlob, pushManifest, type PushedBlob } from './push.ts';
export {
  apiHost,
  formatReference,
  isLoopbackHost,
  manifestReference,
  parseReference,
  type ImageReference,
} from './reference.ts';
export {
  loadRegistriesConf,
  RegistriesConfig,
  registriesConfStamp,
  type PullSource,
} from './registries-conf.ts';
export { systemSecureContext } from './transport.ts';
export {
  openRegistryRepository,
  RegistryRepository,
  type RegistryRepositoryOptions,
} from './repository.ts';
export {
  RegistryStats,
  type RequestEvent,
  type RequestPurpose,
  type StatsTotals,
} from './stats.ts';
