/**
 * Ingest throughput, each figure beside its target or its same-run baseline:
 *  (a) end to end: a 10,000-item RSS feed served on 127.0.0.1, fetched by a real BullMQ worker
 *      running the real fetch handler (http get -> decode/parse -> score + match -> one
 *      transaction: articles, links, dirty marks, source state, job_run), in articles/s
 *      (target >= 10,000/s); then the same fetch -> parse -> score -> persist outside the worker,
 *      alternating rounds: as the worker runs it (plain RSS read by src/sources/rss-fast.ts, then
 *      pipelined: claim keys, score batch i+1 while batch i is written), the previous path (every
 *      feed parsed by feedsmith) and sequential (score everything, then write); the worker's
 *      figure is also printed as a ratio to the previous handler path; all four alternate,
 *      PATH_ROUNDS each;
 *  (b) the persist stage alone: persistItems of the 10k prepared rows (dedup keys in
 *      article_key, articles into the month partitions, article_entity links, dirty marks)
 *      beside the same workload written by hand with unnest into the unpartitioned pre-issue-9
 *      design (global unique keys on the article table itself): articles, links, marks, one
 *      transaction (target >= 0.65x). Both sides start from tables pre-filled with PREFILL
 *      articles over the last 60 days, and every round writes new rows (nothing is truncated).
 * Every measurement runs 3 times; the median is printed. Missed targets are
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
import { ingestItems, persistItems } from '../src/ingest/persist.ts';
import { ensurePartitions } from '../src/db/partitions.ts';
import { sql } from '../src/db/sql.ts';
import { keyItems, prepareArticles, prepareKeyed, type PreparedArticle } from '../src/ingest/prepare.ts';
import { handlers } from '../src/jobs.ts';
import { buildServices } from '../src/process.ts';
import { createRedis } from '../src/queues/connection.ts';
import { closeQueues, createQueues } from '../src/queues/queues.ts';
import { startWorkers } from '../src/queues/workers.ts';
import { parseFeed } from '../src/sources/feed.ts';
import { parseSource } from '../src/sources/index.ts';
import { generatedItems, rss } from '../test/support/feeds.ts';
import { benchNamespace, deletePrefix, dropDatabase, REDIS_URL, sized } from './support.ts';

const ITEMS = sized(10_000, 300);
const ENTITIES = 50;
const ROUNDS = sized(3, 1);
const PATH_ROUNDS = sized(6, 1);
// Pre-filled history per side (the real tables and the baseline's): BENCH_PREFILL overrides it.
const PREFILL = Number(process.env.BENCH_PREFILL ?? sized(1_000_000, 1_000));
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

/** Removes what the bench source wrote (the pre-filled rows of other sources stay), so the same feed inserts again. */
async function resetIngestTables(pool: pg.Pool): Promise<void> {
  await pool.query(`delete from article_key where source_id = $1`, [SOURCE_ID]);
  await pool.query(`delete from article where source_id = $1`, [SOURCE_ID]);
  await pool.query('truncate rollup_dirty');
  await pool.query(`update source set etag = null, last_modified = null, consecutive_failures = 0, last_error = null, backoff_until = null`);
}

/**
 * PREFILL articles (2 links each) over the last 60 days from another source, in the real
 * tables and in the baseline's unpartitioned copies, so both sides write into tables and
 * indexes of realistic size.
 */
async function prefill(pool: pg.Pool): Promise<void> {
  await pool.query(`insert into source (id, kind) values ('prefill', 'feed') on conflict do nothing`);
  // One client, foreign-key triggers off while it fills: the rows are consistent by construction,
  // and checking millions of links one by one would make the fill, not the bench, the slow part.
  const client = await pool.connect();
  try {
    await client.query(`set session_replication_role = replica`);
    await fillTables(client);
  } finally {
    await client.query(`reset session_replication_role`).catch(() => {});
    client.release();
  }
  await pool.query('vacuum analyze');
  // The fill's dirty pages are written now, not by a checkpoint during the first measured rounds.
  await pool.query('checkpoint');
}

