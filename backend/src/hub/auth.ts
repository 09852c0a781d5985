// Who is calling, and may they? Users (through the console proxy, with their own bearer token) and
// agents (with their service-account token) are both identified by a TokenReview; users are then
// authorised with a SubjectAccessReview for `list pods` (in a namespace for namespace views,
// cluster-wide for everything else), Prometheus with one for `get` on the non-resource URL
// /metrics. Answers are cached briefly so a dashboard refresh does not cost the API server a
// review per request.
import { createHash } from 'node:crypto';

import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  type KubeConfig,
  type V1Pod,
  type V1SubjectAccessReviewSpec,
} from '@kubernetes/client-node';

export interface CallerIdentity {
  username: string;
  uid: string | undefined;
  groups: string[];
  extra: Record<string, string[]>;
}

/** The Kubernetes API could not answer a review (not the caller's fault: 503). */
export class ReviewUnavailableError extends Error {
  override readonly name = 'ReviewUnavailableError';
}

export interface AccessReviewer {
  /** Identity behind a bearer token, or null when the token is not valid. */
  authenticate(token: string): Promise<CallerIdentity | null>;
  /** May this identity list pods in `namespace` (null: cluster-wide)? */
  canListPods(who: CallerIdentity, namespace: string | null): Promise<boolean>;
  /** May this identity `get` the non-resource path /metrics (kube-rbac-proxy's convention)? */
  canGetMetrics(who: CallerIdentity): Promise<boolean>;
}

// Like the API server's own webhook token cache: valid identities for 2 minutes, rejections and
// authorisation decisions for a shorter while, so revocations and RBAC changes apply soon.
const IDENTITY_TTL_MS = 120_000;
const DENIAL_TTL_MS = 10_000;
const DECISION_TTL_MS = 30_000;
const CACHE_MAX = 10_000;
/** TokenReviews of unknown tokens at once; more answer 503 (an agent resends, a browser retries). */
const MAX_REVIEWS_IN_FLIGHT = 64;
/**
 * How long a review may take. An API server that accepts connections but never answers would
 * otherwise hold every request with an uncached token (and the agents' resends pile up behind).
 */
const REVIEW_TIMEOUT_MS = 10_000;

class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly ttlMs: (value: V) => number;

  constructor(ttlMs: (value: V) => number) {
    this.ttlMs = ttlMs;
  }

  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V): void {
    if (this.entries.size >= CACHE_MAX) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs(value) });
  }
}

