/**
 * The read API over real HTTP against a real database seeded through the real rollup
 * refresh: JSON and CSV, validation (400), unknown entities (404), keyset pagination,
 * the OpenAPI document, read-only enforcement and access control.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as s from '../../src/api/schemas.ts';
import { bucketAt } from '../../src/api/range.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildApi } from '../../src/api/server.ts';
import { isoOfUtcText, openListingPool, openReadOrm } from '../../src/api/read.ts';
import { createKey, revokeKey } from '../../src/api/keys.ts';
import { checkApiBinding, ApiConfigError } from '../../src/api/access.ts';
import type { Orm } from '../../src/db/orm.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { seedArticles, seedEntities, type ApiArticle } from './seed.ts';

const ARTICLES: ApiArticle[] = [
  { id: 't1', title: 'Tesla rallies, = formula, "quoted"', publishedAt: '2026-11-20T10:05:00Z', sentiment: 0.5, entities: ['tesla'] },
  { id: 't2', title: 'Tesla recall widens', publishedAt: '2026-11-20T10:40:00Z', sentiment: -0.3, entities: ['tesla'] },
  { id: 't3', title: 'Tesla and Apple team up', publishedAt: '2026-11-20T12:15:00Z', sentiment: 0.2, entities: ['tesla', 'apple'] },
  { id: 'a1', title: 'Apple beats expectations', publishedAt: '2026-11-20T10:10:00Z', sentiment: 0.6, entities: ['apple'] },
  { id: 't4', title: 'Tesla a day later', publishedAt: '2026-11-21T09:00:00Z', sentiment: -0.1, entities: ['tesla'] },
];
type Problem = z.infer<typeof s.problem>;
const problemOf = async (res: Response) => (await res.json()) as Problem;
type Parameter = { name: string; in: string; schema: Record<string, unknown> };
type OpenApiDoc = {
  openapi: string;
  paths: Record<string, { get: { parameters: Parameter[]; responses: Record<string, { content: Record<string, { schema: { properties: { buckets: { required: string[]; properties: Record<string, { type: string; items: unknown }> } } } }> }> } }>;
};
const RANGE = 'from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z';

function config(env: Record<string, string>): Config {
  return loadConfig({ LOG_LEVEL: 'silent', ...env }, { readSources: false });
}

async function listen(cfg: Config, orm: Orm): Promise<{ base: string; close: () => Promise<void> }> {
  const { app } = await buildApi(cfg, orm, createLogger('silent'));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { base: `http://127.0.0.1:${port}`, close: () => app.close() };
}

describe('read API', () => {
  let db: TestDatabase;
  let orm: Orm;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    db = await createTestDatabase('api');
    const ids = await seedEntities(db.pool, ['tesla', 'apple', 'quiet']);
    await seedArticles(db.pool, db.orm, ids, ARTICLES);
    orm = await openReadOrm(db.url, 4);
    ({ base, close } = await listen(config({ DATABASE_URL: db.url }), orm));
  });

  afterAll(async () => {
    await close?.();
    await orm?.close(true);
    await db?.drop();
  });

  const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
  /** The body typed by the endpoint's own response schema. */
  const getJson = async <S extends z.ZodType>(_schema: S, path: string): Promise<z.infer<S>> => (await get(path)).json() as Promise<z.infer<S>>;

  it('lists entities with their latest hourly and daily figures', async () => {
    const res = await get('/api/v1/entities');
    expect(res.status).toBe(200);
    const body = (await res.json()) as z.infer<typeof s.entityList>;
    expect(body.entities.map((e) => e.slug)).toEqual(['apple', 'quiet', 'tesla']);
    const tesla = body.entities.find((e) => e.slug === 'tesla')!;
    expect(tesla.latest_hour).toEqual({ bucket_start: '2026-11-21T09:00:00.000Z', article_count: 1, sentiment_mean: -0.1, sentiment_stddev: null });
    expect(tesla.latest_day!.bucket_start).toBe('2026-11-21T00:00:00.000Z');
    expect(body.entities.find((e) => e.slug === 'quiet')!.latest_hour).toBeNull();
  });

  it('returns one entity, and 404 for an unknown one', async () => {
    const one = await get('/api/v1/entities/apple');
    expect(one.status).toBe(200);
    expect(((await one.json()) as z.infer<typeof s.entitySummary>).latest_day).toMatchObject({ bucket_start: '2026-11-20T00:00:00.000Z', article_count: 2 });
    const missing = await get('/api/v1/entities/nope/sentiment');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found', message: 'no entity "nope"' });
  });

  it('serves the hourly series with every rollup column as a column array, gaps omitted by default', async () => {
    const body = await getJson(s.series, `/api/v1/entities/tesla/sentiment?granularity=hour&${RANGE}`);
    const { buckets } = body;
    expect(buckets.bucket_start).toEqual(['2026-11-20T10:00:00.000Z', '2026-11-20T12:00:00.000Z', '2026-11-21T09:00:00.000Z']);
    expect(Object.keys(buckets).sort()).toEqual(
      ['article_count', 'bucket_start', 'negative_count', 'neutral_count', 'positive_count', 'sentiment_max', 'sentiment_mean', 'sentiment_min', 'sentiment_stddev', 'sentiment_sum', 'sentiment_sumsq', 'trend_mentions', 'updated_at'],
    );
    for (const column of Object.values(buckets)) expect(column).toHaveLength(3);
    // Bucket 0 (10:00, scores -0.3 and 0.5), values rounded to the decimals they carry: the sum of
    // squares is 0.34, not the float sum 0.33999999999999997; the stddev sqrt(0.32) at 6 decimals.
    expect(bucketAt(buckets, 0)).toMatchObject({
      article_count: 2,
      sentiment_sum: 0.2,
      sentiment_sumsq: 0.34,
      sentiment_mean: 0.1,
      sentiment_stddev: 0.565685,
      sentiment_min: -0.3,
      sentiment_max: 0.5,
      positive_count: 1,
      negative_count: 1,
      neutral_count: 0,
      trend_mentions: 0,
    });
    expect(buckets.updated_at[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // The same instant the rollup stored, to the millisecond.
    const { rows } = await db.pool.query<{ updated_at: Date }>(
      `select r.updated_at from sentiment_rollup r join entity e on e.id = r.entity_id where e.slug = 'tesla' and r.granularity = 'hour' and r.bucket_start = '2026-11-20T10:00:00Z'`,
    );
    expect(buckets.updated_at[0]).toBe(rows[0]!.updated_at.toISOString());
  });

  it('reads timestamps in UTC and ISO style whatever the database defaults (the series slices their text)', async () => {
    const other = await createTestDatabase('api-zone', { migrate: false });
    await other.pool.query(`alter database ${other.name} set timezone to 'America/New_York'`);
    await other.pool.query(`alter database ${other.name} set datestyle to 'SQL, DMY'`);
    const readOrm = await openReadOrm(other.url, 1);
    try {
      const pool = await readOrm.em.getConnection().getNativeClient();
      const { rows } = await pool.query<{ at: string; zone: string; style: string }>(
        `select '2026-11-20T10:00:00.25Z'::timestamptz as at, current_setting('TimeZone') as zone, current_setting('DateStyle') as style`,
      );
      expect(rows[0]).toEqual({ at: '2026-11-20 10:00:00.25+00', zone: 'UTC', style: expect.stringMatching(/^ISO,/) });
      expect(isoOfUtcText(rows[0]!.at)).toBe('2026-11-20T10:00:00.250Z');
      // A new session without the pin gets the defaults: what readSeries would otherwise slice.
      const plain = new pg.Client({ connectionString: other.url });
      await plain.connect();
      try {
        const { rows: text } = await plain.query<{ at: string }>(`select '2026-11-20T10:00:00.25Z'::timestamptz::text as at`);
        expect(text[0]!.at).toBe('20/11/2026 05:00:00.25 EST');
      } finally {
        await plain.end();
      }
    } finally {
      await readOrm.close(true);
      await other.drop();
    }
  });

  it('fills gaps with explicit empty buckets on request, and serves days', async () => {
    const hours = await getJson(s.series, '/api/v1/entities/tesla/sentiment?from=2026-11-20T09:30:00Z&to=2026-11-20T13:00:00Z&gaps=empty');
    expect(hours.buckets.bucket_start.map((start, i) => [start.slice(11, 13), hours.buckets.article_count[i]])).toEqual([
      ['09', 0],
      ['10', 2],
      ['11', 0],
      ['12', 1],
    ]);
    expect(hours.buckets.sentiment_mean[0]).toBeNull();
    expect(hours.buckets.updated_at[0]).toBeNull();
    for (const column of Object.values(hours.buckets)) expect(column).toHaveLength(4);
    const days = await getJson(s.series, `/api/v1/entities/tesla/sentiment?granularity=day&${RANGE}`);
    expect(days.buckets.article_count).toEqual([3, 1]);
  });

  it('answers 400 with a message naming each bad parameter', async () => {
    const bad = await get('/api/v1/entities/tesla/sentiment?granularity=week&from=yesterday&color=red');
    expect(bad.status).toBe(400);
    const { error, message } = await problemOf(bad);
    expect(error).toBe('bad_request');
    expect(message).toMatch(/granularity: .*"hour"\|"day"/);
    expect(message).toMatch(/from: must be an ISO date .*\(got "yesterday"\)/);
    expect(message).toMatch(/color/);
    const reversed = await get('/api/v1/entities/tesla/sentiment?from=2026-11-21&to=2026-11-20');
    expect(reversed.status).toBe(400);
    expect((await problemOf(reversed)).message).toBe('"from" must be before "to"');
    const huge = await get('/api/v1/entities/tesla/sentiment?from=2020-01-01&to=2026-01-01');
    expect((await problemOf(huge)).message).toMatch(/at most 10000 per request/);
    const limit = await get('/api/v1/entities/tesla/articles?limit=0');
    expect((await problemOf(limit)).message).toMatch(/^limit: /);
    const cursor = await get('/api/v1/entities/tesla/articles?cursor=garbage');
    expect((await problemOf(cursor)).message).toMatch(/^cursor: not a cursor/);
  });

  it('lists the articles behind a bucket, newest first, with score, source and link', async () => {
    const body = await getJson(s.articlePage, '/api/v1/entities/tesla/articles?bucket=2026-11-20T10:30:00Z&granularity=hour');
    expect(body.from).toBe('2026-11-20T10:00:00.000Z');
    expect(body.to).toBe('2026-11-20T11:00:00.000Z');
    expect(body.articles.map((a) => [a.title, a.sentiment, a.source_id, a.url])).toEqual([
      ['Tesla recall widens', -0.3, 'wire', 'https://news.example.org/t2'],
      ['Tesla rallies, = formula, "quoted"', 0.5, 'wire', 'https://news.example.org/t1'],
    ]);
    expect(body.next_cursor).toBeNull();
  });

  it('pages with a keyset cursor without repeating or skipping', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: z.infer<typeof s.articlePage> = await getJson(s.articlePage, `/api/v1/entities/tesla/articles?${RANGE}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.articles.map((a) => a.title));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual(['Tesla a day later', 'Tesla and Apple team up', 'Tesla recall widens', 'Tesla rallies, = formula, "quoted"']);
  });

  it('pages through articles sharing one published_at, across a month partition boundary, by (published_at, id)', async () => {
    // Pages end inside runs of equal timestamps: only the id half of the keyset tells the next page where to start.
    const ids = await seedEntities(db.pool, ['tied']);
    const at = (instant: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${instant}-${i}`, title: `${instant} #${i}`, publishedAt: instant, sentiment: 0, entities: ['tied'] }));
    await seedArticles(db.pool, db.orm, ids, [...at('2026-11-30T23:59:59.999Z', 5), ...at('2026-12-01T00:00:00.000Z', 2)]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: z.infer<typeof s.articlePage> = await getJson(s.articlePage, `/api/v1/entities/tied/articles?from=2026-11-30T00:00:00Z&to=2026-12-02T00:00:00Z&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.articles.map((a) => a.title));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    // Newest first; equal timestamps by id descending, i.e. the reverse of insertion order.
    expect(seen).toEqual([
      '2026-12-01T00:00:00.000Z #1',
      '2026-12-01T00:00:00.000Z #0',
      '2026-11-30T23:59:59.999Z #4',
      '2026-11-30T23:59:59.999Z #3',
      '2026-11-30T23:59:59.999Z #2',
      '2026-11-30T23:59:59.999Z #1',
      '2026-11-30T23:59:59.999Z #0',
    ]);
  });

  it('compares several entities side by side, 404 naming unknown ones', async () => {
    const body = await getJson(s.comparison, `/api/v1/compare?entities=apple,tesla&granularity=day&${RANGE}`);
    expect(body.series.map((x) => [x.entity.slug, x.buckets.article_count])).toEqual([
      ['apple', [2]],
      ['tesla', [3, 1]],
    ]);
    const missing = await get('/api/v1/compare?entities=apple,ghost');
    expect(missing.status).toBe(404);
    expect((await problemOf(missing)).message).toBe('no entity "ghost"');
  });

  it('serves CSV with ?format=csv or Accept: text/csv, quoting and defusing formulas', async () => {
    const csv = await get(`/api/v1/entities/tesla/articles?${RANGE}&format=csv`);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).split('\r\n');
    expect(lines[0]).toBe('published_at,sentiment,source_id,title,url,id');
    expect(lines).toContain(`2026-11-20T10:05:00.000Z,0.5,wire,"Tesla rallies, = formula, ""quoted""",https://news.example.org/t1,${lines.find((l) => l.includes('/t1'))!.split(',').at(-1)}`);
    const series = await (await get(`/api/v1/entities/tesla/sentiment?granularity=day&${RANGE}`, { headers: { accept: 'text/csv' } })).text();
    expect(series.split('\r\n')[0]).toBe('bucket_start,article_count,sentiment_mean,sentiment_stddev,sentiment_min,sentiment_max,sentiment_sum,sentiment_sumsq,positive_count,neutral_count,negative_count,trend_mentions,updated_at');
    // Still one row per bucket, the columnar JSON turned back into rows.
    expect(series.split('\r\n')[2]).toMatch(/^2026-11-21T00:00:00.000Z,1,-0.1,,-0.1,-0.1,-0.1,0\.01,0,0,1,0,2026-/);
    const compared = (await (await get(`/api/v1/compare?entities=apple,tesla&granularity=day&${RANGE}&format=csv`)).text()).split('\r\n');
    expect(compared[0]).toBe('entity,bucket_start,article_count,sentiment_mean,sentiment_stddev,sentiment_min,sentiment_max,sentiment_sum,sentiment_sumsq,positive_count,neutral_count,negative_count,trend_mentions,updated_at');
    expect(compared.slice(1, -1).map((line) => line.split(',').slice(0, 3).join(','))).toEqual(['apple,2026-11-20T00:00:00.000Z,2', 'tesla,2026-11-20T00:00:00.000Z,3', 'tesla,2026-11-21T00:00:00.000Z,1']);
  });

  it('shows sources with their state and recent job runs', async () => {
    await db.pool.query(`update source set consecutive_failures = 3, last_error = 'HTTP 503', backoff_until = '2026-11-20T13:00:00Z' where id = 'wire'`);
    await db.pool.query(`insert into job_run (queue, job_name, job_id, source_id, attempt, status, started_at) values ('ingest', 'fetch', 'j1', 'wire', 1, 'failed', now())`);
    const sources = await getJson(s.sourceList, '/api/v1/sources');
    expect(sources.sources).toEqual([expect.objectContaining({ id: 'wire', consecutive_failures: 3, last_error: 'HTTP 503', backoff_until: '2026-11-20T13:00:00.000Z' })]);
    const runs = await getJson(s.jobRunList, '/api/v1/job-runs?status=failed');
    expect(runs.job_runs).toEqual([expect.objectContaining({ job_name: 'fetch', source_id: 'wire', status: 'failed' })]);
    expect((await get('/api/v1/job-runs?status=weird')).status).toBe(400);
    expect((await getJson(s.trendList, '/api/v1/trends')).trends).toEqual([]);
  });

  it('publishes an OpenAPI 3.1 document generated from the schemas', async () => {
    const doc = (await (await get('/api/openapi.json')).json()) as OpenApiDoc;
    expect(doc.openapi).toBe('3.1.0');
    const op = doc.paths['/api/v1/entities/{slug}/sentiment']!.get;
    expect(op.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(['path:slug', 'query:granularity', 'query:from', 'query:to', 'query:gaps', 'query:format']);
    expect(op.parameters.find((p) => p.name === 'granularity')!.schema).toMatchObject({ enum: ['hour', 'day'], default: 'hour' });
    // Columnar: buckets is an object of arrays, every column required.
    const buckets = op.responses[200]!.content['application/json']!.schema.properties.buckets;
    expect(buckets.required).toContain('sentiment_stddev');
    expect(buckets.properties.sentiment_stddev!.type).toBe('array');
    expect(op.responses[200]!.content['text/csv']).toBeDefined();
    expect(Object.keys(doc.paths)).toHaveLength(8);
  });

  it('is read-only: writes are refused by the HTTP layer and by the database session', async () => {
    const post = await get('/api/v1/entities', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(405);
    await expect(orm.em.fork().execute(`insert into source (id, kind) values ('x', 'feed')`)).rejects.toThrow(/read-only transaction/);
    // The listings' own pool is read-only too, and plans its named statements once (generic).
    const listings = openListingPool(db.url, 1);
    try {
      await expect(listings.query(`insert into source (id, kind) values ('x', 'feed')`)).rejects.toThrow(/read-only transaction/);
      expect((await listings.query('show plan_cache_mode')).rows).toEqual([{ plan_cache_mode: 'force_generic_plan' }]);
    } finally {
      await listings.end();
    }
  });
});

describe('read API access control', () => {
  let db: TestDatabase;
  let orm: Orm;

  beforeAll(async () => {
    db = await createTestDatabase('api_keys');
    orm = await openReadOrm(db.url, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('refuses to bind beyond loopback with no key and no board password', () => {
    expect(() => checkApiBinding('0.0.0.0', { activeKeys: 0, boardPassword: undefined })).toThrow(ApiConfigError);
    expect(() => checkApiBinding('0.0.0.0', { activeKeys: 0, boardPassword: undefined })).toThrow(/refusing to listen on 0.0.0.0 without credentials/);
    expect(() => checkApiBinding('0.0.0.0', { activeKeys: 1, boardPassword: undefined })).not.toThrow();
    expect(() => checkApiBinding('0.0.0.0', { activeKeys: 0, boardPassword: 'pw' })).not.toThrow();
    expect(() => checkApiBinding('127.0.0.1', { activeKeys: 0, boardPassword: undefined })).not.toThrow();
  });

  it('is open on loopback without keys; once a key exists it needs one; a revoked key stops working', async () => {
    const cfg = config({ DATABASE_URL: db.url });
    const open = await listen(cfg, orm);
    try {
      expect((await fetch(`${open.base}/api/v1/entities`)).status).toBe(200);
    } finally {
      await open.close();
    }
    const created = await createKey(db.orm.em.fork(), 'ci');
    expect(created.key).toMatch(/^npk_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.pool.query('select hash, prefix from api_key');
    expect(rows[0].hash).not.toContain(created.key.slice(4));
    expect(created.key.startsWith(rows[0].prefix)).toBe(true);

    // A fresh server (fresh key cache) sees the key at once.
    const locked = await listen(cfg, orm);
    try {
      const none = await fetch(`${locked.base}/api/v1/entities`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="newspulse"/);
      expect((await fetch(`${locked.base}/api/v1/entities`, { headers: { authorization: `Bearer ${created.key}` } })).status).toBe(200);
      expect((await fetch(`${locked.base}/api/v1/entities`, { headers: { 'x-api-key': created.key } })).status).toBe(200);
      const basic = Buffer.from(`anyone:${created.key}`).toString('base64');
      expect((await fetch(`${locked.base}/dashboard/`, { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
      expect((await fetch(`${locked.base}/api/v1/entities`, { headers: { authorization: 'Bearer npk_wrong' } })).status).toBe(401);
      expect((await fetch(`${locked.base}/healthz`)).status).toBe(200);
    } finally {
      await locked.close();
    }
    expect(await revokeKey(db.orm.em.fork(), String(created.id))).toHaveLength(1);
    const after = await listen(cfg, orm);
    try {
      expect((await fetch(`${after.base}/api/v1/entities`, { headers: { authorization: `Bearer ${created.key}` } })).status).toBe(401);
    } finally {
      await after.close();
    }
  });

  it('accepts the board user and password, and rate-limits', async () => {
    const cfg = config({ DATABASE_URL: db.url, BOARD_USER: 'ops', BOARD_PASSWORD: 's3cret', API_RATE_LIMIT: '3' });
    const server = await listen(cfg, orm);
    try {
      const auth = { authorization: `Basic ${Buffer.from('ops:s3cret').toString('base64')}` };
      expect((await fetch(`${server.base}/api/v1/sources`)).status).toBe(401);
      expect((await fetch(`${server.base}/api/v1/sources`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${server.base}/api/v1/sources`, { headers: auth })).status).toBe(200);
      const limited = await fetch(`${server.base}/api/v1/sources`, { headers: auth });
      expect(limited.status).toBe(429);
      expect((await problemOf(limited)).message).toMatch(/rate limit: 3 requests per minute/);
    } finally {
      await server.close();
    }
  });

  it('sends no CORS headers unless origins are configured', async () => {
    const off = await listen(config({ DATABASE_URL: db.url }), orm);
    const on = await listen(config({ DATABASE_URL: db.url, API_CORS_ORIGINS: 'https://app.example.org' }), orm);
    try {
      const headers = { origin: 'https://app.example.org' };
      expect((await fetch(`${off.base}/healthz`, { headers })).headers.get('access-control-allow-origin')).toBeNull();
      expect((await fetch(`${on.base}/healthz`, { headers })).headers.get('access-control-allow-origin')).toBeNull();
      await db.pool.query('update api_key set revoked_at = now()');
      const res = await fetch(`${on.base}/api/openapi.json`, { headers });
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
      expect((await fetch(`${off.base}/api/openapi.json`, { headers })).headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await off.close();
      await on.close();
    }
  });
});