async function fillTables(pool: pg.PoolClient): Promise<void> {
  await pool.query(`
    create table baseline_article (id bigserial primary key, source_id varchar(255) not null references source (id) on delete cascade, external_id text not null,
      url text null, url_key text null unique, title text not null, summary text null, author text null, language text null,
      published_at timestamptz not null, fetched_at timestamptz not null, sentiment double precision not null, scorer text not null,
      unique (source_id, external_id));
    create index on baseline_article (published_at);
    create table baseline_article_entity (article_id bigint not null references baseline_article (id) on delete cascade, entity_id int not null references entity (id),
      published_at timestamptz not null, sentiment double precision not null, scorer text not null, primary key (article_id, entity_id));
    create index on baseline_article_entity (entity_id, published_at);
    create table baseline_dirty (entity_id int not null, hour_start timestamptz not null, marked_at timestamptz not null default clock_timestamp(), primary key (entity_id, hour_start));`);
  const fill = (table: string) => `
    insert into ${table} (${table === 'article' ? 'id, ' : ''}source_id, external_id, url, url_key, title, summary, published_at, fetched_at, sentiment, scorer)
    select ${table === 'article' ? 'g, ' : ''}'prefill', 'p' || g, 'https://prefill.example.org/' || g, 'prefill.example.org/' || g, 'Prefilled headline ' || g, 'A summary of ' || g,
           now() - (g % 1440) * interval '1 hour' - (g % 3600) * interval '1 second', now(), ((g % 201) - 100) / 100.0, 'vader'
      from generate_series(1, ${PREFILL}) g`;
  await pool.query(fill('article'));
  await pool.query(`select setval('article_id_seq', ${PREFILL})`);
  await pool.query(`insert into article_key (source_id, external_id, url_key, article_id, published_at) select source_id, external_id, url_key, id, published_at from article`);
  await pool.query(`insert into article_entity (article_id, entity_id, published_at, sentiment, scorer) select a.id, e.id, a.published_at, a.sentiment, a.scorer from article a join entity e on e.id in (1 + a.id % 50, 1 + (a.id * 7) % 50) on conflict do nothing`);
  await pool.query(fill('baseline_article'));
  await pool.query(`insert into baseline_article_entity select a.id, e.id, a.published_at, a.sentiment, a.scorer from baseline_article a join entity e on e.id in (1 + a.id % 50, 1 + (a.id * 7) % 50) on conflict do nothing`);
}

const HOUR_MS = 3_600_000;

/**
 * The baseline: the same writes persistItems makes (articles deduplicated on both keys, their
 * entity links, the (entity, hour) marks), by hand with unnest, into the unpartitioned design
 * whose unique keys live on the article table, in one transaction.
 */
