/**
 * The read side's HTTP server: /api/v1 (JSON, CSV), /api/openapi.json, /api/v1/events (SSE),
 * /dashboard and its assets, /healthz. Read-only: only GET/HEAD routes exist, any other method
 * is answered 405, and its Postgres sessions refuse writes (openReadOrm).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { accessHook, checkApiBinding, isLoopback } from './access.ts';
import { KeyCheck } from './keys.ts';
import { LiveFeed } from './live.ts';
import { openApiDocument } from './openapi.ts';
import { EntityLookup, latestRollupRun, openListingPool, openReadOrm } from './read.ts';
import { BadRequest, NotFound, register } from './route.ts';
import { API_PREFIX, ROUTES } from './routes.ts';

export const DASHBOARD_PATH = '/dashboard';
const require = createRequire(import.meta.url);
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The dashboard's files, read once: the page, its script and style, and uPlot from node_modules (no CDN). */
function dashboardAssets(): Map<string, { type: string; body: Buffer }> {
  const own = (name: string) => readFileSync(new URL(`./dashboard/${name}`, import.meta.url));
  return new Map([
    ['', { type: 'text/html; charset=utf-8', body: own('index.html') }],
    ['app.js', { type: 'text/javascript; charset=utf-8', body: own('app.js') }],
    ['app.css', { type: 'text/css; charset=utf-8', body: own('app.css') }],
    ['vendor/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
    ['vendor/uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) }],
  ]);
}

export interface ApiServer {
  app: FastifyInstance;
  live: LiveFeed;
}

/** Builds the app on an open ORM (not listening yet): the tests and the bench use this directly. */
export async function buildApi(config: Config, orm: Orm, log: Logger): Promise<ApiServer> {
  const em = () => orm.em.fork();
  const listings = openListingPool(config.databaseUrl);
  const keys = new KeyCheck(em);
  const live = new LiveFeed(() => latestRollupRun(em()), config.api.livePollMs, log);
  const app = Fastify({ logger: false, forceCloseConnections: true });

  app.setErrorHandler((err, _request, reply) => {
    if (err instanceof NotFound) return reply.code(404).send({ error: 'not_found', message: err.message });
    if (err instanceof BadRequest) return reply.code(400).send({ error: 'bad_request', message: err.message });
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) return reply.code(status).send({ error: 'bad_request', message: (err as Error).message });
    log.error({ err }, 'api: request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error (see the server log)' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }));

  // Read-only surface: say so instead of a 404 for writes (a root hook runs for unmatched routes too).
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS') {
      return reply.code(405).header('allow', 'GET, HEAD').send({ error: 'method_not_allowed', message: 'the read API is read-only' });
    }
    return undefined;
  });
  app.get('/healthz', () => ({ status: 'ok' }));
  await app.register(async (scope) => {
    if (config.api.corsOrigins.length) await scope.register(fastifyCors, { origin: [...config.api.corsOrigins], methods: ['GET', 'HEAD'] });
    await scope.register(fastifyRateLimit, {
      max: config.api.rateLimitPerMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'rate_limited', message: `rate limit: ${ctx.max} requests per minute; retry in ${Math.ceil(ctx.ttl / 1000)}s` }),
    });
    // preHandler, after the rate limiter's per-route onRequest hook: failed logins count against the limit too.
    scope.addHook('preHandler', accessHook(config, keys));

    const entities = new EntityLookup();
    for (const r of ROUTES) register(scope, r, em, listings, entities);
    const document = openApiDocument(ROUTES, { version: VERSION });
    scope.get('/api/openapi.json', () => document);
    scope.get(`${API_PREFIX}/events`, async (request, reply) => {
      reply.hijack();
      await live.attach(reply.raw);
      request.raw.on('close', () => reply.raw.end());
    });

    const assets = dashboardAssets();
    scope.get(DASHBOARD_PATH, (_req, reply) => reply.redirect(`${DASHBOARD_PATH}/`));
    scope.get(`${DASHBOARD_PATH}/*`, (request, reply) => {
      const asset = assets.get((request.params as { '*': string })['*']);
      if (!asset) return reply.code(404).send({ error: 'not_found', message: 'no such dashboard file' });
      return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
    });
  });
  app.addHook('onClose', async () => {
    live.close();
    await listings.end();
  });
  return { app, live };
}

export interface RunningApi {
  url: string;
  dashboardUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Opens its own read-only pool, applies the binding rule, listens on API_HOST:API_PORT. */
export async function startApi(config: Config, log: Logger): Promise<RunningApi> {
  const orm = await openReadOrm(config.databaseUrl);
  try {
    const keys = new KeyCheck(() => orm.em.fork());
    checkApiBinding(config.api.host, { activeKeys: await keys.activeCount(), boardPassword: config.board.password });
    const { app } = await buildApi(config, orm, log);
    await app.listen({ host: config.api.host, port: config.api.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.api.port;
    const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const open = isLoopback(config.api.host) && !config.board.password && (await keys.activeCount()) === 0;
    if (open) log.warn({ url, dashboard: `${url}${DASHBOARD_PATH}/` }, 'api listening on loopback only WITHOUT auth: create a key (npm run keys -- create NAME) to require one');
    else log.info({ url, dashboard: `${url}${DASHBOARD_PATH}/` }, 'api listening (API key or board credentials required)');
    return {
      url,
      dashboardUrl: `${url}${DASHBOARD_PATH}/`,
      port,
      close: async () => {
        await app.close();
        await orm.close(true);
      },
    };
  } catch (err) {
    await orm.close(true);
    throw err;
  }
}
