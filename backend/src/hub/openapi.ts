// The OpenAPI 3.1 document the hub serves at /openapi.json, generated from the same zod schemas that
// validate requests (api-schemas.ts, telemetry/report.ts).
import { z } from 'zod';

import { AgentReportSchema } from '../telemetry/report.ts';
import { version } from '../version.ts';
import * as S from './api-schemas.ts';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
  }) as Json;
  return rest; // the document's dialect is declared once, by openapi 3.1
}

function queryParameters(schema: z.ZodObject): Json[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    return {
      name,
      in: 'query',
      required: !f.safeParse(undefined).success,
      schema: schemaOf(f, 'input'),
    };
  });
}

const errors = {
  '400': {
    description: 'invalid request',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
  '401': { description: 'no valid bearer token' },
  '403': { description: 'not allowed (SubjectAccessReview)' },
  '503': {
    description:
      'the Kubernetes API could not review the token, or the database cannot be written now ' +
      '(its volume is almost full: the hub keeps room for retention)',
  },
};

function get(summary: string, response: string, query?: z.ZodObject): Json {
  return {
    get: {
      summary,
      security: [{ bearer: [] }],
      ...(query ? { parameters: queryParameters(query) } : {}),
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${response}` } } },
        },
        ...errors,
      },
    },
  };
}

let cached: Json | null = null;

export function openApiDocument(): Json {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'Slipstream hub',
      version,
      description:
        'Per-pod startup and lazy-pull telemetry. Durations are seconds, sizes bytes, times ISO-8601. ' +
        'Users authenticate with their bearer token (TokenReview) and need `list pods` (SubjectAccessReview): ' +
        'in the namespace for /pods?namespace=, cluster-wide otherwise. Pods are "lazy" when their node ' +
        'served an image lazily, "normal" when the kubelet pulled it, otherwise (already present) neither.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: schemaOf(S.ApiError),
        About: schemaOf(S.About),
        Summary: schemaOf(S.Summary),
        PodsPage: schemaOf(S.PodsPage),
        ImagesList: schemaOf(S.ImagesList),
        LayersPage: schemaOf(S.LayersPage),
        NodesList: schemaOf(S.NodesList),
        Timeseries: schemaOf(S.Timeseries),
        AgentReport: schemaOf(AgentReportSchema, 'input'),
        ReportAccepted: schemaOf(S.ReportAccepted),
      },
    },
    paths: {
      '/healthz': {
        get: { summary: 'Liveness (unauthenticated)', responses: { '200': { description: 'ok' } } },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          security: [{ bearer: [] }],
          responses: { '200': { description: 'OpenAPI 3.1' } },
        },
      },
      '/api/v1/about': get('Hub version and the settings the console needs', 'About'),
      '/api/v1/summary': get('Cluster-wide startup and savings summary', 'Summary', S.SinceQuery),
      '/api/v1/pods': get(
        'Per-pod startup records, newest first, paginated',
        'PodsPage',
        S.PodsQuery,
      ),
      '/api/v1/images': get(
        'Per-image startup distributions, bytes and savings',
        'ImagesList',
        S.SinceQuery,
      ),
      '/api/v1/images/layers': get(
        "Per-layer fetch statistics and hot files of an image's current build, paginated: " +
          'layers with the most-read file first (then most bytes read on demand), so the first ' +
          'page holds the hottest files',
        'LayersPage',
        S.LayersQuery,
      ),
      '/api/v1/nodes': get('Agent state per node', 'NodesList'),
      '/api/v1/timeseries': get(
        'Chunk fetch rate, bytes and latency over time',
        'Timeseries',
        S.TimeseriesQuery,
      ),
      '/api/v1/reports': {
        post: {
          summary: 'Agent report (agents only: service account slipstream-agent, own node only)',
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/AgentReport' } },
            },
          },
          responses: {
            '200': {
              description: 'stored (or already stored)',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/ReportAccepted' } },
              },
            },
            ...errors,
          },
        },
      },
    },
  };
  return cached;
}
