/**
 * The fetch job end to end, in-process: the real handlers run by real BullMQ workers (a random
 * queue prefix per test) against a fresh Postgres database and a local HTTP server on 127.0.0.1.
 * Each case asserts the exact rows it leaves behind (articles, links, dirty marks, the source's
 * state, job_run rows) and what the server saw (validators sent, request timing, overlap).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { QueueEvents, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import type { JobStats } from '../../src/db/entities.ts';
import { syncConfig } from '../../src/db/sync.ts';
import { handlers } from '../../src/jobs.ts';
import { buildServices } from '../../src/process.ts';
import { BACKOFF_TYPE } from '../../src/queues/job-options.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { startWorkers, type WorkerSet } from '../../src/queues/workers.ts';
import type { Services } from '../../src/services.ts';
import { FIXTURES, type FixtureCase } from '../fixtures/sources/manifest.ts';
import { FIXTURES_DIR, start as startFixtureServer, type FixtureServer, type RouteHandler } from '../sources/fixture-server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { generatedItems, rss, type FeedItem } from '../support/feeds.ts';
import { eventually, writeSourcesFile } from '../support/processes.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

const log = pino({ level: 'silent' });
const NOW = new Date();
const MAX_BODY = 64 * 1024;
// Scheduled runs never fire by themselves here: every run is enqueued by the test.
const YEARLY = { cron: '0 0 1 1 *' };
/** Retries in this file wait milliseconds, not the production 5 s (unless Retry-After says more). */
const FAST_RETRY = { backoff: { type: BACKOFF_TYPE, delay: 10 } } as const;

/** 8 items: Tesla x2, Apple x2 (one possessive with a curly apostrophe), Nvidia, Microsoft, OpenAI, and one with no entity. */
const feedOf = (prefix: string, n = 8): string => rss(generatedItems(n, NOW, { prefix }));
const EXPECTED_LINKS = { apple: 2, microsoft: 1, nvidia: 1, openai: 1, tesla: 2 };

// ---------------------------------------------------------------------------------------------
// HTTP helpers

interface Reply {
  status?: number;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

function send(res: ServerResponse, reply: Reply): void {
  const body = reply.body ?? '';
  res.writeHead(reply.status ?? 200, { 'content-length': Buffer.byteLength(body), ...reply.headers }).end(body);
}

const rssReply = (body: string | Buffer, headers: Record<string, string | number> = {}): Reply => ({
  headers: { 'content-type': 'application/rss+xml; charset=utf-8', ...headers },
  body,
});

/** Records when each request arrived; answers with `answer(index)` (a Reply or a custom handler). */
function tracked(answer: (i: number, req: IncomingMessage) => Reply | RouteHandler): RouteHandler & { times: number[] } {
  const times: number[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const i = times.push(Date.now()) - 1;
    const reply = answer(i, req);
    return typeof reply === 'function' ? reply(req, res) : send(res, reply);
  };
  return Object.assign(handler, { times });
}

/** Answers the i-th request with replies[i], repeating the last one. */
const sequence = (...replies: Reply[]) => tracked((i) => replies[Math.min(i, replies.length - 1)]!);

// ---------------------------------------------------------------------------------------------
// Routes and sources

const CONDITIONAL_BODY = feedOf('cond');
const LAST_MODIFIED = 'Sat, 21 Nov 2026 10:00:00 GMT';
const conditional = tracked((_i, req) => {
  if (req.headers['if-none-match'] === '"v1"') return { status: 304, headers: { etag: '"v2"' } };
  if (req.headers['if-none-match'] === '"v2"') return { status: 304 };
  return rssReply(CONDITIONAL_BODY, { etag: '"v1"', 'last-modified': LAST_MODIFIED });
});

const limited = sequence({ status: 429, headers: { 'retry-after': '1' }, body: 'slow down' }, rssReply(feedOf('limited')));
const flaky = sequence({ status: 500, body: 'oops' }, rssReply(feedOf('flaky')));
const gone = sequence({ status: 404, body: 'not here' });
const refetch = sequence(rssReply(feedOf('refetch')));

/** Sends the head of a feed, then one space every 100 ms: only the total deadline can stop it. */
const slowBody: RouteHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/rss+xml' });
  res.write('<?xml version="1.0"?>\n<rss version="2.0"><channel><title>slow</title>');
  const timer = setInterval(() => res.write(' '), 100);
  res.on('close', () => clearInterval(timer));
  res.on('error', () => {});
};

/** An endless chunked body (no Content-Length). */
const endlessBody: RouteHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/rss+xml' });
  res.on('error', () => {});
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
  };
  res.on('drain', pump);
  pump();
};

const GZIP_BOMB = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // ~10 KiB on the wire, 10 MiB inflated

const GZIP_FEED = feedOf('gzip');
const BR_FEED = feedOf('brotli');

// The same story, linked with different tracking params / scheme / www / trailing slash / fragment.
const STORY_KEY = 'https://news.example.org/markets/tesla-recall';
const storyA: FeedItem[] = [
  { guid: 'a-story', title: 'Tesla recalls 2 million cars', link: 'https://News.Example.org/markets/tesla-recall?utm_source=rss&utm_medium=feed#top', pubDate: NOW },
  { guid: 'a-other', title: 'Apple beats expectations', link: 'https://news.example.org/markets/apple-beats', pubDate: NOW },
];
const storyB: FeedItem[] = [
  { guid: 'b-story', title: 'Tesla recalls two million vehicles', link: 'http://www.news.example.org/markets/tesla-recall/?fbclid=xyz&utm_campaign=c', pubDate: NOW },
  { guid: 'b-other', title: 'Nvidia rally lifts chip stocks', link: 'https://news.example.org/markets/nvidia-rally', pubDate: NOW },
];

// Late data: two Tesla items in one hour three days ago, and one item that names no entity.
const LATE_HOUR = new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth(), NOW.getUTCDate() - 3, 9));
const lateItems: FeedItem[] = [
  { guid: 'late-1', title: 'Tesla shares slump after delivery miss', link: 'https://late.example.org/1', pubDate: new Date(LATE_HOUR.getTime() + 37 * 60_000) },
  { guid: 'late-2', title: 'Tesla recall widens', link: 'https://late.example.org/2', pubDate: new Date(LATE_HOUR.getTime() + 59 * 60_000 + 59_000) },
  { guid: 'late-3', title: 'Quiet day on markets as traders await data', link: 'https://late.example.org/3', pubDate: NOW },
];

let failingHealthy = false;
const failing = tracked(() => (failingHealthy ? rssReply(feedOf('failing')) : { status: 503, body: 'maintenance' }));

