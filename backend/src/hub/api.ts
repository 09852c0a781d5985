// The hub's HTTP routes. Every route but /healthz needs a bearer token; the read API needs
// `list pods` rights (namespace or cluster), POST /reports needs an agent token for the same node,
// /metrics needs `get` on the non-resource URL /metrics (as kube-rbac-proxy checks it).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

import { AgentReportSchema } from '../telemetry/report.ts';
import { version } from '../version.ts';
import * as S from './api-schemas.ts';
import {
  agentNode,
  METRICS_PATH,
  ReviewUnavailableError,
  type AccessReviewer,
  type CallerIdentity,
} from './auth.ts';
import type { HubConfig } from './config.ts';
import { DiskFullError } from './disk-room.ts';
import { MAX_LAYERS_PER_IMAGE } from './ingest.ts';
import type { ClusterWatch } from './kube.ts';
import {
  rejectionForStatus,
  UNMATCHED_ROUTE,
  type HubMetrics,
  type ReportRejection,
} from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { QueryError, type HubQueries } from './queries.ts';
import type { ReportBatcher } from './report-batcher.ts';

export const STORE_PATH_DEFAULT = '/var/lib/slipstream/store';

export interface ApiDeps {
  config: HubConfig;
  queries: HubQueries;
  reports: Pick<ReportBatcher, 'submit'>;
  reviewer: AccessReviewer;
  cluster: Pick<ClusterWatch, 'getPod'>;
  metrics: HubMetrics;
}

const REPORTS_ROUTE = '/api/v1/reports';

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Parses a query string against its schema; a 400 names the parameters at fault. */
function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const detail = result.error.issues
    .map(
      (i) =>
        `${i.path.join('.') || '(query)'}: ${i.message}${'keys' in i && Array.isArray(i.keys) ? ` ${i.keys.join(', ')}` : ''}`,
    )
    .join('; ');
  throw new HttpError(400, 'bad-request', detail);
}

function bearerToken(req: FastifyRequest): string {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new HttpError(401, 'unauthenticated', 'a bearer token is required');
  return match[1];
}

async function identify(deps: ApiDeps, req: FastifyRequest): Promise<CallerIdentity> {
  const who = await deps.reviewer.authenticate(bearerToken(req));
  if (!who) throw new HttpError(401, 'unauthenticated', 'the bearer token is not valid');
  return who;
}

/** Callers identified by the onRequest hook (see authenticateFirst). */
const callers = new WeakMap<FastifyRequest, CallerIdentity>();

function caller(req: FastifyRequest): CallerIdentity {
  const who = callers.get(req);
  if (!who) throw new HttpError(401, 'unauthenticated', 'a bearer token is required');
  return who;
}

/**
 * Identifies the caller of every route but /healthz before anything else, the body included:
 * an unauthenticated request is refused before its body (up to 16 MiB) is read and parsed, and
 * before its parameters are looked at.
 */
function authenticateFirst(app: FastifyInstance, deps: ApiDeps): void {
  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url;
    if (route === undefined || route === '/healthz') return; // unknown routes answer 404
    callers.set(req, await identify(deps, req));
  });
}

/** Checks that the caller may `list pods` in `namespace` (null: cluster-wide). */
async function authorize(
  deps: ApiDeps,
  req: FastifyRequest,
  namespace: string | null,
): Promise<void> {
  const who = caller(req);
  if (!(await deps.reviewer.canListPods(who, namespace))) {
    const scope = namespace ? `in namespace ${namespace}` : 'cluster-wide';
    throw new HttpError(403, 'forbidden', `${who.username} may not list pods ${scope}`);
  }
}

/** SQLite result codes of a database that cannot serve now: busy, locked, read-only, I/O, full. */
const UNAVAILABLE_SQLITE_CODES = new Set([5, 6, 8, 10, 13, 14]);

