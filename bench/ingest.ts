/**
 * Ingest throughput, each figure beside its target or its same-run baseline:
 *  (a) end to end: a 10,000-item RSS feed served on 127.0.0.1, fetched by a real BullMQ worker
 *      running the real fetch handler (http get -> decode/parse -> score + match -> one
 *      transaction: articles, links, dirty marks, source state, job_run), in articles/s
 *      (target >= 10,000/s);
 *  (b) the persist stage alone (persistItems of the 10k prepared rows into an empty article
 *      table) beside plain `pg` multi-row `insert ... on conflict do nothing` of the same rows,
 *      same columns, batches of 1,000, into an identical fresh table (target >= 0.65x).
 * Every measurement runs 3 times on truncated tables; the median is printed. Missed targets are
 * printed, never fatal. Creates a throwaway database (np_bench_<random>) and Redis prefix, both
 * removed at the end, also on failure or Ctrl-C.
 * Run: node bench/ingest.ts   (BENCH_PG_URL / BENCH_REDIS_URL override the local defaults)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { syncConfig } from '../src/db/sync.ts';
import { persistItems } from '../src/ingest/persist.ts';
import { prepareArticles, type PreparedArticle } from '../src/ingest/prepare.ts';
import { handlers } from '../src/jobs.ts';
import { buildServices } from '../src/process.ts';
import { createRedis } from '../src/queues/connection.ts';
import { closeQueues, createQueues } from '../src/queues/queues.ts';
import { startWorkers } from '../src/queues/workers.ts';
import { parseSource } from '../src/sources/index.ts';
import { generatedItems, rss } from '../test/support/feeds.ts';
import { benchNamespace, deletePrefix, dropDatabase, REDIS_URL } from './support.ts';

const ITEMS = 10_000;
const ENTITIES = 50;
const ROUNDS = 3;
const BASELINE_BATCH = 1_000;
const SOURCE_ID = 'bench-feed';
const E2E_TARGET = 10_000;
const PERSIST_TARGET = 0.65;

const { dbName, dbUrl, prefix } = benchNamespace('ingest');
const log = pino({ level: 'silent' });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perSecond = (rows: number, ms: number): number => (rows / ms) * 1000;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Releasers, run in reverse order exactly once (end of run, failure or signal). */
const releasers: { name: string; release: () => Promise<unknown> }[] = [];
let released: Promise<void> | undefined;
function releaseAll(): Promise<void> {
  released ??= (async () => {
    for (const { name, release } of releasers.reverse()) {
      try {
        await release();
      } catch (err) {
        console.error(`bench/ingest: cleanup of ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return released;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void releaseAll().finally(() => process.exit(130)));
}

/** 50 entities: the names the generated headlines use, then made-up companies that never match. */
function entities() {
  const real = ['Tesla', 'Apple', 'Nvidia', 'Microsoft', 'OpenAI'];
  return Array.from({ length: ENTITIES }, (_, i) =>
    i < real.length
      ? { slug: real[i]!.toLowerCase(), name: real[i]! }
      : { slug: `company-${i}`, name: `Company ${i} Holdings`, aliases: [`C${i}H`] },
  );
}

async function serve(body: string): Promise<{ server: Server; url: string }> {
  const buffer = Buffer.from(body);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', 'content-length': buffer.length }).end(buffer);
  });
  // Server and client share one event loop here: while a 10k-item fetch keeps it busy for seconds,
  // the server's idle timer (5 s by default) can close a pooled socket just as the client reuses it.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.xml` };
}

/** Empties everything a fetch writes, so each round inserts into empty tables. */
async function resetIngestTables(pool: pg.Pool): Promise<void> {
  await pool.query('truncate article, article_entity, trend, trend_entity, rollup_dirty, job_run restart identity');
  await pool.query(`update source set etag = null, last_modified = null, consecutive_failures = 0, last_error = null, backoff_until = null`);
}

const BASELINE_COLUMNS = ['source_id', 'external_id', 'url', 'url_key', 'title', 'summary', 'author', 'language', 'published_at', 'fetched_at', 'sentiment', 'scorer'];

/** The baseline: plain pg, one multi-row insert ... on conflict do nothing per 1,000 rows, one transaction. */
async function baselineInsert(pool: pg.Pool, rows: readonly PreparedArticle[], fetchedAt: Date, scorerId: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    let inserted = 0;
    for (let start = 0; start < rows.length; start += BASELINE_BATCH) {
      const batch = rows.slice(start, start + BASELINE_BATCH);
      const params: unknown[] = [];
      const tuples = batch.map((a) => {
        const base = params.length;
        params.push(SOURCE_ID, a.externalId, a.url, a.urlKey, a.title, a.summary, a.author, a.language, a.publishedAt, fetchedAt, a.sentiment, scorerId);
        return `(${BASELINE_COLUMNS.map((_, i) => `$${base + i + 1}`).join(',')})`;
      });
      const result = await client.query(`insert into article_baseline (${BASELINE_COLUMNS.join(',')}) values ${tuples.join(',')} on conflict do nothing`, params);
      inserted += result.rowCount ?? 0;
    }
    await client.query('commit');
    return inserted;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

async function main(): Promise<void> {
  const items = generatedItems(ITEMS, new Date(), { prefix: 'bench' });
  const body = rss(items);

  await ensureDatabase(dbUrl);
  releasers.push({ name: `database ${dbName}`, release: () => dropDatabase(dbName) });
  const orm: Orm = await openOrm(dbUrl);
  releasers.push({ name: 'orm', release: () => orm.close(true) });
  await migrate(orm);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  pool.on('error', () => {});
  releasers.push({ name: 'pg pool', release: () => pool.end() });

  const { server, url } = await serve(body);
  releasers.push({ name: 'http server', release: () => new Promise<void>((resolve) => server.close(() => resolve())) });

  const dir = mkdtempSync(join(tmpdir(), 'np-bench-'));
  releasers.push({ name: 'sources file', release: async () => rmSync(dir, { recursive: true, force: true }) });
  const sourcesFile = join(dir, 'sources.json');
  writeFileSync(sourcesFile, JSON.stringify({ entities: entities(), sources: [{ id: SOURCE_ID, kind: 'feed', url, cron: '0 0 1 1 *' }] }));
  const config = loadConfig({
    DATABASE_URL: dbUrl,
    REDIS_URL,
    SOURCES_FILE: sourcesFile,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    FETCH_ALLOW_PRIVATE: '127.0.0.1/32',
    // No refresh runs during the measurements.
    ROLLUP_DEBOUNCE: '1h',
  });
  await syncConfig(orm.em.fork(), config);

  releasers.push({ name: `redis prefix ${prefix}`, release: () => deletePrefix(prefix) });
  const producer = createRedis(REDIS_URL, 'worker');
  releasers.push({ name: 'redis', release: async () => producer.disconnect() });
  const queues = createQueues(producer, prefix, log);
  releasers.push({ name: 'queues', release: () => closeQueues(queues) });
  const services = await buildServices(config, orm, queues, log);
  releasers.push({ name: 'http client', release: () => services.http.close() });
  const workers = startWorkers({
    orm,
    log,
    handlers,
    services,
    prefix,
    connection: () => createRedis(REDIS_URL, 'worker'),
    concurrency: { ingest: 1, rollup: 1, maintenance: 1 },
  });
  releasers.push({ name: 'workers', release: () => workers.close(10_000) });
  const eventsConnection = createRedis(REDIS_URL, 'worker');
  releasers.push({ name: 'events redis', release: async () => eventsConnection.disconnect() });
  const events = new QueueEvents('ingest', { connection: eventsConnection, prefix });
  releasers.push({ name: 'queue events', release: () => events.close() });
  await events.waitUntilReady();

  console.log(`ingest: ${fmt(ITEMS)}-item RSS feed (${(body.length / 1024 / 1024).toFixed(1)} MiB), ${ENTITIES} entities, median of ${ROUNDS}, node ${process.version}`);

  // (a) End to end through the real worker and handler.
  const e2eMs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await resetIngestTables(pool);
    const started = performance.now();
    const job = await queues.ingest.add('fetch', { sourceId: SOURCE_ID }, { attempts: 1 });
    const stats = (await job.waitUntilFinished(events, 120_000)) as Record<string, unknown>;
    e2eMs.push(performance.now() - started);
    if (stats.inserted !== ITEMS) throw new Error(`bench/ingest: expected ${ITEMS} inserted articles, the fetch job returned ${JSON.stringify(stats)}`);
  }
  const e2eRate = perSecond(ITEMS, median(e2eMs));
  console.log(
    `end-to-end: ${fmt(e2eRate)} articles/s  (${median(e2eMs).toFixed(0)} ms per fetch of ${fmt(ITEMS)} items, real worker + handler)  ` +
      `${e2eRate >= E2E_TARGET ? 'meets' : 'MISSES'} target >= ${fmt(E2E_TARGET)}/s`,
  );

  // Where the end-to-end time goes (same body, stages timed one by one).
  const stage = { http: [] as number[], parse: [] as number[], prepare: [] as number[] };
  let prepared: PreparedArticle[] = [];
  let fetchedAt = new Date();
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    const response = await services.http.get(url, { label: SOURCE_ID });
    stage.http.push(performance.now() - t);
    if (response.notModified) throw new Error('bench/ingest: unexpected 304');
    fetchedAt = response.fetchedAt;
    t = performance.now();
    const parsed = parseSource('feed', { body: response.body, contentType: response.contentType, url: response.url, fetchedAt }, { sourceId: SOURCE_ID });
    stage.parse.push(performance.now() - t);
    t = performance.now();
    prepared = prepareArticles(parsed.items, services.scorer, services.entities).articles;
    stage.prepare.push(performance.now() - t);
  }
  if (prepared.length !== ITEMS) throw new Error(`bench/ingest: prepared ${prepared.length} articles, expected ${ITEMS}`);

  // (b) The persist stage beside plain pg, alternating so drift hits both alike.
  await pool.query('create table article_baseline (like article including all)');
  await pool.query('alter table article_baseline add foreign key (source_id) references source (id) on delete cascade');
  const persistMs: number[] = [];
  const articlesOnlyMs: number[] = [];
  const baselineMs: number[] = [];
  const links = prepared.reduce((n, a) => n + a.entityIds.length, 0);
  // The same rows without entity matches: what persistItems costs for exactly the baseline's work.
  const unmatched = prepared.map((a) => ({ ...a, entityIds: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    await resetIngestTables(pool);
    let t = performance.now();
    const stored = await orm.em.fork().transactional((tx) =>
      persistItems(tx, { sourceId: SOURCE_ID, fetchedAt, scorerId: services.scorer.id, articles: prepared, trends: [] }),
    );
    persistMs.push(performance.now() - t);
    if (stored.inserted !== ITEMS || stored.entityLinks !== links) throw new Error(`bench/ingest: persistItems stored ${JSON.stringify(stored)}`);

    await resetIngestTables(pool);
    t = performance.now();
    const bare = await orm.em.fork().transactional((tx) =>
      persistItems(tx, { sourceId: SOURCE_ID, fetchedAt, scorerId: services.scorer.id, articles: unmatched, trends: [] }),
    );
    articlesOnlyMs.push(performance.now() - t);
    if (bare.inserted !== ITEMS) throw new Error(`bench/ingest: persistItems (no links) stored ${JSON.stringify(bare)}`);

    await pool.query('truncate article_baseline');
    t = performance.now();
    const inserted = await baselineInsert(pool, prepared, fetchedAt, services.scorer.id);
    baselineMs.push(performance.now() - t);
    if (inserted !== ITEMS) throw new Error(`bench/ingest: baseline inserted ${inserted} rows, expected ${ITEMS}`);
  }
  const persistRate = perSecond(ITEMS, median(persistMs));
  const baselineRate = perSecond(ITEMS, median(baselineMs));
  const ratio = persistRate / baselineRate;
  console.log(
    `persist: ${fmt(persistRate)} rows/s  baseline pg multi-row insert: ${fmt(baselineRate)} rows/s  ratio ${ratio.toFixed(2)}x ` +
      `(target >= ${PERSIST_TARGET}x${ratio >= PERSIST_TARGET ? '' : ': MISSED'})  [persist also writes ${fmt(links)} article_entity rows and their dirty marks]`,
  );
  const articlesOnlyRate = perSecond(ITEMS, median(articlesOnlyMs));
  console.log(
    `persist, articles only (no entity links, so no article_entity rows or dirty marks): ${fmt(articlesOnlyRate)} rows/s  ` +
      `baseline: ${fmt(baselineRate)} rows/s  ratio ${(articlesOnlyRate / baselineRate).toFixed(2)}x`,
  );
  console.log(
    `stages: http get ${median(stage.http).toFixed(0)} ms, decode+parse ${median(stage.parse).toFixed(0)} ms, ` +
      `score+match ${median(stage.prepare).toFixed(0)} ms, persist ${median(persistMs).toFixed(0)} ms  (end to end ${median(e2eMs).toFixed(0)} ms)`,
  );
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
} finally {
  await releaseAll();
}
process.exit(failed ? 1 : 0);
