/**
 * One declaration per endpoint: path, schemas, handler, optional CSV shape. The server
 * registers these and /api/openapi.json is generated from the very same objects, so the
 * document cannot drift from what the handlers accept.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EntityManager } from '../db/orm.ts';
import type { EntityLookup } from './read.ts';

export class NotFound extends Error {
  override name = 'NotFound';
}
/** Input that parses but makes no sense (reversed range, bad cursor): a 400 with this message. */
export class BadRequest extends Error {
  override name = 'BadRequest';
}

export interface RouteInput<P, Q> {
  params: P;
  query: Q;
  em: EntityManager;
  entities: EntityLookup;
  now: Date;
}

export interface Route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  path: string;
  summary: string;
  description?: string;
  tag: string;
  params?: P;
  query: Q;
  response: R;
  /**
   * Serialize the JSON body with a serializer compiled from `response` (fastify's
   * fast-json-stringify) instead of JSON.stringify: for the bodies of thousands of rows, where it
   * measured several times faster (bench/api.ts). It writes only the schema's properties.
   */
  compiledJson?: boolean;
  /** Present on table-shaped endpoints: the body as CSV (`?format=csv` or `Accept: text/csv`). */
  csv?: (body: z.output<R>) => string;
  handler(input: RouteInput<z.output<P>, z.output<Q>>): Promise<z.output<R>>;
}

/** Keeps each route's three schemas tied to its handler's types. */
export function route<P extends z.ZodType, Q extends z.ZodType, R extends z.ZodType>(r: Route<P, Q, R>): Route<P, Q, R> {
  return r;
}

/** "granularity: Invalid option: expected one of "hour"|"day"; from: must be an ISO date ..." */
export function describeIssues(error: z.ZodError, where: string): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`).join('; ');
}

function wantsCsv(request: FastifyRequest, query: unknown): boolean {
  const format = typeof query === 'object' && query !== null ? (query as { format?: unknown }).format : undefined;
  if (format === 'csv') return true;
  if (format === 'json') return false;
  const accept = request.headers.accept ?? '';
  return /\btext\/csv\b/.test(accept) && !/\bapplication\/json\b/.test(accept.split('text/csv')[0] ?? '');
}

const EMPTY = z.strictObject({});

type JsonSchema = { [key: string]: unknown };

/**
 * The response schema as fast-json-stringify takes it fast: zod writes some nullable values as
 * anyOf [T, null], which fast-json-stringify resolves per value by running a validator; as
 * `type: [T, "null"]` it is one null check.
 */
export function serializerSchema(schema: z.ZodType): JsonSchema {
  const simplify = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(simplify);
    if (typeof node !== 'object' || node === null) return node;
    const { anyOf, ...rest } = node as JsonSchema;
    if (Array.isArray(anyOf) && anyOf.length === 2) {
      const [value, none] = anyOf as JsonSchema[];
      if (none?.type === 'null' && typeof value?.type === 'string' && Object.keys(none).length === 1) return simplify({ ...rest, ...value, type: [value.type, 'null'] });
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, simplify(v)]));
  };
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'output', target: 'draft-7' }) as JsonSchema;
  return simplify(json) as JsonSchema;
}

export function register(app: FastifyInstance, r: Route, em: () => EntityManager, entities: EntityLookup): void {
  const options = r.compiledJson ? { schema: { response: { 200: serializerSchema(r.response) } } } : {};
  app.get(r.path, options, async (request: FastifyRequest, reply: FastifyReply) => {
    const params = (r.params ?? EMPTY).safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'bad_request', message: describeIssues(params.error, 'path') });
    const query = r.query.safeParse(request.query ?? {});
    if (!query.success) return reply.code(400).send({ error: 'bad_request', message: describeIssues(query.error, 'query') });
    const body = await r.handler({ params: params.data, query: query.data, em: em(), entities, now: new Date() });
    if (r.csv && wantsCsv(request, query.data)) return reply.type('text/csv; charset=utf-8').send(r.csv(body));
    return reply.send(body);
  });
}