/** The path Prometheus scrapes; its SubjectAccessReview uses it as a non-resource URL. */
export const METRICS_PATH = '/metrics';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class KubeAccessReviewer implements AccessReviewer {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly identities = new TtlCache<CallerIdentity>(() => IDENTITY_TTL_MS);
  /**
   * Tokens the API server refused, apart: a flood of garbage tokens must not push valid
   * identities out (each would then need a review again).
   */
  private readonly denials = new TtlCache<true>(() => DENIAL_TTL_MS);
  /** TokenReviews of tokens not in either cache, under way now (see MAX_REVIEWS_IN_FLIGHT). */
  private tokenReviews = 0;
  private readonly decisions = new TtlCache<boolean>(() => DECISION_TTL_MS);
  /** Reviews under way by cache key: callers with the same question share one review. */
  private readonly inflight = new Map<string, Promise<unknown>>();

  private readonly timeoutMs: number;

  constructor(kc: KubeConfig, options: { reviewTimeoutMs?: number | undefined } = {}) {
    this.timeoutMs = options.reviewTimeoutMs ?? REVIEW_TIMEOUT_MS;
    this.authn = kc.makeApiClient(AuthenticationV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
  }

  async authenticate(token: string): Promise<CallerIdentity | null> {
    const key = sha256(token);
    const cached = this.identities.get(key);
    if (cached !== undefined) return cached;
    if (this.denials.get(key)) return null;
    const inflight = `authn ${key}`;
    const running = this.inflight.get(inflight) as Promise<CallerIdentity | null> | undefined;
    if (running) return running;
    if (this.tokenReviews >= MAX_REVIEWS_IN_FLIGHT) {
      // Anyone can send tokens: without a bound each new one is a request to the API server.
      throw new ReviewUnavailableError('too many token reviews under way');
    }
    this.tokenReviews++;
    return this.once(inflight, 'TokenReview', async () => {
      const review = await this.authn.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
      const user = review.status?.authenticated ? review.status.user : undefined;
      const identity: CallerIdentity | null = user?.username
        ? {
            username: user.username,
            uid: user.uid,
            groups: user.groups ?? [],
            extra: user.extra ?? {},
          }
        : null;
      if (identity) this.identities.set(key, identity);
      else this.denials.set(key, true);
      return identity;
    }).finally(() => this.tokenReviews--);
  }

  canListPods(who: CallerIdentity, namespace: string | null): Promise<boolean> {
    return this.decide(who, ['pods', namespace], {
      resourceAttributes: {
        verb: 'list',
        group: '',
        resource: 'pods',
        ...(namespace ? { namespace } : {}),
      },
    });
  }

  canGetMetrics(who: CallerIdentity): Promise<boolean> {
    return this.decide(who, ['nonResource', METRICS_PATH], {
      nonResourceAttributes: { path: METRICS_PATH, verb: 'get' },
    });
  }

  /** A cached SubjectAccessReview of `who` for the given attributes. */
  private async decide(
    who: CallerIdentity,
    what: unknown[],
    attributes: Pick<V1SubjectAccessReviewSpec, 'resourceAttributes' | 'nonResourceAttributes'>,
  ): Promise<boolean> {
    const key = sha256(JSON.stringify([who.username, who.groups, ...what]));
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    return this.once(`authz ${key}`, 'SubjectAccessReview', async () => {
      const review = await this.authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: who.username,
            uid: who.uid,
            groups: who.groups,
            extra: who.extra,
            ...attributes,
          },
        },
      });
      const allowed = review.status?.allowed === true && review.status.denied !== true;
      this.decisions.set(key, allowed);
      return allowed;
    });
  }

  /**
   * Runs one review for all callers asking the same question at once, within the review
   * timeout; any failure is the API server's, not the caller's (503).
   */
  private once<T>(key: string, kind: string, review: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.timeoutMs / 1000} s`)),
        this.timeoutMs,
      );
    });
    const answer = Promise.race([review(), timeout])
      .catch((error: unknown) => {
        throw new ReviewUnavailableError(`${kind} failed: ${(error as Error).message}`);
      })
      .finally(() => {
        clearTimeout(timer);
        this.inflight.delete(key);
      });
    this.inflight.set(key, answer);
    return answer;
  }
}

export const AGENT_SERVICE_ACCOUNT = 'slipstream-agent';
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

/**
 * The node an agent's token speaks for, or why it may not report. Bound service-account tokens
 * carry the node name in the TokenReview's `extra` (Kubernetes ≥ 1.30); older ones carry only the
 * pod name, which the pod informer's cache maps to its node.
 */
export function agentNode(
  who: CallerIdentity,
  namespace: string,
  getPod: (namespace: string, name: string) => V1Pod | undefined,
): { node: string } | { refused: string } {
  const expected = `system:serviceaccount:${namespace}:${AGENT_SERVICE_ACCOUNT}`;
  if (who.username !== expected) return { refused: `only ${expected} may send reports` };
  const node = who.extra[NODE_NAME_EXTRA]?.[0];
  if (node) return { node };
  const podName = who.extra[POD_NAME_EXTRA]?.[0];
  const podNode = podName ? getPod(namespace, podName)?.spec?.nodeName : undefined;
  if (podNode) return { node: podNode };
  return { refused: 'cannot tell which node this agent token belongs to' };
}