/** A slow source that counts how many of its requests are in flight at once. */
const overlap = { active: 0, max: 0 };
const slowLock = tracked(() => (_req, res) => {
  overlap.active += 1;
  overlap.max = Math.max(overlap.max, overlap.active);
  setTimeout(() => {
    overlap.active -= 1;
    send(res, rssReply(feedOf('lock')));
  }, 400);
});

/** Answers only when the test releases it. */
let releaseGate: (() => void) | undefined;
const gated = tracked(() => (_req, res) => {
  releaseGate = () => send(res, rssReply(feedOf('gated', 2)));
});

/** First request: held until the test releases it (a fetch that stalls); later ones answer at once. */
let releaseFenced: (() => void) | undefined;
const fenced = tracked((i) => {
  if (i > 0) return rssReply(feedOf('fresh', 3), { etag: '"fresh"' });
  return (_req, res) => {
    releaseFenced = () => send(res, rssReply(feedOf('stale', 5), { etag: '"stale"' }));
  };
});

/** Three sources on one origin, each answering after 150 ms; counts requests in flight across all three. */
const perHost = { active: 0, max: 0, starts: [] as number[] };
const politeRoute = (name: string) =>
  tracked(() => (_req, res) => {
    perHost.starts.push(Date.now());
    perHost.active += 1;
    perHost.max = Math.max(perHost.max, perHost.active);
    setTimeout(() => {
      perHost.active -= 1;
      send(res, rssReply(feedOf(name)));
    }, 150);
  });

// Every fixture: one source each, served with the manifest's Content-Type.
const fixtureId = (f: FixtureCase) => `fx-${f.file.replace(/\.[a-z]+$/, '').replace(/[^a-z0-9]+/g, '-')}`;
/** The URL each fixture source actually requested (error messages name it). */
const fixtureUrls = new Map<string, string>();
let origin = '';
function serveFixture(f: FixtureCase): RouteHandler {
  return (req, res) => {
    fixtureUrls.set(f.file, new URL(req.url ?? '/', origin).href);
    send(res, { headers: { 'content-type': f.contentType }, body: readFileSync(`${FIXTURES_DIR}${f.file}`) });
  };
}
/** HN's request path is fixed (/api/v1/search_by_date): its sources pick the fixture by their query. */
const hnRoute: RouteHandler = (req, res) => {
  const file = new URL(req.url ?? '/', origin).searchParams.get('query') ?? '';
  const fixture = FIXTURES.find((f) => f.file === file && f.kind === 'hn');
  if (!fixture) return send(res, { status: 404, body: `no hn fixture ${file}` });
  return serveFixture(fixture)(req, res);
};

