/**
 * The job path, each figure beside its same-run baseline:
 *  (a) small fetch jobs/s through the real worker (lease + host slot in Redis, job_run row,
 *      source row, conditional GET answered 304, one short transaction), against bare BullMQ
 *      running the same job_run bookkeeping (openRun + closeRun) and nothing else, same job
 *      count, same concurrency; with the Postgres statements (counted on the pg client:
 *      begin/commit included) and Redis commands (counted on ioredis: BullMQ's own included)
 *      each job sends, this process's CPU and the whole machine's CPU per job, and each
 *      round's ratio against the baseline run just before it; and beside both an I/O floor:
 *      the baseline plus the claim, the conditional GET and the release a fetch cannot do
 *      without, and no other logic (the real handler's distance from it is its own code);
 *  (b) bulk article insert: the unnest statement persist uses, against MikroORM's own bulk
 *      insert (em.insertMany, and the query builder's insert ... on conflict ignore), 10k rows
 *      into an empty table, median of 3.
 * Creates a throwaway database and Redis prefix, removed at the end.
 * Run: node bench/job-path.ts [--job-path-only] [--rounds N] [--jobs N] (--job-path-only skips (b))
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { sql as raw } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { Article } from '../src/db/entities.ts';
import { closeRun, openRun } from '../src/db/job-runs.ts';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { sql } from '../src/db/sql.ts';
import { syncConfig } from '../src/db/sync.ts';
import { handlers } from '../src/jobs.ts';
import { claimFetch } from '../src/ingest/fetch-claim.ts';
import { buildServices } from '../src/process.ts';
import { createRedis } from '../src/queues/connection.ts';
import { closeQueues, createQueues, type Queues } from '../src/queues/queues.ts';
import { startWorkers } from '../src/queues/workers.ts';
import { benchNamespace, deletePrefix, dropDatabase, REDIS_URL, sized } from './support.ts';

/** `--name N` from the command line, else `fallback`. */
function numberArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`bench/job-path: --${name} takes a positive integer, got "${process.argv[at + 1] ?? ''}"`);
  return value;
}

const SOURCES = 200;
// On a busy machine, more and shorter rounds (each real round beside its own baseline) give a
// steadier median ratio: --rounds 9 --jobs 400.
const JOBS = numberArg('jobs', sized(1_000, 40));
const CONCURRENCY = 4;
const BULK_ROWS = sized(10_000, 200);
const ROUNDS = numberArg('rounds', sized(3, 1));

const { dbName, dbUrl, prefix } = benchNamespace('jobpath');
const log = pino({ level: 'silent' });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// Every statement this process sends to Postgres, whoever sends it (MikroORM, Kysely, pg), on
// the pg that MikroORM resolves (it may be a copy of its own) and on the top-level one.
let statements = 0;
for (const Client of new Set([pg.Client, (createRequire(import.meta.resolve('@mikro-orm/postgresql'))('pg') as typeof pg).Client])) {
  const originalQuery = Client.prototype.query;
  Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    statements += 1;
    return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof Client.prototype.query;
}

const releasers: (() => Promise<unknown>)[] = [];
async function releaseAll(): Promise<void> {
  for (const release of releasers.reverse()) await release().catch((err: unknown) => console.error(`bench/job-path: cleanup failed: ${String(err)}`));
}

// Every command this process sends to Redis (BullMQ's and the fetch path's scripts alike).
let redisCommands = 0;
const originalSend = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function countedSend(this: Redis, ...args: Parameters<typeof originalSend>) {
  redisCommands += 1;
  return originalSend.apply(this, args);
};

type Round = { perSecond: number; statementsPerJob: number; redisPerJob: number; cpuMsPerJob: number; machineCpuMsPerJob: number };

/**
 * CPU time the whole machine spent so far (ms; Linux /proc/stat, NaN elsewhere): Postgres,
 * Redis and the origin work for each job too, and on a small machine they share its cores.
 */
function machineCpuMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait were spent working.
    const busy = fields.slice(0, 8).reduce((sum, ticks, i) => (i === 3 || i === 4 ? sum : sum + ticks), 0);
    return (busy * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;

/**
 * Runs `count` jobs through `queue` (already consumed by `worker`) and times them. The jobs
 * are enqueued while the queue is paused, so the time and the counts are the job path's alone.
 */
async function timeJobs(queue: Queues['ingest'], worker: Worker, count: number, data: (i: number) => { sourceId: string }): Promise<Round> {
  let done = 0;
  let failed = 0;
  const finished = new Promise<void>((resolve) => {
    const tick = () => {
      if (done + failed === count) resolve();
    };
    worker.on('completed', () => {
      done += 1;
      tick();
    });
    worker.on('failed', (_job, err) => {
      if (failed === 0) console.error(`first failure: ${err.message}`);
      failed += 1;
      tick();
    });
  });
  await queue.pause();
  for (let i = 0; i < count; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, count - i) }, (_, k) => ({ name: 'fetch', data: data(i + k), opts: { attempts: 1 } })));
  }
  const before = { statements, redisCommands, cpu: process.cpuUsage(), machine: machineCpuMs() };
  const started = performance.now();
  await queue.resume();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const after = { statements, redisCommands, cpu: process.cpuUsage(before.cpu), machine: machineCpuMs() };
  worker.removeAllListeners('completed');
  worker.removeAllListeners('failed');
  if (failed > 0) throw new Error(`${failed} of ${count} jobs failed`);
  return {
    perSecond: count / seconds,
    statementsPerJob: (after.statements - before.statements) / count,
    redisPerJob: (after.redisCommands - before.redisCommands) / count,
    cpuMsPerJob: (after.cpu.user + after.cpu.system) / 1000 / count,
    machineCpuMsPerJob: (after.machine - before.machine) / count,
  };
}