async function baselineInsert(pool: pg.Pool, rows: readonly PreparedArticle[], fetchedAt: Date, scorerId: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const sorted = [...rows].sort((a, b) => ((a.urlKey ?? '') < (b.urlKey ?? '') ? -1 : (a.urlKey ?? '') > (b.urlKey ?? '') ? 1 : 0));
    const col = <T>(pick: (a: PreparedArticle) => T) => sorted.map(pick);
    const { rows: inserted } = await client.query<{ id: string; external_id: string }>(
      `insert into baseline_article (source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
       select $1, u.external_id, u.url, u.url_key, u.title, u.summary, u.author, u.language, u.published_at, $11::timestamptz, u.sentiment, $12
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::float8[])
           as u(external_id, url, url_key, title, summary, author, language, published_at, sentiment)
       on conflict do nothing
       returning id, external_id`,
      [SOURCE_ID, col((a) => a.externalId), col((a) => a.url), col((a) => a.urlKey), col((a) => a.title), col((a) => a.summary), col((a) => a.author),
        col((a) => a.language), col((a) => a.publishedAt.toISOString()), col((a) => a.sentiment), fetchedAt.toISOString(), scorerId],
    );
    const byId = new Map(rows.map((a) => [a.externalId, a]));
    const ids: string[] = [];
    const entityIds: number[] = [];
    const published: string[] = [];
    const sentiments: number[] = [];
    const marks = new Map<string, [number, string]>();
    for (const row of inserted) {
      const a = byId.get(row.external_id)!;
      for (const e of a.entityIds) {
        ids.push(row.id);
        entityIds.push(e);
        published.push(a.publishedAt.toISOString());
        sentiments.push(a.sentiment);
        const hour = Math.floor(a.publishedAt.getTime() / HOUR_MS) * HOUR_MS;
        marks.set(`${e}:${hour}`, [e, new Date(hour).toISOString()]);
      }
    }
    await client.query(`insert into baseline_article_entity select *, $5::text from unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::float8[])`, [ids, entityIds, published, sentiments, scorerId]);
    const m = [...marks.values()].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    await client.query(
      `insert into baseline_dirty (entity_id, hour_start) select * from unnest($1::int[], $2::timestamptz[]) on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp()`,
      [m.map((x) => x[0]), m.map((x) => x[1])],
    );
    await client.query('commit');
    return inserted.length;
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
  // The pre-filled history reaches 60 days back: its months (persist would make them on demand).
  await orm.em.fork().transactional(async (tx) => {
    for (const table of ['article', 'article_entity'] as const) await ensurePartitions(sql(tx), table, new Date(Date.now() - 62 * 86_400_000), new Date());
  });
  await prefill(pool);

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

  console.log(
    `ingest: ${fmt(ITEMS)}-item RSS feed (${(body.length / 1024 / 1024).toFixed(1)} MiB), ${ENTITIES} entities, tables pre-filled with ${fmt(PREFILL)} articles, median of ${ROUNDS}, node ${process.version}`,
  );

  // (a) End to end through the real worker and handler; its rounds alternate with (a2)'s below.
  const worker = async () => {
    const job = await queues.ingest.add('fetch', { sourceId: SOURCE_ID }, { attempts: 1 });
    const stats = (await job.waitUntilFinished(events, 120_000)) as Record<string, unknown>;
    if (stats.inserted !== ITEMS) throw new Error(`bench/ingest: expected ${ITEMS} inserted articles, the fetch job returned ${JSON.stringify(stats)}`);
    return { inserted: ITEMS };
  };

  // (a2) The handler's path without the worker, alternating rounds with the worker's: as the
  // worker runs it (plain RSS read by src/sources/rss-fast.ts, then ingestItems: claim keys, score
  // batch i+1 while batch i is written), the previous path (every feed parsed by feedsmith), and
  // sequential (fast parse, then score everything, then write).
  const pathMs = { worker: [] as number[], current: [] as number[], previous: [] as number[], sequential: [] as number[] };
  const retentionDays = config.retention.articleDays;
  const fetchParse = async (fastPath: boolean) => {
    const response = await services.http.get(url, { label: SOURCE_ID });
    if (response.notModified) throw new Error('bench/ingest: unexpected 304');
    const fetched = { body: response.body, contentType: response.contentType, url: response.url, fetchedAt: response.fetchedAt };
    return { fetchedAt: response.fetchedAt, parsed: fastPath ? parseSource('feed', fetched, { sourceId: SOURCE_ID }) : parseFeed(fetched, { sourceId: SOURCE_ID }, { fastPath: false }) };
  };
  const pipelined = async (fastPath: boolean) => {
    const { fetchedAt, parsed } = await fetchParse(fastPath);
    const keyed = keyItems(parsed.items);
    return orm.em.fork().transactional((tx) =>
      ingestItems(tx, { sourceId: SOURCE_ID, fetchedAt, scorerId: services.scorer.id, items: keyed.items, prepare: (b) => prepareKeyed(b, services.scorer, services.entities), trends: [], retentionDays }),
    );
  };
  const paths = {
    worker,
    current: () => pipelined(true),
    previous: () => pipelined(false),
    sequential: async () => {
      const { fetchedAt, parsed } = await fetchParse(true);
      const prepared = prepareArticles(parsed.items, services.scorer, services.entities);
      return orm.em.fork().transactional((tx) =>
        persistItems(tx, { sourceId: SOURCE_ID, fetchedAt, scorerId: services.scorer.id, articles: prepared.articles, trends: [], retentionDays }),
      );
    },
  };
  // More rounds than elsewhere: neighbouring sides differ by less than the machine's noise.
  const sides = ['worker', 'current', 'previous', 'sequential'] as const;
  for (let round = 0; round < PATH_ROUNDS; round++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(round + k) % sides.length]!;
      await resetIngestTables(pool);
      const started = performance.now();
      const stored = await paths[side]();
      pathMs[side].push(performance.now() - started);
      if (stored.inserted !== ITEMS) throw new Error(`bench/ingest: ${side} stored ${JSON.stringify(stored)}`);
    }
  }
  const pathRate = (side: keyof typeof pathMs) => perSecond(ITEMS, median(pathMs[side]));
  const e2eMs = pathMs.worker;
  const e2eRate = pathRate('worker');
  console.log(
    `end-to-end: ${fmt(e2eRate)} articles/s  (${median(e2eMs).toFixed(0)} ms per fetch of ${fmt(ITEMS)} items, real worker + handler)  ` +
      `${e2eRate >= E2E_TARGET ? 'meets' : 'MISSES'} target >= ${fmt(E2E_TARGET)}/s; ${(e2eRate / pathRate('previous')).toFixed(2)}x the previous handler path below (feedsmith parse, no worker)`,
  );
  console.log(
    `handler path: current ${fmt(pathRate('current'))} articles/s  previous (feedsmith parse) ${fmt(pathRate('previous'))} articles/s  ` +
      `ratio ${(pathRate('current') / pathRate('previous')).toFixed(2)}x  sequential ${fmt(pathRate('sequential'))} articles/s  ` +
      `(${median(pathMs.current).toFixed(0)} / ${median(pathMs.previous).toFixed(0)} / ${median(pathMs.sequential).toFixed(0)} ms; get + parse + score + persist, no worker)`,
  );

  // Where the end-to-end time goes (same body, stages timed one by one).
  const stage = { http: [] as number[], parse: [] as number[], feedsmith: [] as number[], prepare: [] as number[] };
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
    parseFeed({ body: response.body, contentType: response.contentType, url: response.url, fetchedAt }, { sourceId: SOURCE_ID }, { fastPath: false });
    stage.feedsmith.push(performance.now() - t);
    t = performance.now();
    prepared = prepareArticles(parsed.items, services.scorer, services.entities).articles;
    stage.prepare.push(performance.now() - t);
  }
  if (prepared.length !== ITEMS) throw new Error(`bench/ingest: prepared ${prepared.length} articles, expected ${ITEMS}`);

  // (b) The persist stage beside the hand-written unnest baseline, alternating so drift hits
  // both alike; every round writes new rows into the pre-filled tables (nothing truncated).
  const persistMs: number[] = [];
  const baselineMs: number[] = [];
  const links = prepared.reduce((n, a) => n + a.entityIds.length, 0);
  const fresh = (round: number, side: string) =>
    prepared.map((a) => ({ ...a, externalId: `${a.externalId}-${side}${round}`, urlKey: a.urlKey === null ? null : `${a.urlKey}-${side}${round}` }));
  for (let round = 0; round < ROUNDS; round++) {
    const ours = fresh(round, 'p');
    let t = performance.now();
    const stored = await orm.em.fork().transactional((tx) =>
      persistItems(tx, { sourceId: SOURCE_ID, fetchedAt, scorerId: services.scorer.id, articles: ours, trends: [], retentionDays: config.retention.articleDays }),
    );
    persistMs.push(performance.now() - t);
    if (stored.inserted !== ITEMS || stored.entityLinks !== links) throw new Error(`bench/ingest: persistItems stored ${JSON.stringify(stored)}`);

    const theirs = fresh(round, 'b');
    t = performance.now();
    const inserted = await baselineInsert(pool, theirs, fetchedAt, services.scorer.id);
    baselineMs.push(performance.now() - t);
    if (inserted !== ITEMS) throw new Error(`bench/ingest: baseline inserted ${inserted} rows, expected ${ITEMS}`);
  }
  const persistRate = perSecond(ITEMS, median(persistMs));
  const baselineRate = perSecond(ITEMS, median(baselineMs));
  const ratio = persistRate / baselineRate;
  console.log(
    `persist: ${fmt(persistRate)} articles/s  baseline (unnest, unpartitioned, same articles + ${fmt(links)} links + marks): ${fmt(baselineRate)} articles/s  ` +
      `ratio ${ratio.toFixed(2)}x (target >= ${PERSIST_TARGET}x${ratio >= PERSIST_TARGET ? '' : ': MISSED'})`,
  );
  console.log(
    `stages: http get ${median(stage.http).toFixed(0)} ms, decode+parse ${median(stage.parse).toFixed(0)} ms (previous, feedsmith: ${median(stage.feedsmith).toFixed(0)} ms), ` +
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
