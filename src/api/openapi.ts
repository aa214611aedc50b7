/** The OpenAPI 3.1 document, generated from the routes' zod schemas (zod 4's JSON Schema output). */
import { z } from 'zod';
import { problem } from './schemas.ts';
import type { Route } from './route.ts';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>>; required?: string[] };

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** An object schema's properties as OpenAPI parameters. */
function parameters(schema: z.ZodType | undefined, where: 'query' | 'path'): Record<string, unknown>[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input');
  return Object.entries(json.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

const problemResponse = (description: string) => ({ description, content: { 'application/json': { schema: toSchema(problem, 'output') } } });

export function openApiDocument(routes: readonly Route[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const content: Record<string, unknown> = { 'application/json': { schema: toSchema(r.response, 'output') } };
    if (r.csv) content['text/csv'] = { schema: { type: 'string' } };
    paths[path] = {
      get: {
        summary: r.summary,
        ...(r.description ? { description: r.description } : {}),
        tags: [r.tag],
        operationId: `${r.tag}_${r.path.split('/').filter((s) => s && !s.startsWith(':')).slice(2).join('_') || 'root'}`,
        parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
        responses: {
          200: { description: 'OK', content },
          400: problemResponse('Bad query string or path parameter; `message` names each parameter and what is wrong'),
          401: problemResponse('Credentials missing or invalid'),
          ...(r.params ? { 404: problemResponse('Unknown entity') } : {}),
          429: problemResponse('Rate limit exceeded'),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'newspulse read API', version: info.version, description: 'Read-only access to entities, sentiment rollups, articles, trends, sources and job runs.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }, { basic: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key from `npm run keys -- create NAME`' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        basic: { type: 'http', scheme: 'basic', description: 'BOARD_USER/BOARD_PASSWORD, or any user name with an API key as the password' },
      },
    },
    paths,
  };
}