async function jobPath(orm: Orm, feedOrigin: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'np-bench-jobpath-'));
  releasers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const sourcesFile = join(dir, 'sources.json');
  const ids = Array.from({ length: SOURCES }, (_, i) => `s-${i}`);
  writeFileSync(sourcesFile, JSON.stringify({ sources: ids.map((id) => ({ id, kind: 'feed', url: `${feedOrigin}/${id}.xml`, cron: '0 0 1 1 *' })) }));
  const config = loadConfig({ DATABASE_URL: dbUrl, REDIS_URL, SOURCES_FILE: sourcesFile, LOG_LEVEL: 'silent', FETCH_ALLOW_PRIVATE: '127.0.0.1/32', HOST_CONCURRENCY: '64', HOST_MIN_INTERVAL: '0', ROLLUP_DEBOUNCE: '1h' });
  await syncConfig(orm.em.fork(), config);

  // The product: real handlers, real worker wrapper.
  const redis = createRedis(REDIS_URL, 'worker');
  releasers.push(async () => redis.disconnect());
  const queues = createQueues(redis, `${prefix}_real`, log);
  releasers.push(() => closeQueues(queues));
  releasers.push(() => deletePrefix(`${prefix}_real`));
  const services = await buildServices(config, orm, queues, log);
  releasers.push(() => services.http.close());
  const real = startWorkers({ orm, log, handlers, services, prefix: `${prefix}_real`, connection: () => createRedis(REDIS_URL, 'worker'), concurrency: { ingest: CONCURRENCY, rollup: 1, maintenance: 1 } });
  releasers.push(() => real.close(10_000));

  // The baseline: bare BullMQ plus the same job_run bookkeeping, nothing else.
  const baseRedis = createRedis(REDIS_URL, 'worker');
  releasers.push(async () => baseRedis.disconnect());
  const baseQueues = createQueues(baseRedis, `${prefix}_base`, log);
  releasers.push(() => closeQueues(baseQueues));
  releasers.push(() => deletePrefix(`${prefix}_base`));
  const baseline = new Worker(
    'ingest',
    async (job: Job) => {
      const runId = await openRun(orm.em.fork(), { queue: 'ingest', jobName: job.name, jobId: job.id ?? null, sourceId: (job.data as { sourceId: string }).sourceId, attempt: job.attemptsMade + 1 });
      await closeRun(orm.em.fork(), runId, { status: 'completed', stats: { baseline: true } });
      return {};
    },
    { connection: createRedis(REDIS_URL, 'worker'), prefix: `${prefix}_base`, concurrency: CONCURRENCY },
  );
  releasers.push(() => baseline.close());

  // The I/O floor: the baseline plus the round trips a fetch cannot do without, issued as the
  // handler issues them (the lease and host slot claimed while the row is opened, the same
  // conditional GET, the closing statement, the release not waited for), and no other logic.
  // The real handler's distance from it is what its own code costs.
  const floorRedis = createRedis(REDIS_URL, 'worker');
  releasers.push(async () => floorRedis.disconnect());
  const floorQueues = createQueues(floorRedis, `${prefix}_floor`, log);
  releasers.push(() => closeQueues(floorQueues));
  releasers.push(() => deletePrefix(`${prefix}_floor`));
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  releasers.push(() => agent.close());
  const floor = new Worker(
    'ingest',
    async (job: Job) => {
      const { sourceId } = job.data as { sourceId: string };
      const start = { queue: 'ingest', jobName: job.name, jobId: job.id ?? null, sourceId, attempt: job.attemptsMade + 1 };
      const keys = { lease: `${prefix}_floor:fetch-lease:${sourceId}`, host: `${prefix}_floor:host:127.0.0.1` };
      const [runId, claim] = await Promise.all([
        openRun(orm.em.fork(), start),
        claimFetch(floorRedis, keys, { politeness: { concurrency: 64, minIntervalMs: 0 }, slotHoldMs: 35_000, holder: job.id ?? 'job' }),
      ]);
      if (!claim.acquired) throw new Error(`floor: ${sourceId} not claimed (${claim.busy} busy)`);
      const res = await agent.request({ origin: feedOrigin, path: `/${sourceId}.xml`, method: 'GET', headers: { 'if-none-match': '"v1"' } });
      await res.body.dump();
      if (res.statusCode !== 304) throw new Error(`floor: expected a 304, got ${res.statusCode}`);
      await closeRun(orm.em.fork(), runId, { status: 'completed', stats: { floor: true } });
      void claim.lease.release({ slot: claim.slot });
      return {};
    },
    { connection: createRedis(REDIS_URL, 'worker'), prefix: `${prefix}_floor`, concurrency: CONCURRENCY },
  );
  releasers.push(() => floor.close());

  // Warm up: one 200 per source (validators stored), so the timed jobs are 304s.
  await timeJobs(queues.ingest, real.workers.ingest, SOURCES, (i) => ({ sourceId: ids[i]! }));
  await timeJobs(baseQueues.ingest, baseline, 200, (i) => ({ sourceId: ids[i % SOURCES]! }));
  await timeJobs(floorQueues.ingest, floor, 200, (i) => ({ sourceId: ids[i % SOURCES]! }));

  const realRuns: Round[] = [];
  const baseRuns: Round[] = [];
  const floorRuns: Round[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    baseRuns.push(await timeJobs(baseQueues.ingest, baseline, JOBS, (i) => ({ sourceId: ids[i % SOURCES]! })));
    floorRuns.push(await timeJobs(floorQueues.ingest, floor, JOBS, (i) => ({ sourceId: ids[i % SOURCES]! })));
    realRuns.push(await timeJobs(queues.ingest, real.workers.ingest, JOBS, (i) => ({ sourceId: ids[i % SOURCES]! })));
  }
  const range = (xs: number[], digits = 0) => `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)})`;
  const line = (label: string, runs: Round[]) =>
    console.log(
      `  ${label.padEnd(34)} ${range(runs.map((x) => x.perSecond))} jobs/s   ${fmt(median(runs.map((x) => x.statementsPerJob)), 1)} Postgres statements/job   ${fmt(median(runs.map((x) => x.redisPerJob)), 1)} Redis commands/job   ${range(runs.map((x) => x.cpuMsPerJob), 2)} CPU ms/job   ${range(runs.map((x) => x.machineCpuMsPerJob), 2)} machine CPU ms/job`,
    );
  console.log(`job path: ${JOBS} small fetch jobs (304) x ${ROUNDS} rounds, concurrency ${CONCURRENCY}, ${SOURCES} sources, median (min-max)`);
  line('fetch jobs (real handler)', realRuns);
  line('baseline: BullMQ + job_run rows', baseRuns);
  line('floor: baseline + claim, GET, release', floorRuns);
  // Each round's ratios against the baselines measured just before it: the figures to judge by.
  console.log(`  ratio                              ${range(realRuns.map((x, i) => x.perSecond / baseRuns[i]!.perSecond), 2)}x of the bookkeeping baseline`);
  console.log(`  ratio to the I/O floor             ${range(realRuns.map((x, i) => x.perSecond / floorRuns[i]!.perSecond), 2)}x (the floor itself: ${range(floorRuns.map((x, i) => x.perSecond / baseRuns[i]!.perSecond), 2)}x of the baseline)`);
  // This process's CPU per job (the origin runs in its own process): what the job path
  // costs beside how long it waits; it too inflates when other processes compete for the cores.
  console.log(`  CPU per job                        ${range(realRuns.map((x, i) => x.cpuMsPerJob / baseRuns[i]!.cpuMsPerJob), 2)}x the baseline's`);
}

type ArticleRow = { externalId: string; url: string; urlKey: string; title: string; publishedAt: Date; sentiment: number };

