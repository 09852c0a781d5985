// `ImageRepository` over a registry repository: what the converter and the inspector read from
// and write to. Reads use the same client machinery as the agent (auth, retries, verification).
import type { Readable } from 'node:stream';

import type { BlobSource, Descriptor, ImageRepository, RawManifest } from '../image/types.ts';
import { RegistryClient, type RegistryClientOptions } from './client.ts';
import { Deadline, type RetryPolicy } from './deadline.ts';
import { RegistryError } from './errors.ts';
import { fetchManifest } from './manifest.ts';
import {
  blobExists,
  checkPushAccess,
  pushBlob,
  pushManifest,
  uploadRetryPolicy,
  type PushedBlob,
} from './push.ts';
import { formatReference, parseReference, type ImageReference } from './reference.ts';
import type { RegistrySession } from './session.ts';

export interface RegistryRepositoryOptions extends RegistryClientOptions {
  /** Reuse a client (pools, tokens); otherwise one is created and closed with the repository. */
  client?: RegistryClient;
  /** Repositories on the same registry to mount blobs from instead of uploading them. */
  mountFrom?: string[];
  /** PATCH size for streamed uploads. */
  chunkSize?: number;
  /** Told, in a sentence, of each blob upload or manifest PUT that failed and is tried again. */
  onUploadRetry?: (message: string) => void;
}

export class RegistryRepository implements ImageRepository {
  readonly name: string;
  readonly reference: ImageReference;
  readonly client: RegistryClient;
  readonly #ownsClient: boolean;
  readonly #opts: RegistryRepositoryOptions;
  /** Whether the last putBlob was skipped, mounted or uploaded (progress displays). */
  lastPush: PushedBlob | undefined;

  constructor(reference: string | ImageReference, opts: RegistryRepositoryOptions = {}) {
    this.reference = typeof reference === 'string' ? parseReference(reference) : reference;
    this.name = `${this.reference.registry}/${this.reference.repository}`;
    this.#ownsClient = !opts.client;
    this.client = opts.client ?? new RegistryClient(opts);
    this.#opts = opts;
  }

  get #pull(): RegistrySession {
    return this.client.session(this.reference.registry, this.reference.repository, ['pull']);
  }

  get #push(): RegistrySession {
    return this.client.session(this.reference.registry, this.reference.repository, [
      'pull',
      'push',
    ]);
  }

  /**
   * Uploads retry as this repository's or its client's policy says, else uploadRetryPolicy;
   * each retry is told to onUploadRetry.
   */
  get #uploadRetry(): { retry?: RetryPolicy } {
    const retry = this.#opts.retry ?? this.client.blobReaderOptions().retry;
    const tell = this.#opts.onUploadRetry;
    if (!tell) return retry ? { retry } : {};
    const policy = retry ?? uploadRetryPolicy;
    return {
      retry: {
        ...policy,
        onRetry: (err, next, delayMs) =>
          tell(
            `an upload to ${this.name} failed: ${err.message}; trying again in ${(delayMs / 1000).toFixed(1)} s (attempt ${next} of ${policy.attempts})`,
          ),
      },
    };
  }

  getManifest(reference: string): Promise<RawManifest> {
    return fetchManifest(this.#pull, reference);
  }

  openBlob(desc: Descriptor): Promise<Readable> {
    return Promise.resolve(this.client.openBlob(this.reference, desc).openStream());
  }

  hasBlob(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    return blobExists(this.#pull, desc.digest, new Deadline(this.#opts.timeoutMs ?? 30_000));
  }

  async putBlob(
    data: BlobSource,
    expected?: { digest: string; size: number },
  ): Promise<{ digest: string; size: number }> {
    const pushed = await pushBlob(this.#push, data, expected, {
      ...(this.#opts.mountFrom ? { mountFrom: this.#opts.mountFrom } : {}),
      ...(this.#opts.chunkSize ? { chunkSize: this.#opts.chunkSize } : {}),
      ...this.#uploadRetry,
      sessionWithScopes: (extra) =>
        this.client.session(
          this.reference.registry,
          this.reference.repository,
          ['pull', 'push'],
          extra,
        ),
    });
    this.lastPush = pushed;
    return { digest: pushed.digest, size: pushed.size };
  }

  async checkWritable(): Promise<void> {
    try {
      await checkPushAccess(this.#push, this.#uploadRetry);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      throw new RegistryError(e.kind, `cannot push to ${this.name}: ${e.message}`, {
        host: e.host,
        status: e.status,
        cause: e,
      });
    }
  }

  putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    return pushManifest(this.#push, reference, mediaType, bytes, this.#uploadRetry);
  }

  toString(): string {
    return formatReference(this.reference);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.close();
  }
}

/** Opens a registry repository (`host/repo`, a tag or digest is ignored) as an ImageRepository. */
export function openRegistryRepository(
  reference: string | ImageReference,
  options: RegistryRepositoryOptions = {},
): RegistryRepository {
  return new RegistryRepository(reference, options);
}