function sourcesFor(server: FixtureServer) {
  const feed = (id: string, path: string) => ({ id, kind: 'feed', url: server.url(path), ...YEARLY });
  const fixtureSources = FIXTURES.map((f) => {
    const id = fixtureId(f);
    switch (f.kind) {
      case 'hn':
        return { id, kind: f.kind, url: server.origin, query: f.file, ...YEARLY };
      case 'gdelt':
        return { id, kind: f.kind, url: server.url(`/fixtures/${f.file}`), query: 'fixture', ...YEARLY };
      default:
        return { id, kind: f.kind, url: server.url(`/fixtures/${f.file}`), ...YEARLY };
    }
  });
  return {
    entities: [
      { slug: 'tesla', name: 'Tesla' },
      { slug: 'apple', name: 'Apple' },
      { slug: 'nvidia', name: 'Nvidia' },
      { slug: 'microsoft', name: 'Microsoft' },
      { slug: 'openai', name: 'OpenAI' },
    ],
    sources: [
      feed('cond', '/cond.xml'),
      feed('limited', '/limited.xml'),
      feed('flaky', '/flaky.xml'),
      feed('gone', '/gone.xml'),
      feed('slow-body', '/slow-body.xml'),
      feed('big-declared', '/big-declared.xml'),
      feed('big-endless', '/big-endless.xml'),
      feed('big-gzip-bomb', '/big-gzip-bomb.xml'),
      feed('gzip-feed', '/gzip.xml'),
      feed('br-feed', '/br.xml'),
      feed('refetch', '/refetch.xml'),
      feed('story-a', '/story-a.xml'),
      feed('story-b', '/story-b.xml'),
      feed('late', '/late.xml'),
      feed('failing', '/failing.xml'),
      feed('slow-lock', '/slow-lock.xml'),
      feed('gated', '/gated.xml'),
      feed('good', '/good.xml'),
      feed('fenced', '/fenced.xml'),
      feed('polite-a', '/polite-a.xml'),
      feed('polite-b', '/polite-b.xml'),
      feed('polite-c', '/polite-c.xml'),
      ...fixtureSources,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The harness: real queues, services and workers on a fresh prefix per test

interface Harness {
  prefix: string;
  queues: Queues;
  services: Services;
  workers: WorkerSet;
  events: QueueEvents;
  close(): Promise<void>;
}

let db: TestDatabase;
let server: FixtureServer;
let config: Config;
let configEnv: Record<string, string>;
let open: Harness | undefined;

async function startHarness(options: { concurrency?: number; config?: Config } = {}): Promise<Harness> {
  const prefix = testPrefix('fetch');
  const producer = workerRedis();
  const queues = createQueues(producer, prefix, log);
  const services = await buildServices(options.config ?? config, db.orm, queues, log);
  const connections: Redis[] = [producer];
  const workers = startWorkers({
    orm: db.orm,
    log,
    handlers,
    services,
    prefix,
    connection: workerRedis,
    concurrency: { ingest: options.concurrency ?? 1, rollup: 1, maintenance: 1 },
  });
  const eventsConnection = workerRedis();
  connections.push(eventsConnection);
  const events = new QueueEvents('ingest', { connection: eventsConnection, prefix });
  await events.waitUntilReady();
  open = {
    prefix,
    queues,
    services,
    workers,
    events,
    async close() {
      await workers.close(5_000);
      await events.close();
      await closeQueues(queues);
      await services.http.close();
      for (const c of connections) c.disconnect();
      await deletePrefix(prefix);
    },
  };
  return open;
}

interface Outcome {
  /** The job as BullMQ holds it once finished. */
  job: Job;
  result?: JobStats;
  error?: Error;
}

/** A manual run (no scheduler key), like `enqueue fetch <id>`. */
async function fetchJob(h: Harness, sourceId: string, opts: JobsOptions = {}): Promise<Job> {
  return h.queues.ingest.add('fetch', { sourceId }, { attempts: 1, ...FAST_RETRY, ...opts });
}

async function finished(h: Harness, job: Job): Promise<Outcome> {
  let result: JobStats | undefined;
  let error: Error | undefined;
  try {
    result = (await job.waitUntilFinished(h.events, 30_000)) as JobStats;
  } catch (err) {
    error = err as Error;
  }
  const fresh = await h.queues.ingest.getJob(job.id!);
  return { job: fresh!, result, error };
}

const runFetch = async (h: Harness, sourceId: string, opts: JobsOptions = {}) => finished(h, await fetchJob(h, sourceId, opts));

// ---------------------------------------------------------------------------------------------
// Oracle queries (plain pg, not the code under test)

async function sourceRow(id: string) {
  const { rows } = await db.pool.query(
    `select etag, last_modified, consecutive_failures, last_error, backoff_until, last_fetched_at, last_success_at from source where id = $1`,
    [id],
  );
  return rows[0] as {
    etag: string | null;
    last_modified: string | null;
    consecutive_failures: number;
    last_error: string | null;
    backoff_until: Date | null;
    last_fetched_at: Date | null;
    last_success_at: Date | null;
  };
}

async function runsOf(jobId: string) {
  const { rows } = await db.pool.query(`select attempt, status, stats, error from job_run where job_id = $1 order by attempt, id`, [jobId]);
  return rows as { attempt: number; status: string; stats: JobStats | null; error: string | null }[];
}

async function count(sqlText: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query(`select count(*)::int as n from (${sqlText}) q`, params);
  return rows[0].n as number;
}

const articles = (sourceId: string) => count('select 1 from article where source_id = $1', [sourceId]);

async function linksBySlug(sourceId: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query(
    `select e.slug, count(*)::int as n from article_entity ae join article a on a.id = ae.article_id join entity e on e.id = ae.entity_id
      where a.source_id = $1 group by 1 order by 1`,
    [sourceId],
  );
  return Object.fromEntries(rows.map((r: { slug: string; n: number }) => [r.slug, r.n]));
}

const requestsTo = (path: string) => server.requests.filter((r) => r.path === path);

/** First line of BullMQ's stored stack for the last attempt: which error class failed the job. */
const failedAs = (job: Job) => job.stacktrace?.at(-1)?.split('\n')[0] ?? '';

// ---------------------------------------------------------------------------------------------

describe('fetch job (real handler, BullMQ, Postgres, local HTTP)', () => {
  beforeAll(async () => {
    db = await createTestDatabase('fetch');
    server = await startFixtureServer({
      routes: {
        '/cond.xml': conditional,
        '/limited.xml': limited,
        '/flaky.xml': flaky,
        '/gone.xml': gone,
        '/slow-body.xml': slowBody,
        '/big-declared.xml': { headers: { 'content-type': 'application/rss+xml' }, body: Buffer.alloc(MAX_BODY + 1, 0x20) },
        '/big-endless.xml': endlessBody,
        '/big-gzip-bomb.xml': { headers: { 'content-type': 'application/rss+xml', 'content-encoding': 'gzip' }, body: GZIP_BOMB },
        '/gzip.xml': { headers: { 'content-type': 'application/rss+xml', 'content-encoding': 'gzip' }, body: gzipSync(GZIP_FEED) },
        '/br.xml': { headers: { 'content-type': 'application/rss+xml', 'content-encoding': 'br' }, body: brotliCompressSync(BR_FEED) },
        '/refetch.xml': refetch,
        '/story-a.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(storyA) },
        '/story-b.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(storyB) },
        '/late.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(lateItems) },
        '/failing.xml': failing,
        '/slow-lock.xml': slowLock,
        '/gated.xml': gated,
        '/good.xml': { headers: { 'content-type': 'application/rss+xml' }, body: feedOf('good') },
        '/fenced.xml': fenced,
        '/polite-a.xml': politeRoute('polite-a'),
        '/polite-b.xml': politeRoute('polite-b'),
        '/polite-c.xml': politeRoute('polite-c'),
        '/api/v1/search_by_date': hnRoute,
        ...Object.fromEntries(FIXTURES.map((f) => [`/fixtures/${f.file}`, serveFixture(f)])),
      },
    });
    origin = server.origin;
    const sourcesFile = writeSourcesFile(sourcesFor(server));
    configEnv = {
      DATABASE_URL: db.url,
      REDIS_URL,
      SOURCES_FILE: sourcesFile,
      LOG_LEVEL: 'silent',
      HTTP_TIMEOUT: '1s',
      FETCH_ALLOW_PRIVATE: '127.0.0.1/32',
      HTTP_MAX_BODY_BYTES: String(MAX_BODY),
      // Long enough that no refresh consumes the dirty marks these tests assert.
      ROLLUP_DEBOUNCE: '1h',
      // Every route here is on one local origin: politeness has its own test below.
      HOST_CONCURRENCY: '64',
      HOST_MIN_INTERVAL: '0',
    };
    config = loadConfig(configEnv);
    await syncConfig(db.orm.em.fork(), config);
  });

  beforeEach(async () => {
    await db.pool.query('truncate article, article_key, article_entity, trend, trend_entity, rollup_dirty, sentiment_rollup, job_run restart identity');
    await db.pool.query(
      `update source set etag = null, last_modified = null, consecutive_failures = 0, last_error = null, backoff_until = null,
              last_fetched_at = null, last_success_at = null`,
    );
  });

  afterEach(async () => {
    releaseGate?.();
    releaseFenced?.();
    releaseFenced = undefined;
    await open?.close();
    open = undefined;
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('conditional GET: stores validators, sends them back, and a 304 completes as not-modified and refreshes them', async () => {
    const h = await startHarness();
    const first = await runFetch(h, 'cond');
    expect(first.result).toMatchObject({ fetched: 8, inserted: 8, duplicates: 0, not_modified: false });
    expect(await sourceRow('cond')).toMatchObject({ etag: '"v1"', last_modified: LAST_MODIFIED, consecutive_failures: 0, last_error: null, backoff_until: null });
    expect(requestsTo('/cond.xml')[0]!.headers).not.toHaveProperty('if-none-match');

    // The 304 carries a new ETag and no Last-Modified: the new ETag is stored, the old date kept.
    const second = await runFetch(h, 'cond');
    expect(second.result).toEqual({ fetched: 0, inserted: 0, not_modified: true });
    const sent = requestsTo('/cond.xml')[1]!.headers;
    expect(sent['if-none-match']).toBe('"v1"');
    expect(sent['if-modified-since']).toBe(LAST_MODIFIED);
    const afterSecond = await sourceRow('cond');
    expect(afterSecond).toMatchObject({ etag: '"v2"', last_modified: LAST_MODIFIED, consecutive_failures: 0, last_error: null });

    // A bare 304 keeps what was sent.
    const third = await runFetch(h, 'cond');
    expect(third.result).toEqual({ fetched: 0, inserted: 0, not_modified: true });
    expect(requestsTo('/cond.xml')[2]!.headers['if-none-match']).toBe('"v2"');
    const afterThird = await sourceRow('cond');
    expect(afterThird).toMatchObject({ etag: '"v2"', last_modified: LAST_MODIFIED });
    expect(afterThird.last_success_at!.getTime()).toBeGreaterThan(afterSecond.last_success_at!.getTime());

    expect(await articles('cond')).toBe(8);
    expect(await runsOf(second.job.id!)).toEqual([{ attempt: 1, status: 'completed', stats: { fetched: 0, inserted: 0, not_modified: true }, error: null }]);
    expect(await count(`select 1 from job_run where source_id = 'cond' and status = 'completed'`)).toBe(3);
    expect(requestsTo('/cond.xml')).toHaveLength(3);
  });

  it('the source row read before the lease is read again when a fetch committed after that read (its validators are sent, not the stale ones)', async () => {
    const h = await startHarness();
    expect((await runFetch(h, 'cond')).result).toMatchObject({ inserted: 8 });
    expect(await sourceRow('cond')).toMatchObject({ etag: '"v1"' });
    const fenceNow = async () => Number((await db.pool.query(`select fence from source where id = 'cond'`)).rows[0].fence);
    const read = await fenceNow();
    // Between this job's read and its claim, another worker is granted the source (token
    // read + 1) and commits a 304 that stored "v2": the row this job read is stale.
    const coordination = h.services.coordination;
    const realClaim = coordination.claim;
    coordination.claim = async (...args) => {
      coordination.claim = realClaim;
      const redis = workerRedis();
      try {
        await redis.hset(`${h.prefix}:fetch-lease:cond`, 'fence', String(read + 1));
      } finally {
        redis.disconnect();
      }
      await db.pool.query(`update source set etag = '"v2"', fence = $1 where id = 'cond'`, [read + 1]);
      return realClaim(...args);
    };
    const second = await runFetch(h, 'cond');
    expect(second.result).toEqual({ fetched: 0, inserted: 0, not_modified: true });
    // Its token (read + 2) is not the fence it read + 1: it read the row again under the lease.
    expect(requestsTo('/cond.xml').at(-1)!.headers['if-none-match']).toBe('"v2"');
    expect(await fenceNow()).toBe(read + 2);
  });

  it("a source moved to another host: the claim its last run's host hint made beside the read is dropped, and the request goes to the new host under a slot there", async () => {
    const h = await startHarness();
    const hostKey = (host: string) => `${h.prefix}:host:${host}`;
    const oldHost = new URL(origin).host;
    expect((await runFetch(h, 'good')).result).toMatchObject({ fetched: 8, inserted: 8 });
    expect(h.services.coordination.hostHints.get('good')).toBe(oldHost);

    const moved = await startFixtureServer({ routes: { '/good.xml': { headers: { 'content-type': 'application/rss+xml' }, body: feedOf('good') } } });
    const newHost = new URL(moved.origin).host;
    const before = requestsTo('/good.xml').length;
    const redis = workerRedis();
    try {
      const oldStart = Number(await redis.hget(hostKey(oldHost), 'last'));
      await db.pool.query(`update source set url = $1 where id = 'good'`, [moved.url('/good.xml')]);
      expect((await runFetch(h, 'good')).result).toMatchObject({ fetched: 8, inserted: 0, duplicates: 8 });
      // The hint's claim went out beside the read: it stamped the old host, which got no request.
      expect(Number(await redis.hget(hostKey(oldHost), 'last'))).toBeGreaterThan(oldStart);
      expect(requestsTo('/good.xml')).toHaveLength(before);
      expect(moved.requests.map((r) => r.path)).toEqual(['/good.xml']);
      expect(h.services.coordination.hostHints.get('good')).toBe(newHost);
      // Both hosts' slots are free again (the releases are not waited for): only their last starts remain.
      await eventually(async () => (await redis.hkeys(hostKey(oldHost))).join() === 'last' && (await redis.hkeys(hostKey(newHost))).join() === 'last', 5_000, 'both host slots to be released');
    } finally {
      redis.disconnect();
      await db.pool.query(`update source set url = $1 where id = 'good'`, [server.url('/good.xml')]);
      await moved.close();
    }
  });

  it('a scheduled run whose hint claimed the host but whose row says it is backing off sends nothing, frees the slot and drops the hint', async () => {
    const h = await startHarness();
    const host = new URL(origin).host;
    expect((await runFetch(h, 'good')).result).toMatchObject({ fetched: 8 });
    expect(h.services.coordination.hostHints.get('good')).toBe(host);
    const sent = requestsTo('/good.xml').length;
    const redis = workerRedis();
    const hostStart = async () => Number(await redis.hget(`${h.prefix}:host:${host}`, 'last'));
    const before = await hostStart();
    // Another worker's failures put the source into backoff after this process's last run.
    await db.pool.query(`update source set consecutive_failures = 3, backoff_until = now() + interval '5 minutes' where id = 'good'`);

    const scheduled = await h.queues.ingest.upsertJobScheduler('good-every-minute', { every: 60_000 }, { name: 'fetch', data: { sourceId: 'good' } });
    try {
      expect((await finished(h, scheduled)).result).toMatchObject({ skipped: 'backoff', consecutive_failures: 3 });
    } finally {
      await h.queues.ingest.removeJobScheduler('good-every-minute');
    }
    expect(requestsTo('/good.xml')).toHaveLength(sent);
    expect(h.services.coordination.hostHints.get('good')).toBeUndefined();
    try {
      // The claim went out with the read (it stamped the host) and was given back.
      expect(await hostStart()).toBeGreaterThan(before);
      await eventually(async () => (await redis.hkeys(`${h.prefix}:host:${host}`)).join() === 'last', 5_000, 'the host slot to be released');
      expect(await redis.hexists(`${h.prefix}:fetch-lease:good`, 'holder')).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('a hinted claim for a source that no longer has a row is given back: the job fails permanently, the lease key is gone and the slot is free', async () => {
    const h = await startHarness();
    const host = new URL(origin).host;
    // As if this process had fetched "ghost" before its row was deleted.
    h.services.coordination.hostHints.set('ghost', host);
    const { error, job } = await runFetch(h, 'ghost', { attempts: 3 });
    expect(error?.message).toBe(`fetch ghost: unknown source (not in the source table; is it in ${config.sourcesFile}?)`);
    expect(job.attemptsMade).toBe(1);
    expect(await runsOf(job.id!)).toEqual([{ attempt: 1, status: 'failed', stats: null, error: error!.message }]);
    const redis = workerRedis();
    try {
      await eventually(async () => (await redis.exists(`${h.prefix}:fetch-lease:ghost`)) === 0, 5_000, 'the lease key to be deleted');
      await eventually(async () => (await redis.hkeys(`${h.prefix}:host:${host}`)).join() === 'last', 5_000, 'the host slot to be released');
    } finally {
      redis.disconnect();
    }
  });

  it('429 with Retry-After: retried no sooner than Retry-After, then succeeds', async () => {
    const h = await startHarness();
    const delayed: { jobId: string; delay: number }[] = [];
    h.events.on('delayed', (e) => delayed.push(e));
    const job = await fetchJob(h, 'limited', { attempts: 3 });

    // While it waits, BullMQ's own record: the retry delay is exactly the Retry-After floor (the
    // 10 ms base backoff with jitter is far below it)...
    await eventually(async () => (await job.getState()) === 'delayed', 10_000, 'the 429 to delay the job');
    const waiting = (await h.queues.ingest.getJob(job.id!))!;
    expect(waiting.delay).toBe(1_000);
    expect(waiting.attemptsMade).toBe(1);

    // ...and attempt 2 started only once the delayed timestamp had passed.
    const { result, job: done } = await finished(h, job);
    expect(result).toMatchObject({ fetched: 8, inserted: 8 });
    expect(done.attemptsMade).toBe(2);
    const event = delayed.find((e) => e.jobId === job.id);
    expect(event).toBeDefined();
    const retryAt = Number(event!.delay);
    expect(retryAt - limited.times[0]!).toBeGreaterThanOrEqual(1_000);
    expect(done.processedOn!).toBeGreaterThanOrEqual(retryAt);
    expect(limited.times).toHaveLength(2);
    expect(limited.times[1]! - limited.times[0]!).toBeGreaterThanOrEqual(1_000);

    const url = server.url('/limited.xml');
    expect(await runsOf(job.id!)).toEqual([
      { attempt: 1, status: 'failed', stats: null, error: `fetch limited: HTTP 429 Too Many Requests from ${url}` },
      { attempt: 2, status: 'completed', stats: expect.objectContaining({ inserted: 8 }), error: null },
    ]);
    expect(await sourceRow('limited')).toMatchObject({ consecutive_failures: 0, last_error: null, backoff_until: null });
    expect(await articles('limited')).toBe(8);
  });

  it('500 then success: retried, articles stored once', async () => {
    const h = await startHarness();
    const { result, job } = await runFetch(h, 'flaky', { attempts: 3 });
    expect(result).toMatchObject({ fetched: 8, inserted: 8, duplicates: 0 });
    expect(job.attemptsMade).toBe(2);
    const url = server.url('/flaky.xml');
    expect((await runsOf(job.id!)).map((r) => [r.attempt, r.status, r.error])).toEqual([
      [1, 'failed', `fetch flaky: HTTP 500 Internal Server Error from ${url}`],
      [2, 'completed', null],
    ]);
    expect(await articles('flaky')).toBe(8);
    expect(await count('select distinct url_key from article where source_id = $1', ['flaky'])).toBe(8);
    expect(await linksBySlug('flaky')).toEqual(EXPECTED_LINKS);
    expect(await sourceRow('flaky')).toMatchObject({ consecutive_failures: 0, last_error: null });
  });

  it('404: permanent, one attempt, UnrecoverableError, the source names id, URL and status', async () => {
    const h = await startHarness();
    const { error, job } = await runFetch(h, 'gone', { attempts: 5 });
    const message = `fetch gone: HTTP 404 Not Found from ${server.url('/gone.xml')}`;
    expect(error?.message).toBe(message);
    expect(job.attemptsMade).toBe(1);
    expect(await job.getState()).toBe('failed');
    expect(failedAs(job)).toBe(`PermanentError: ${message}`);
    expect(await sourceRow('gone')).toMatchObject({ consecutive_failures: 1, last_error: message, backoff_until: null, last_success_at: null });
    expect(await runsOf(job.id!)).toEqual([{ attempt: 1, status: 'failed', stats: null, error: message }]);
    expect(requestsTo('/gone.xml')).toHaveLength(1);
    expect(await articles('gone')).toBe(0);
  });

  it('a body slower than HTTP_TIMEOUT fails transiently with a "timed out" message, and is retried', async () => {
    const h = await startHarness();
    const { error, job } = await runFetch(h, 'slow-body', { attempts: 2 });
    const message = `fetch slow-body: timed out after 1000 ms from ${server.url('/slow-body.xml')}`;
    expect(error?.message).toBe(message);
    expect(job.attemptsMade).toBe(2);
    expect(failedAs(job)).toBe(`TransientError: ${message}`);
    expect(await runsOf(job.id!)).toEqual([
      { attempt: 1, status: 'failed', stats: null, error: message },
      { attempt: 2, status: 'failed', stats: null, error: message },
    ]);
    expect(await sourceRow('slow-body')).toMatchObject({ consecutive_failures: 2, last_error: message, backoff_until: null });
    expect(await articles('slow-body')).toBe(0);
  });

  it.each([
    ['big-declared', '/big-declared.xml', 'a Content-Length past the cap'],
    ['big-endless', '/big-endless.xml', 'an endless chunked body'],
    ['big-gzip-bomb', '/big-gzip-bomb.xml', 'a gzip bomb (10 KiB that inflates to 10 MiB)'],
  ])('oversized body (%s: %s): permanent, clear message', async (sourceId, path) => {
    const h = await startHarness();
    const { error, job } = await runFetch(h, sourceId, { attempts: 3 });
    const message = `fetch ${sourceId}: body exceeds 64 KiB limit from ${server.url(path)}`;
    expect(error?.message).toBe(message);
    expect(job.attemptsMade).toBe(1);
    expect(failedAs(job)).toBe(`PermanentError: ${message}`);
    expect(await sourceRow(sourceId)).toMatchObject({ consecutive_failures: 1, last_error: message });
    expect(await runsOf(job.id!)).toEqual([{ attempt: 1, status: 'failed', stats: null, error: message }]);
  });

  it.each([
    ['gzip-feed', '/gzip.xml', GZIP_FEED],
    ['br-feed', '/br.xml', BR_FEED],
  ])('a %s-encoded feed ingests normally', async (sourceId, path, plain) => {
    const h = await startHarness();
    const { result } = await runFetch(h, sourceId);
    expect(result).toMatchObject({ format: 'rss2', bytes: Buffer.byteLength(plain), fetched: 8, inserted: 8, duplicates: 0 });
    expect(requestsTo(path)[0]!.headers['accept-encoding']).toMatch(/gzip.*br|br.*gzip/);
    expect(await articles(sourceId)).toBe(8);
    expect(await linksBySlug(sourceId)).toEqual(EXPECTED_LINKS);
  });

  it('re-fetching the same 200 body inserts nothing and counts duplicates', async () => {
    const h = await startHarness();
    const first = await runFetch(h, 'refetch');
    expect(first.result).toMatchObject({ fetched: 8, inserted: 8, duplicates: 0, entity_links: 7 });
    const marks = await count('select 1 from rollup_dirty');
    const second = await runFetch(h, 'refetch');
    expect(second.result).toMatchObject({ fetched: 8, inserted: 0, duplicates: 8, entity_links: 0, dirty_marks: 0, not_modified: false });
    expect(await articles('refetch')).toBe(8);
    expect(await linksBySlug('refetch')).toEqual(EXPECTED_LINKS);
    expect(await count('select 1 from rollup_dirty')).toBe(marks);
    expect(await count(`select 1 from job_run where source_id = 'refetch' and status = 'completed'`)).toBe(2);
  });

  it('the same story from two feeds is one article; the second feed counts it as a duplicate', async () => {
    const h = await startHarness();
    const a = await runFetch(h, 'story-a');
    expect(a.result).toMatchObject({ fetched: 2, inserted: 2, duplicates: 0 });
    const b = await runFetch(h, 'story-b');
    expect(b.result).toMatchObject({ fetched: 2, inserted: 1, duplicates: 1 });

    const { rows } = await db.pool.query(`select source_id, external_id, url_key from article order by source_id, external_id`);
    expect(rows).toEqual([
      { source_id: 'story-a', external_id: 'a-other', url_key: 'https://news.example.org/markets/apple-beats' },
      { source_id: 'story-a', external_id: 'a-story', url_key: STORY_KEY },
      { source_id: 'story-b', external_id: 'b-other', url_key: 'https://news.example.org/markets/nvidia-rally' },
    ]);
    // The story is linked (and marked dirty) once, from the article that was stored.
    const { rows: links } = await db.pool.query(
      `select a.external_id, e.slug from article_entity ae join article a on a.id = ae.article_id join entity e on e.id = ae.entity_id order by 1`,
    );
    expect(links).toEqual([
      { external_id: 'a-other', slug: 'apple' },
      { external_id: 'a-story', slug: 'tesla' },
      { external_id: 'b-other', slug: 'nvidia' },
    ]);
  });

  it('late data: an article published 3 days ago marks exactly its (entity, hour), and a debounced refresh is queued', async () => {
    const h = await startHarness();
    const { result } = await runFetch(h, 'late');
    expect(result).toMatchObject({ fetched: 3, inserted: 3, entity_links: 2, dirty_marks: 1 });
    const { rows } = await db.pool.query(`select e.slug, d.hour_start from rollup_dirty d join entity e on e.id = d.entity_id`);
    expect(rows).toEqual([{ slug: 'tesla', hour_start: LATE_HOUR }]);
    const refreshes = await h.queues.rollup.getDelayed();
    expect(refreshes.map((j) => [j.name, j.opts.delay])).toEqual([['refresh', 3_600_000]]);
  });

  it('a failing source backs off: scheduled runs skip while backing off, a manual run still fetches, one success clears it', async () => {
    const h = await startHarness();
    failingHealthy = false;
    const url = server.url('/failing.xml');
    const message = `fetch failing: HTTP 503 Service Unavailable from ${url}`;

    // Two failed attempts: counted, not yet backing off.
    const twice = await runFetch(h, 'failing', { attempts: 2 });
    expect(twice.error?.message).toBe(message);
    expect(await sourceRow('failing')).toMatchObject({ consecutive_failures: 2, last_error: message, backoff_until: null });

    // The third failure in a row starts the backoff: 5 minutes from that attempt.
    const third = await runFetch(h, 'failing');
    expect(third.error?.message).toBe(message);
    const backingOff = await sourceRow('failing');
    expect(backingOff).toMatchObject({ consecutive_failures: 3, last_error: message });
    expect(backingOff.backoff_until!.getTime() - backingOff.last_fetched_at!.getTime()).toBe(5 * 60_000);
    expect(failing.times).toHaveLength(3);

    // A scheduled run (made by a job scheduler, so it carries repeatJobKey) is skipped without a request.
    const scheduled = await h.queues.ingest.upsertJobScheduler('failing-every-minute', { every: 60_000 }, { name: 'fetch', data: { sourceId: 'failing' } });
    expect(scheduled.repeatJobKey).toBe('failing-every-minute');
    const skipped = await finished(h, scheduled);
    expect(skipped.result).toEqual({ skipped: 'backoff', backoff_until: backingOff.backoff_until!.toISOString(), consecutive_failures: 3 });
    expect(failing.times).toHaveLength(3);
    expect(await runsOf(scheduled.id!)).toEqual([{ attempt: 1, status: 'completed', stats: skipped.result, error: null }]);
    expect(await sourceRow('failing')).toMatchObject({ consecutive_failures: 3, backoff_until: backingOff.backoff_until });
    await h.queues.ingest.removeJobScheduler('failing-every-minute');

    // A manual run fetches regardless; the source has recovered, so everything is cleared.
    failingHealthy = true;
    const manual = await runFetch(h, 'failing');
    expect(manual.result).toMatchObject({ fetched: 8, inserted: 8 });
    expect(failing.times).toHaveLength(4);
    expect(await sourceRow('failing')).toMatchObject({ consecutive_failures: 0, last_error: null, backoff_until: null });

    // And scheduled runs fetch again by themselves.
    const next = await h.queues.ingest.upsertJobScheduler('failing-every-minute-2', { every: 60_000 }, { name: 'fetch', data: { sourceId: 'failing' } });
    expect((await finished(h, next)).result).toMatchObject({ fetched: 8, inserted: 0, duplicates: 8 });
    expect(failing.times).toHaveLength(5);
    await h.queues.ingest.removeJobScheduler('failing-every-minute-2');
    expect(await articles('failing')).toBe(8);
  });

  it('at most one fetch of a source at a time: two manual runs at once never overlap on the server', async () => {
    const h = await startHarness({ concurrency: 2 });
    overlap.active = 0;
    overlap.max = 0;
    const [one, two] = await Promise.all([fetchJob(h, 'slow-lock'), fetchJob(h, 'slow-lock')]);
    const [a, b] = await Promise.all([finished(h, one!), finished(h, two!)]);
    // Both were taken at once (concurrency 2): the one that met the lease went back to wait
    // (deferred, not failed, no attempt used) and fetched once the first had committed.
    expect((await h.services.metrics.render()).body).toMatch(/newspulse_fetches_total\{outcome="deferred"\} [1-9]/);
    expect([a.job.attemptsMade, b.job.attemptsMade]).toEqual([1, 1]);
    expect(slowLock.times).toHaveLength(2);
    expect(overlap.max).toBe(1);
    const results = [a.result, b.result].sort((x, y) => Number(y?.inserted) - Number(x?.inserted));
    expect(results).toEqual([expect.objectContaining({ fetched: 8, inserted: 8, duplicates: 0 }), expect.objectContaining({ fetched: 8, inserted: 0, duplicates: 8 })]);
    expect(await articles('slow-lock')).toBe(8);
    // A deferred attempt did no work and leaves no row: one completed row per fetch.
    expect(await count(`select 1 from job_run where source_id = 'slow-lock'`)).toBe(2);
    expect(await count(`select 1 from job_run where source_id = 'slow-lock' and status = 'completed'`)).toBe(2);
  });

  it('a scheduled run that meets a running fetch of the same source skips instead of waiting', async () => {
    const h = await startHarness({ concurrency: 2 });
    const manual = await fetchJob(h, 'gated');
    await eventually(async () => gated.times.length === 1, 10_000, 'the manual fetch to reach the server');
    const scheduled = await h.queues.ingest.upsertJobScheduler('gated-every-minute', { every: 60_000 }, { name: 'fetch', data: { sourceId: 'gated' } });
    expect((await finished(h, scheduled)).result).toEqual({ skipped: 'concurrent' });
    await h.queues.ingest.removeJobScheduler('gated-every-minute');
    releaseGate!();
    releaseGate = undefined;
    expect((await finished(h, manual)).result).toMatchObject({ fetched: 2, inserted: 2 });
    expect(gated.times).toHaveLength(1);
  });

  it('a fetch whose lease lapsed while it stalled writes nothing once a newer fetch committed (fencing token)', async () => {
    const h = await startHarness({ concurrency: 2 });
    const stale = await fetchJob(h, 'fenced');
    await eventually(async () => fenced.times.length === 1, 10_000, 'the first fetch to reach the server');
    // The first worker "freezes" past its lease: let the lease lapse as a missed renewal would.
    const redis = workerRedis();
    try {
      const key = `${h.prefix}:fetch-lease:fenced`;
      expect(await redis.hget(key, 'holder')).toBe('1');
      await redis.hset(key, 'until', '0');
    } finally {
      redis.disconnect();
    }
    // A newer fetch takes the lease (token 2), fetches and commits.
    const fresh = await runFetch(h, 'fenced');
    expect(fresh.result).toMatchObject({ fetched: 3, inserted: 3 });
    // The stalled fetch wakes up with an older response: its commit is refused as a whole.
    releaseFenced!();
    releaseFenced = undefined;
    expect((await finished(h, stale)).result).toEqual({ skipped: 'superseded' });
    expect(await sourceRow('fenced')).toMatchObject({ etag: '"fresh"', consecutive_failures: 0 });
    expect(await articles('fenced')).toBe(3);
    expect(await count(`select 1 from article where source_id = 'fenced' and external_id like '%stale%'`)).toBe(0);
    const { rows } = await db.pool.query(`select fence from source where id = 'fenced'`);
    expect(Number(rows[0].fence)).toBe(2);
    expect((await runsOf(stale.id!)).map((r) => [r.status, r.stats])).toEqual([['completed', { skipped: 'superseded' }]]);
  });

  it('politeness: one request at a time to a host and starts at least HOST_MIN_INTERVAL apart, across sources, without holding worker slots', async () => {
    const polite = loadConfig({ ...configEnv, HOST_CONCURRENCY: '1', HOST_MIN_INTERVAL: '400ms' });
    const h = await startHarness({ concurrency: 3, config: polite });
    perHost.active = 0;
    perHost.max = 0;
    perHost.starts = [];
    const jobs = await Promise.all(['polite-a', 'polite-b', 'polite-c'].map((id) => fetchJob(h, id)));
    const outcomes = await Promise.all(jobs.map((j) => finished(h, j)));
    expect(outcomes.map((o) => o.result)).toEqual([0, 1, 2].map(() => expect.objectContaining({ fetched: 8, inserted: 8 })));
    expect(perHost.max).toBe(1);
    // Starts are granted on Redis' clock and stamped on arrival here; both read this machine's clock.
    const gaps = perHost.starts.slice(1).map((t, i) => t - perHost.starts[i]!);
    expect(gaps).toHaveLength(2);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(400 - 5);
    // The jobs that found the host busy went back to wait instead of sleeping in a worker slot.
    expect((await h.services.metrics.render()).body).toMatch(/newspulse_fetches_total\{outcome="deferred"\} [1-9]/);
    expect(outcomes.map((o) => o.job.attemptsMade)).toEqual([1, 1, 1]);
  });

  it('politeness holds when claims go out beside the read: hinted runs of three sources on one host still start HOST_MIN_INTERVAL apart', async () => {
    const polite = loadConfig({ ...configEnv, HOST_CONCURRENCY: '1', HOST_MIN_INTERVAL: '400ms' });
    const h = await startHarness({ concurrency: 3, config: polite });
    const ids = ['polite-a', 'polite-b', 'polite-c'];
    for (const id of ids) expect((await runFetch(h, id)).result).toMatchObject({ fetched: 8 });
    expect(ids.map((id) => h.services.coordination.hostHints.get(id))).toEqual(ids.map(() => new URL(origin).host));
    perHost.starts = [];
    const early: string[] = [];
    const realClaim = h.services.coordination.claim;
    h.services.coordination.claim = (...args) => {
      if (args[4]?.early) early.push(args[0]);
      return realClaim(...args);
    };
    const outcomes = await Promise.all((await Promise.all(ids.map((id) => fetchJob(h, id)))).map((j) => finished(h, j)));
    expect(outcomes.map((o) => o.result)).toEqual(ids.map(() => expect.objectContaining({ fetched: 8, duplicates: 8 })));
    expect(early.slice(0, 3).sort()).toEqual(ids);
    const gaps = perHost.starts.slice(1).map((t, i) => t - perHost.starts[i]!);
    expect(gaps).toHaveLength(2);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(400 - 5);
  });

  it("an early claim whose request goes out after its lead moves the host's stamp to the real start, or waits when another start came since", async () => {
    const polite = loadConfig({ ...configEnv, HOST_CONCURRENCY: '1', HOST_MIN_INTERVAL: '400ms' });
    const h = await startHarness({ config: polite });
    const hostKey = `${h.prefix}:host:${new URL(origin).host}`;
    expect((await runFetch(h, 'polite-a')).result).toMatchObject({ fetched: 8 });
    const redis = workerRedis();
    const realClaim = h.services.coordination.claim;
    /** The next early claim is held back past its lead (a slow read); `meanwhile` runs first. */
    const slowEarlyClaim = (meanwhile: (stamp: number) => Promise<void>) => {
      const seen: number[] = [];
      h.services.coordination.claim = async (...args) => {
        const attempt = await realClaim(...args);
        if (args[4]?.early && attempt.acquired) {
          h.services.coordination.claim = realClaim;
          const stamp = Number(await redis.hget(hostKey, 'last'));
          seen.push(stamp);
          await meanwhile(stamp);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return attempt;
      };
      return seen;
    };
    const deferred = async () => Number(/newspulse_fetches_total\{outcome="deferred"\} (\d+)/.exec((await h.services.metrics.render()).body)?.[1] ?? 0);
    // Each run below starts once the host's interval since the last one has passed.
    const hostFree = () => new Promise((resolve) => setTimeout(resolve, 450));
    try {
      await hostFree();
      const stamps = slowEarlyClaim(async () => undefined);
      expect((await runFetch(h, 'polite-a')).result).toMatchObject({ fetched: 8, duplicates: 8 });
      expect(stamps).toHaveLength(1);
      expect(Number(await redis.hget(hostKey, 'last'))).toBeGreaterThan(stamps[0]!);

      // Another process is granted a start on the host after this claim's stamp.
      const sent = requestsTo('/polite-a.xml').length;
      const deferredBefore = await deferred();
      await hostFree();
      const raced = slowEarlyClaim((stamp) => redis.hset(hostKey, 'last', stamp + 5).then(() => undefined));
      const outcome = await runFetch(h, 'polite-a');
      expect(raced).toHaveLength(1);
      expect(outcome.result).toMatchObject({ fetched: 8, duplicates: 8 });
      expect(outcome.job.attemptsMade).toBe(1);
      expect(requestsTo('/polite-a.xml')).toHaveLength(sent + 1);
      expect(await deferred()).toBeGreaterThan(deferredBefore);
    } finally {
      h.services.coordination.claim = realClaim;
      redis.disconnect();
    }
  });

  it('a worker fed every fixture stays up; each source completes as the manifest parses it or fails with its error', async () => {
    const h = await startHarness({ concurrency: 4 });
    const jobs = await Promise.all(
      FIXTURES.map(async (f) => {
        const transient = 'error' in f.expect && f.expect.error === 'TransientError';
        // Permanent failures get spare attempts they must not use; a transient one gets one retry to observe.
        const job = await fetchJob(h, fixtureId(f), { attempts: transient ? 2 : 3 });
        return { fixture: f, job };
      }),
    );

    for (const { fixture, job } of jobs) {
      const id = fixtureId(fixture);
      const expected = fixture.expect;
      const where = `${fixture.file} (${id})`;
      if ('error' in expected) {
        let outcome: Outcome;
        if (expected.error === 'TransientError') {
          // Retried, no sooner than the delay the source asked for; removed before it runs again.
          await eventually(async () => (await job.getState()) === 'delayed', 20_000, `${where} to be delayed for a retry`);
          outcome = { job: (await h.queues.ingest.getJob(job.id!))! };
          if (expected.retryAfterMs !== undefined) expect(outcome.job.delay, where).toBe(expected.retryAfterMs);
          expect(failedAs(outcome.job), where).toMatch(/^TransientError: /);
          await outcome.job.remove();
        } else {
          outcome = await finished(h, job);
          expect(outcome.job.attemptsMade, where).toBe(1);
          expect(failedAs(outcome.job), where).toMatch(/^PermanentError: /);
        }
        const url = fixtureUrls.get(fixture.file);
        expect(url, where).toBeDefined();
        const message = expected.message.replace(/^parse fixture:/, `parse ${id}:`).replace('<url>', url!);
        if (outcome.error) expect(outcome.error.message, where).toBe(message);
        expect(await sourceRow(id), where).toMatchObject({ consecutive_failures: 1, last_error: message });
        expect(await runsOf(job.id!), where).toEqual([{ attempt: 1, status: 'failed', stats: null, error: message }]);
        expect(await articles(id), where).toBe(0);
        continue;
      }

      const { result, error } = await finished(h, job);
      expect(error, where).toBeUndefined();
      expect(result, where).toMatchObject({
        format: expected.format,
        fetched: expected.items.length,
        skipped_items: expected.skipped,
        date_fallbacks: expected.dateFallbacks,
        not_modified: false,
        ...expected.stats,
      });
      // Other fixtures may link the same story first: what this source did not insert, it counted
      // (as a duplicate, or as older than the article retention window).
      expect(Number(result!.inserted) + Number(result!.duplicates) + Number(result!.too_old), where).toBe(expected.items.length);
      expect(await sourceRow(id), where).toMatchObject({ consecutive_failures: 0, last_error: null });
      expect(await runsOf(job.id!), where).toEqual([{ attempt: 1, status: 'completed', stats: result, error: null }]);

      // Every stored row is exactly one of the manifest's items.
      const { rows } = await db.pool.query(`select external_id, url, title, published_at from article where source_id = $1`, [id]);
      expect(rows.length, where).toBe(result!.inserted);
      for (const row of rows as { external_id: string; url: string | null; title: string; published_at: Date }[]) {
        const item = expected.items.find((i) => i.externalId === row.external_id);
        expect(item, `${where}: stored ${row.external_id}`).toBeDefined();
        expect({ url: row.url, title: row.title }, where).toEqual({ url: item!.url, title: item!.title });
        if (!item!.dateFallback) expect(row.published_at.toISOString(), where).toBe(item!.publishedAt);
      }
      if (expected.trends.length) {
        expect(result!.trends, where).toBe(expected.trends.length);
        const trends = await db.pool.query(`select key, title, rank, score from trend where source_id = $1 order by rank`, [id]);
        expect(trends.rows, where).toEqual(expected.trends.map((t) => ({ key: t.key, title: t.title, rank: t.rank, score: t.score })));
      }
    }

    // Still up: every worker runs, nothing is stuck, and a good source still ingests.
    expect(Object.values(h.workers.workers).map((w) => w.isRunning())).toEqual([true, true, true]);
    expect(await h.queues.ingest.getJobCounts('active', 'waiting', 'delayed')).toEqual({ active: 0, waiting: 0, delayed: 0 });
    expect((await runFetch(h, 'good')).result).toMatchObject({ fetched: 8, inserted: 8 });
    expect(await articles('good')).toBe(8);
  }, 180_000); // one fetch per fixture (80+), on a machine other suites share
});