function isDatabaseUnavailable(error: unknown): boolean {
  const { code, errcode } = error as { code?: string; errcode?: number };
  return code === 'ERR_SQLITE_ERROR' && UNAVAILABLE_SQLITE_CODES.has((errcode ?? 0) & 0xff);
}

/** Counts every answer by route template, and why report POSTs were refused. */
function instrument(
  app: FastifyInstance,
  metrics: HubMetrics,
): WeakMap<FastifyRequest, ReportRejection> {
  // Reasons the status alone cannot tell (a 403 for another node's report vs a non-agent token).
  const reasons = new WeakMap<FastifyRequest, ReportRejection>();
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    metrics.observeRequest(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
    if (route === REPORTS_ROUTE && req.method === 'POST' && reply.statusCode >= 400) {
      metrics.reportRejected(reasons.get(req) ?? rejectionForStatus(reply.statusCode));
    }
    done();
  });
  return reasons;
}

/** `text`, cut to `max` characters with a mark that it was. */
function clip(text: string, max: number): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** JSON nested deeper than any report is refused before it is parsed (see boundedJson). */
const MAX_JSON_DEPTH = 64;
/** Report bodies over this size count as large; at most MAX_LARGE_REPORTS are read at once. */
const LARGE_REPORT_BYTES = 1024 * 1024;
const MAX_LARGE_REPORTS = 2;

