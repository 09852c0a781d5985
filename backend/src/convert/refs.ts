// Command-line image references: `oci:PATH[:TAG]` (OCI layout directory) or a registry reference
// (`host[:port]/repo[:tag|@digest]`), opened as an ImageRepository plus ranged blob reads.
import { OciLayoutRepository, parseOciReference } from '../image/oci-layout.ts';
import type { Descriptor, ImageRepository } from '../image/types.ts';
import {
  CredentialStore,
  RegistryClient,
  RegistryError,
  loadRegistriesConf,
  openRegistryRepository,
  parseReference,
  type ImageReference,
} from '../registry/index.ts';

export interface OpenedImage {
  repo: ImageRepository;
  /** Tag or digest inside `repo` ('' = the only image of an OCI layout). */
  reference: string;
  /** Blob bytes [start, end). */
  readRange(desc: Descriptor, start: number, end: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface OpenImageOptions {
  /** Plain http / unverified TLS for registries. */
  insecure?: boolean;
  /** Tag to use when the reference names none (destinations). */
  defaultTag?: string;
  /** Shared client for registry references (credentials, mirrors); one per image otherwise. */
  client?: RegistryClient;
  /** Told of each upload to a registry that failed and is tried again. */
  onUploadRetry?: (message: string) => void;
}

/**
 * The registry client CLI commands use: credentials from the same auth files podman and docker
 * read, and registries.conf (CONTAINERS_REGISTRIES_CONF or /etc/containers/registries.conf) for
 * mirrors and insecure registries. Credential-helper entries are reported, not run.
 */
export async function createCliRegistryClient(insecure: boolean): Promise<RegistryClient> {
  const credentials = await CredentialStore.fromFiles();
  for (const warning of credentials.warnings) process.stderr.write(`warning: ${warning}\n`);
  const registries = await loadRegistriesConf(
    process.env.CONTAINERS_REGISTRIES_CONF ?? '/etc/containers/registries.conf',
  );
  return new RegistryClient({ credentials, registries, ...(insecure ? { insecure: true } : {}) });
}

export function openImage(ref: string, options: OpenImageOptions = {}): OpenedImage {
  const oci = parseOciReference(ref);
  if (oci) {
    const repo = new OciLayoutRepository(oci.path);
    return {
      repo,
      reference: oci.tag || options.defaultTag || '',
      readRange: (desc, start, end) => repo.readBlobRange(desc, start, end),
      close: () => Promise.resolve(),
    };
  }
  let parsed: ImageReference;
  try {
    parsed = parseReference(ref);
  } catch (err) {
    // A path given without the oci: prefix: say how to name a layout directory.
    if (err instanceof RegistryError && /^(?:\/|\.{1,2}\/)/.test(ref)) {
      throw new RegistryError(
        err.kind,
        `${err.message}; for an OCI image layout directory, write oci:${ref}`,
      );
    }
    throw err;
  }
  const repo = openRegistryRepository(parsed, {
    insecure: options.insecure ?? false,
    ...(options.client ? { client: options.client } : {}),
    ...(options.onUploadRetry ? { onUploadRetry: options.onUploadRetry } : {}),
  });
  return {
    repo,
    reference: parsed.digest ?? parsed.tag ?? options.defaultTag ?? 'latest',
    readRange: (desc, start, end) =>
      repo.client.openBlob(repo.reference, desc).readRange(start, end),
    close: () => repo.close(),
  };
}