async function bulkInsert(orm: Orm): Promise<void> {
  const fetchedAt = new Date();
  const rowsOf = (round: number, label: string): ArticleRow[] =>
    Array.from({ length: BULK_ROWS }, (_, i) => ({
      externalId: `${label}-${round}-${i}`,
      url: `https://example.org/${label}/${round}/${i}`,
      urlKey: `example.org/${label}/${round}/${i}`,
      title: `Headline ${i} about nothing in particular`,
      publishedAt: new Date(fetchedAt.getTime() - i * 60_000),
      sentiment: ((i % 200) - 100) / 100,
    }));
  const reset = () => orm.em.fork().execute('truncate article, article_entity restart identity cascade');

  const unnest = async (rows: ArticleRow[]) => {
    const col = <T>(pick: (a: ArticleRow) => T) => rows.map(pick);
    const { rows: out } = await raw<{ id: string }>`
      insert into article (source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
      select 'bulk', u.external_id, u.url, u.url_key, u.title, null, null, null, u.published_at, ${fetchedAt.toISOString()}::timestamptz, u.sentiment, 'bench'
        from unnest(${col((a) => a.externalId)}::text[], ${col((a) => a.url)}::text[], ${col((a) => a.urlKey)}::text[], ${col((a) => a.title)}::text[],
                    ${col((a) => a.publishedAt.toISOString())}::timestamptz[], ${col((a) => a.sentiment)}::float8[])
          as u(external_id, url, url_key, title, published_at, sentiment)
      on conflict do nothing
      returning id`.execute(sql(orm.em.fork()));
    return out.length;
  };
  const entityRows = (rows: ArticleRow[]) =>
    rows.map((a) => ({ source: 'bulk', externalId: a.externalId, url: a.url, urlKey: a.urlKey, title: a.title, publishedAt: a.publishedAt, fetchedAt, sentiment: a.sentiment, scorer: 'bench' }));
  const insertMany = async (rows: ArticleRow[]) => {
    await orm.em.fork().insertMany(Article, entityRows(rows));
    return rows.length;
  };
  const queryBuilder = async (rows: ArticleRow[]) => {
    const inserted = await orm.em.fork().createQueryBuilder(Article).insert(entityRows(rows)).onConflict().ignore().execute('all');
    return Array.isArray(inserted) ? inserted.length : rows.length;
  };

  await orm.em.fork().execute(`insert into source (id, kind, url) values ('bulk', 'feed', 'http://127.0.0.1/bulk') on conflict do nothing`);
  const ways = { 'unnest (persist.ts)': unnest, 'em.insertMany': insertMany, 'qb insert .. on conflict ignore': queryBuilder } as const;
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, insert] of Object.entries(ways)) {
      await reset();
      const rows = rowsOf(round, name.replace(/\W+/g, ''));
      const started = performance.now();
      const n = await insert(rows);
      const ms = performance.now() - started;
      if (n !== BULK_ROWS) throw new Error(`${name}: inserted ${n} of ${BULK_ROWS}`);
      results.set(name, [...(results.get(name) ?? []), (BULK_ROWS / ms) * 1000]);
    }
  }
  const base = median(results.get('unnest (persist.ts)')!);
  console.log(`bulk insert: ${fmt(BULK_ROWS)} article rows into an empty table, median of ${ROUNDS}`);
  for (const [name, figures] of results) console.log(`  ${name.padEnd(34)} ${fmt(median(figures))} rows/s   ${fmt(median(figures) / base, 2)}x of unnest`);
}

const ORIGIN = `
import { createServer } from 'node:http';
const body = Buffer.from('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>g1</guid><title>Quiet day</title><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>');
const server = createServer((req, res) => {
  if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304, { etag: '"v1"' }).end();
  res.writeHead(200, { 'content-type': 'application/rss+xml', etag: '"v1"', 'content-length': body.length }).end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port)));
`;

async function main(): Promise<void> {
  await ensureDatabase(dbUrl);
  releasers.push(() => dropDatabase(dbName));
  const orm = await openOrm(dbUrl);
  releasers.push(() => orm.close(true));
  await migrate(orm);

  // One small feed per source: 200 with an ETag once, then 304. The origin runs in a process of
  // its own, as a real one does: in this process it took the worker's event loop and CPU.
  const origin = spawn(process.execPath, ['--input-type=module', '-e', ORIGIN], { stdio: ['ignore', 'pipe', 'inherit'] });
  releasers.push(async () => void origin.kill());
  const [port] = (await once(origin.stdout!, 'data')) as [Buffer];
  await jobPath(orm, `http://127.0.0.1:${Number(port.toString())}`);
  if (!process.argv.includes('--job-path-only')) await bulkInsert(orm);
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await releaseAll();
}
// Everything above is closed, yet a handle stays open (the run sat idle for minutes after its
// figures until killed): exit rather than hang `npm run bench`.
process.exit();