/** Whether `text`'s arrays and objects nest deeper than `max` (strings skipped). */
function jsonDepthOver(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Bodies a valid report never has are refused before they cost memory: JSON nested deeper than
 * MAX_JSON_DEPTH (13 MiB of `[` parse into millions of arrays: ~370 MB each, seen), and more
 * than MAX_LARGE_REPORTS large reports at once (each parses to hundreds of MB): the rest get 503
 * and the agents resend them later (their spool keeps them).
 */
function boundedJson(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDepthOver(body as string, MAX_JSON_DEPTH)) {
      done(new HttpError(400, 'bad-request', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`));
      return;
    }
    void parse(req, body as string, done);
  });
  let inFlight = 0;
  app.addHook('onRequest', (req, reply, done) => {
    if (req.method !== 'POST' || req.routeOptions.url !== REPORTS_ROUTE) done();
    else if (!(Number(req.headers['content-length'] ?? Infinity) > LARGE_REPORT_BYTES)) done();
    else if (inFlight >= MAX_LARGE_REPORTS) {
      // Closed after the answer: the body the client goes on sending is not waited for.
      void reply.header('connection', 'close');
      done(new HttpError(503, 'busy', 'too many large reports at once; resend it later'));
    } else {
      inFlight++;
      // Counted until answered or its connection is gone, whichever comes first; the other
      // listener is taken off (an agent's keep-alive connection carries many reports).
      const socket = req.raw.socket;
      const release = (): void => {
        inFlight--;
        reply.raw.off('finish', release);
        socket.off('close', release);
      };
      reply.raw.once('finish', release);
      socket.once('close', release);
      done();
    }
  });
}

export function registerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const rejections = instrument(app, deps.metrics);
  authenticateFirst(app, deps);
  boundedJson(app);
  app.setErrorHandler((error: unknown, req: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof HttpError) {
      return reply.code(error.status).send({ error: error.code, message: error.message });
    }
    if (error instanceof QueryError) {
      return reply.code(400).send({ error: 'bad-request', message: error.message });
    }
    if (error instanceof ReviewUnavailableError) {
      req.log.error({ err: error.message }, 'access review unavailable');
      return reply.code(503).send({ error: 'unavailable', message: 'cannot review the token now' });
    }
    if (error instanceof DiskFullError) {
      // Writes stopped before the volume is full (retention needs the rest): agents resend.
      req.log.error({ err: error.message, url: req.url }, 'database unavailable');
      return reply.code(503).send({ error: 'unavailable', message: `database: ${error.message}` });
    }
    if (isDatabaseUnavailable(error)) {
      // The database cannot be written or read now (disk full, I/O error, locked): the request
      // was not at fault, and agents resend what got a 5xx.
      req.log.error({ err: (error as Error).message, url: req.url }, 'database unavailable');
      return reply
        .code(503)
        .send({ error: 'unavailable', message: `database: ${(error as Error).message}` });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      // Fastify's own rejections: unparseable JSON, body too large, wrong content type.
      const message = clip((error as Error).message, 1000);
      req.log.warn({ err: message, url: clip(req.url, 300) }, 'rejected request');
      return reply.code(status).send({ error: 'bad-request', message });
    }
    req.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.get('/healthz', () => ({ status: 'ok' }));

  app.get(METRICS_PATH, async (req, reply) => {
    const who = caller(req);
    if (!(await deps.reviewer.canGetMetrics(who))) {
      throw new HttpError(403, 'forbidden', `${who.username} may not get ${METRICS_PATH}`);
    }
    const { contentType, text } = await deps.metrics.expose();
    return reply.type(contentType).send(text);
  });

  app.get('/openapi.json', (req) => {
    caller(req);
    return openApiDocument();
  });

  app.get('/api/v1/about', (req) => {
    caller(req);
    return {
      version,
      namespace: deps.config.namespace,
      agentConfigMap: deps.config.agentConfigMap,
      storePathDefault: STORE_PATH_DEFAULT,
    };
  });

  app.get('/api/v1/summary', async (req) => {
    await authorize(deps, req, null);
    return deps.queries.summary(parse(S.SinceQuery, req.query).since);
  });

  app.get('/api/v1/pods', async (req) => {
    const q = parse(S.PodsQuery, req.query);
    await authorize(deps, req, q.namespace ?? null);
    return deps.queries.pods(q);
  });

  app.get('/api/v1/images', async (req) => {
    await authorize(deps, req, null);
    return deps.queries.images(parse(S.SinceQuery, req.query).since);
  });

  app.get('/api/v1/images/layers', async (req) => {
    await authorize(deps, req, null);
    return deps.queries.layers(parse(S.LayersQuery, req.query));
  });

  app.get('/api/v1/nodes', async (req) => {
    await authorize(deps, req, null);
    return { items: deps.queries.nodes() };
  });

  app.get('/api/v1/timeseries', async (req) => {
    await authorize(deps, req, null);
    return deps.queries.timeseries(parse(S.TimeseriesQuery, req.query));
  });

  app.post(REPORTS_ROUTE, async (req) => {
    const who = caller(req);
    const allowed = agentNode(who, deps.config.namespace, deps.cluster.getPod);
    if ('refused' in allowed) throw new HttpError(403, 'forbidden', allowed.refused);
    const parsed = AgentReportSchema.safeParse(req.body);
    if (!parsed.success) {
      // Bounded: one issue can list a million unknown keys, and the reply and the log echo it.
      const message = parsed.error.issues
        .slice(0, 10)
        .map((i) => clip(`${i.path.slice(0, 8).join('.') || '(body)'}: ${i.message}`, 300))
        .join('; ');
      req.log.warn({ node: allowed.node, issues: message }, 'malformed agent report rejected');
      throw new HttpError(400, 'bad-report', message);
    }
    if (parsed.data.node !== allowed.node) {
      rejections.set(req, 'wrong-node');
      throw new HttpError(
        403,
        'forbidden',
        `the agent on ${allowed.node} may not report for node ${parsed.data.node}`,
      );
    }
    const outcome = await deps.reports.submit(parsed.data);
    deps.metrics.reportStored(outcome.duplicate);
    if (outcome.layersDropped > 0) {
      deps.metrics.reportLayersDropped(outcome.layersDropped);
      req.log.warn(
        { node: allowed.node, layersDropped: outcome.layersDropped, limit: MAX_LAYERS_PER_IMAGE },
        'report: layers beyond the per-image limit not stored',
      );
    }
    return { accepted: true, duplicate: outcome.duplicate };
  });
}
