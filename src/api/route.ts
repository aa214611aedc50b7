/**
 * One declaration per endpoint: path, schemas, handler, optional CSV shape. The server
 * registers these and /api/openapi.json is generated from the very same objects, so the
 * document cannot drift from what the handlers accept.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EntityManager } from '../db/orm.ts';
import type pg from 'pg';
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
  /** The article listings' pool (openListingPool). */
  listings: pg.Pool;
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

export function register(app: FastifyInstance, r: Route, em: () => EntityManager, listings: pg.Pool, entities: EntityLookup): void {
  app.get(r.path, async (request: FastifyRequest, reply: FastifyReply) => {
    const params = (r.params ?? EMPTY).safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'bad_request', message: describeIssues(params.error, 'path') });
    const query = r.query.safeParse(request.query ?? {});
    if (!query.success) return reply.code(400).send({ error: 'bad_request', message: describeIssues(query.error, 'query') });
    const body = await r.handler({ params: params.data, query: query.data, em: em(), listings, entities, now: new Date() });
    if (r.csv && wantsCsv(request, query.data)) return reply.type('text/csv; charset=utf-8').send(r.csv(body));
    return reply.send(body);
  });
}
