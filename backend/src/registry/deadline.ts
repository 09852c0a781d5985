// Per-operation deadlines and retries with exponential backoff and jitter.
// One Deadline spans every attempt of an operation, so retries can never outlive it.
import { setTimeout as sleep } from 'node:timers/promises';

import { explainCause, RegistryError, RegistryErrorKind } from './errors.ts';

export class Deadline {
  readonly at: number;
  readonly signal: AbortSignal;
  readonly #caller: AbortSignal | undefined;
  readonly #timer: AbortSignal;

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    // AbortSignal.timeout refuses fractions and non-finite values; budgets computed by division
    // (a share of what is left for each mirror) are often fractional.
    const ms = Number.isFinite(timeoutMs) ? Math.max(1, Math.ceil(timeoutMs)) : 2 ** 31 - 1;
    this.at = Date.now() + ms;
    this.#caller = callerSignal;
    this.#timer = AbortSignal.timeout(Math.min(ms, 2 ** 31 - 1));
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.#timer]) : this.#timer;
  }

  remaining(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** Throws the typed error when the caller aborted or time ran out. */
  check(host?: string): void {
    if (this.signal.aborted) throw this.stopError(host);
  }

  stopError(host?: string): RegistryError {
    if (this.#caller?.aborted) {
      return new RegistryError(RegistryErrorKind.aborted, 'request aborted by the caller', {
        host,
      });
    }
    return new RegistryError(
      RegistryErrorKind.timeout,
      `deadline exceeded${host ? ` talking to ${host}` : ''}`,
      { host },
    );
  }

  /** Maps any failure to a RegistryError, preferring abort/timeout when they caused it. */
  classify(e: unknown, host: string): RegistryError {
    if (this.signal.aborted) return this.stopError(host);
    if (e instanceof RegistryError) return e;
    return new RegistryError(
      RegistryErrorKind.unreachable,
      `cannot reach ${host}: ${explainCause(e, host)}`,
      { host, cause: e },
    );
  }
}

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Told of each failure that is tried again: the error, the next attempt's number, the wait. */
  onRetry?: (error: RegistryError, nextAttempt: number, delayMs: number) => void;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2_000 };

/** Backoff before attempt `attempt + 1`: exponential, with "equal jitter" so callers spread out. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Runs `attempt` until it succeeds, fails permanently, runs out of attempts or time. */
export async function withRetries<T>(
  deadline: Deadline,
  host: string,
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      deadline.check(host);
      return await attempt(n);
    } catch (e) {
      const err = deadline.classify(e, host);
      if (!err.retryable || n >= policy.attempts) throw err;
      // A server that says when to come back (429/503 Retry-After) is believed, within the deadline.
      const delay = Math.max(backoffDelay(policy, n), err.retryAfterMs ?? 0);
      if (delay >= deadline.remaining()) throw err;
      policy.onRetry?.(err, n + 1, delay);
      try {
        await sleep(delay, undefined, { signal: deadline.signal });
      } catch {
        throw deadline.stopError(host);
      }
    }
  }
}
