/**
 * Scale: 100,000 sources and 10,000 entities in one generated sources file, every feed served
 * by one local HTTP server, N worker processes (`node src/main.ts worker`, as deployed) on a
 * private redis-server. Each figure is printed beside its same-run baseline:
 *  (a) config sync (sources file -> source/entity tables): cold, then unchanged, beside the
 *      previous multi-row VALUES statement, which only reaches ~8,000 sources (65,535 bind
 *      parameters) and is timed at 8,000;
 *  (b) scheduler sync: all new, unchanged (a diff, nothing written), one source added, beside
 *      the previous one-by-one upsert timed on 2,000 schedulers and extrapolated;
 *  (c) Redis memory per source (schedulers + their next delayed jobs, private Redis, used_memory
 *      before/after);
 *  (d) fetches/s with N workers for a fixed window, and the most Postgres connections in use and
 *      idle in transaction during it (pg_stat_activity sampled every 200 ms);
 *  (e) the same with an origin that answers after 15 s.
 * Runtime is bounded (~3-5 min here): windows are fixed, not "until done". Overrides:
 * SCALE_SOURCES, SCALE_ENTITIES, SCALE_WORKERS, SCALE_CONCURRENCY, SCALE_WINDOW_S, SCALE_SLOW_MS.
 * Creates a throwaway database and a private Redis, both removed at the end (also on Ctrl-C).
 * Run: node bench/scale.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { sql } from '../src/db/sql.ts';
import { syncConfig } from '../src/db/sync.ts';
import { createRedis } from '../src/queues/connection.ts';
import { closeQueues, createQueues } from '../src/queues/queues.ts';
import { desiredSchedules, syncSchedules, syncSchedulesOnce } from '../src/queues/schedules.ts';
import { rss, generatedItems } from '../test/support/feeds.ts';
import { freePort, startProcess, type RunningProcess } from '../test/support/processes.ts';
import { startRedis } from '../test/faults/support/redis.ts';
import { Teardown } from '../test/faults/support/teardown.ts';
import { benchNamespace, dropDatabase, sized } from './support.ts';

const SOURCES = Number(process.env.SCALE_SOURCES ?? sized(100_000, 300));
const ENTITIES = Number(process.env.SCALE_ENTITIES ?? sized(10_000, 50));
const WORKERS = Number(process.env.SCALE_WORKERS ?? 2);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 8);
const WINDOW_S = Number(process.env.SCALE_WINDOW_S ?? sized(30, 2));
const SLOW_MS = Number(process.env.SCALE_SLOW_MS ?? sized(15_000, 500));
const OLD_VALUES_ROWS = sized(8_000, 100);
const OLD_UPSERT_SAMPLE = sized(2_000, 50);

const { dbName, dbUrl, prefix } = benchNamespace('scale');
const log = pino({ level: 'silent' });
const teardown = new Teardown();
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const secs = (ms: number) => `${fmt(ms / 1000, 2)} s`;
const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t = performance.now();
  const value = await fn();
  return [value, performance.now() - t];
};
const line = (what: string, figure: string, baseline: string) => console.log(`${what.padEnd(52)} ${figure.padStart(16)}   ${baseline}`);

let stopping = false;
process.once('SIGINT', () => {
  stopping = true;
  void teardown.releaseAll().then(() => process.exit(130));
});

/** One server for every feed: /f/<n>.xml serves five items of feed n; `slow` delays every answer. */
function startFeeds(): Promise<{ server: Server; origin: string; requests: () => number; setDelay: (ms: number) => void }> {
  let delay = 0;
  let requests = 0;
  const now = new Date();
  const server = createServer((req, res) => {
    requests++;
    const n = /^\/f\/(\d+)\.xml$/.exec(req.url ?? '')?.[1] ?? '0';
    const body = rss(generatedItems(5, now, { prefix: `f${n}`, stepMinutes: 11 }), `feed ${n}`);
    const send = () => {
      res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (delay) setTimeout(send, delay).unref();
    else send();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, setDelay: (ms) => void (delay = ms) }),
    ),
  );
}

/** The previous syncConfig's statement: one multi-row VALUES list (8 parameters per source). */
async function oldValuesSync(orm: Orm, n: number): Promise<number> {
  const rows = Array.from({ length: n }, (_, i) => ({ id: `old-${i}`, kind: 'feed' as const, url: `http://x/${i}`, query: null, every_ms: 60_000, pattern: null, tz: null, enabled: false }));
  const [, ms] = await time(() => sql(orm.em.fork()).insertInto('source').values(rows).onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ url: eb.ref('excluded.url'), enabled: eb.ref('excluded.enabled') }))).execute());
  await orm.em.fork().execute(`delete from source where id like 'old-%'`);
  return ms;
}

/** Idle in a transaction for longer than this counts as held across I/O (goal: never, during fetches). */
const HELD_IDLE_MS = 1_000;

/**
 * A sample can catch a short transaction between two of its statements ("idle in transaction"
 * for a millisecond); a transaction held across an HTTP exchange stays idle for the exchange.
 * So besides the count, the longest idle-in-transaction spell and the oldest open transaction
 * are recorded: with a 15 s origin, a held transaction shows up as seconds there.
 */
async function sampleConnections(
  pool: pg.Pool,
  stop: () => boolean,
): Promise<{ maxActive: number; maxIdleInTx: number; maxHeldIdleInTx: number; maxTotal: number; longestIdleInTxMs: number; oldestTxMs: number }> {
  const peak = { maxActive: 0, maxIdleInTx: 0, maxHeldIdleInTx: 0, maxTotal: 0, longestIdleInTxMs: 0, oldestTxMs: 0 };
  while (!stop()) {
    const { rows } = await pool.query<{ active: number; idle_tx: number; held_idle_tx: number; total: number; idle_tx_ms: number; oldest_tx_ms: number }>(
      `select count(*) filter (where state = 'active')::int as active,
              count(*) filter (where state like 'idle in transaction%')::int as idle_tx,
              count(*) filter (where state like 'idle in transaction%' and now() - state_change > interval '${HELD_IDLE_MS} milliseconds')::int as held_idle_tx,
              count(*)::int as total,
              coalesce(max(extract(epoch from now() - state_change) * 1000) filter (where state like 'idle in transaction%'), 0)::float8 as idle_tx_ms,
              coalesce(max(extract(epoch from now() - xact_start) * 1000), 0)::float8 as oldest_tx_ms
         from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [dbName],
    );
    const r = rows[0]!;
    peak.maxActive = Math.max(peak.maxActive, r.active);
    peak.maxIdleInTx = Math.max(peak.maxIdleInTx, r.idle_tx);
    peak.maxHeldIdleInTx = Math.max(peak.maxHeldIdleInTx, r.held_idle_tx);
    peak.maxTotal = Math.max(peak.maxTotal, r.total);
    peak.longestIdleInTxMs = Math.max(peak.longestIdleInTxMs, r.idle_tx_ms);
    peak.oldestTxMs = Math.max(peak.oldestTxMs, r.oldest_tx_ms);
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

async function completedFetches(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ n: number }>(`select count(*)::int as n from job_run where job_name = 'fetch' and status = 'completed'`)).rows[0]!.n;
}

async function waitHealthy(port: number, worker: RunningProcess): Promise<void> {
  const deadline = Date.now() + 420_000;
  for (;;) {
    if (worker.child.exitCode !== null) throw new Error(`worker exited (${worker.child.exitCode}) before it was ready:\n${worker.output().slice(-3000)}`);
    if (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false)) return;
    if (Date.now() > deadline) throw new Error(`worker not ready within 420 s:\n${worker.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function runWindow(label: string, env: Record<string, string>, pool: pg.Pool, windowS: number) {
  const workers: RunningProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < WORKERS; i++) {
    ports.push(await freePort());
    const w = startProcess('src/main.ts', ['worker'], { ...env, HEALTH_PORT: String(ports[i]) });
    teardown.add(`worker ${label} ${i}`, () => w.stop('SIGKILL'));
    workers.push(w);
  }
  // The health server is the last thing a worker starts (its logs are at warn here).
  const [, startMs] = await time(() => Promise.all(ports.map((port, i) => waitHealthy(port, workers[i]!))));
  const before = await completedFetches(pool);
  let done = false;
  const sampler = sampleConnections(pool, () => done || stopping);
  const t = performance.now();
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const fetched = (await completedFetches(pool)) - before;
  const elapsed = (performance.now() - t) / 1000;
  done = true;
  const peak = await sampler;
  await Promise.all(workers.map((w) => w.stop('SIGTERM')));
  return { startMs, fetched, perSecond: fetched / elapsed, ...peak };
}

try {
  const dir = mkdtempSync(join(tmpdir(), 'np-bench-scale-'));
  teardown.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const feeds = await startFeeds();
  teardown.add('feed server', () => new Promise((r) => feeds.server.close(r)));
  const redisServer = await startRedis(teardown);
  await ensureDatabase(dbUrl);
  teardown.add('database', () => dropDatabase(dbName));
  const orm = await openOrm(dbUrl);
  teardown.add('orm', () => orm.close(true));
  await migrate(orm, log);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  teardown.add('pg pool', () => pool.end());

  const file = join(dir, 'sources.json');
  const entities = Array.from({ length: ENTITIES }, (_, i) => ({ slug: `e-${i}`, name: `Entity ${i}`, aliases: [`Ent${i}`, `E${i} Corp`] }));
  const sources = Array.from({ length: SOURCES }, (_, i) => ({ id: `s-${i}`, kind: 'feed', url: `${feeds.origin}/f/${i}.xml`, every: '15m' }));
  writeFileSync(file, JSON.stringify({ entities, sources }));
  const env = { SOURCES_FILE: file, DATABASE_URL: dbUrl, REDIS_URL: redisServer.url, QUEUE_PREFIX: prefix };
  const [config, loadMs] = await time(async () => loadConfig(env));

  console.log(`scale: ${fmt(SOURCES)} sources, ${fmt(ENTITIES)} entities, ${WORKERS} worker process(es) x ${CONCURRENCY} fetches, ${WINDOW_S} s windows\n`);
  line('figure', 'this run', 'baseline (same run)');
  line('(a) read + validate the sources file', secs(loadMs), '-');
  const oldMs = await oldValuesSync(orm, OLD_VALUES_ROWS);
  const [, coldMs] = await time(() => syncConfig(orm.em.fork(), config));
  const [, warmMs] = await time(() => syncConfig(orm.em.fork(), config));
  line('(a) config sync, cold', secs(coldMs), `old VALUES statement: ${secs(oldMs)} for ${fmt(OLD_VALUES_ROWS)} sources (${fmt((oldMs / OLD_VALUES_ROWS) * SOURCES / 1000, 1)} s per ${fmt(SOURCES)} if it could; fails past ~8,200)`);
  line('(a) config sync, unchanged file', secs(warmMs), '-');
  const moved = { ...config, sources: config.sources.map((s, i) => (i === 7 ? { ...s, url: `${feeds.origin}/f/7.xml?moved` } : s)) };
  const [, oneMs] = await time(() => syncConfig(orm.em.fork(), moved));
  await syncConfig(orm.em.fork(), config);
  line('(a) config sync, one source changed', secs(oneMs), '-');

  const redis = createRedis(redisServer.url, 'worker');
  teardown.add('redis client', () => redis.disconnect());
  const queues = createQueues(redis, prefix, log);
  teardown.add('queues', () => closeQueues(queues));
  const baseMemory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  // Baseline: the previous sync, one awaited upsert per scheduler, on a separate prefix.
  const oldQueues = createQueues(redis, `${prefix}_old`, log);
  teardown.add('old queues', () => closeQueues(oldQueues));
  const [, oldSchedMs] = await time(async () => {
    for (let i = 0; i < OLD_UPSERT_SAMPLE; i++) await oldQueues.ingest.upsertJobScheduler(`fetch-s-${i}`, { every: 900_000 }, { name: 'fetch', data: { sourceId: `s-${i}` } });
  });
  await oldQueues.ingest.obliterate({ force: true });
  const afterOld = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const desired = desiredSchedules(config.sources);
  const [first, schedColdMs] = await time(() => syncSchedulesOnce(redis, prefix, queues, desired, log));
  const memory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]) - Math.min(baseMemory, afterOld);
  const [, schedWarmMs] = await time(() => syncSchedulesOnce(redis, prefix, queues, desired, log, { force: true }));
  const [skip, schedSkipMs] = await time(() => syncSchedulesOnce(redis, prefix, queues, desired, log));
  // Past the config hash (a changed file whose schedules did not change): the fingerprint diff.
  const [noop, schedNoopMs] = await time(() => syncSchedules(redis, queues, desired, log));
  const plusOne = desiredSchedules([...config.sources, { id: 's-new', kind: 'feed', url: `${feeds.origin}/f/0.xml`, enabled: true, schedule: { every: 900_000 } }]);
  const [added, schedAddMs] = await time(() => syncSchedulesOnce(redis, prefix, queues, plusOne, log));
  await syncSchedulesOnce(redis, prefix, queues, desired, log); // back to the file's schedules for the workers
  const oldPer = oldSchedMs / OLD_UPSERT_SAMPLE;
  line('(b) scheduler sync, all new (pipelined)', secs(schedColdMs), `one-by-one upsert: ${fmt(oldPer, 2)} ms each -> ${fmt((oldPer * desired.length) / 1000, 1)} s for ${fmt(desired.length)}`);
  line('(b) scheduler sync, unchanged (bucket digests)', secs(schedNoopMs), `${noop.upserted.length} upserted, ${noop.removed.length} removed, ${fmt(noop.unchanged)} unchanged`);
  line('(b) scheduler sync, forced (reads every scheduler)', secs(schedWarmMs), `${first.skipped ? '-' : `${fmt(first.upserted.length)} upserted on the cold run`}`);
  line('(b) scheduler sync at a worker start, same config', `${fmt(schedSkipMs, 1)} ms`, `${skip.skipped ? skip.reason : 'synced'} (one GET)`);
  line('(b) scheduler sync, one source added (new config)', secs(schedAddMs), `${added.skipped ? 'skipped?' : `${added.upserted.length} upserted, ${added.removed.length} removed`}`);
  line('(c) Redis memory per source (scheduler + next job)', `${fmt(memory / SOURCES)} B`, `${fmt(memory / 1048576, 1)} MiB for ${fmt(SOURCES)}`);

  // Every scheduler's first run is due now: the workers have a 100k backlog to drain.
  // One local origin stands in for 100k hosts: per-host politeness (2 at a time, 500 ms apart by
  // default) would pace the whole run to ~2 fetches/s, so it is lifted as in fault scenario 8.
  const workerEnv = { ...env, INGEST_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn', FETCH_ALLOW_PRIVATE: 'true', HTTP_TIMEOUT: '30s', SHUTDOWN_GRACE: '20s', HOST_CONCURRENCY: '64', HOST_MIN_INTERVAL: '0' };
  const fast = await runWindow('fast', workerEnv, pool, WINDOW_S);
  line('(d) worker start (config sync, schedulers up to date)', secs(fast.startMs), `${WORKERS} process(es) at once`);
  line('(d) fetches/s, fast origin', fmt(fast.perSecond, 1), `${fmt(fast.fetched)} fetches in ${WINDOW_S} s`);
  line('(d) most Postgres connections: total / active', `${fast.maxTotal} / ${fast.maxActive}`, `pool max 10 per worker x ${WORKERS}`);
  line('(d) most idle in transaction at one sample', String(fast.maxIdleInTx), `longest idle-in-tx spell ${fmt(fast.longestIdleInTxMs)} ms (goal: no spell near a fetch's length)`);
  line(`(d) most idle in transaction over ${HELD_IDLE_MS} ms at one sample`, String(fast.maxHeldIdleInTx), 'goal 0: a connection held across a fetch stays idle for the whole exchange');
  line('(d) oldest open transaction seen', `${fmt(fast.oldestTxMs)} ms`, '-');

  feeds.setDelay(SLOW_MS);
  const slow = await runWindow('slow', workerEnv, pool, Math.max(WINDOW_S, Math.ceil((SLOW_MS * 2.5) / 1000)));
  const bound = (WORKERS * CONCURRENCY) / (SLOW_MS / 1000);
  line(`(e) fetches/s, origin answers after ${SLOW_MS / 1000} s`, fmt(slow.perSecond, 2), `bound: ${WORKERS}x${CONCURRENCY} slots / ${SLOW_MS / 1000} s = ${fmt(bound, 2)}/s`);
  line('(e) most Postgres connections: total / active', `${slow.maxTotal} / ${slow.maxActive}`, '-');
  line('(e) most idle in transaction at one sample', String(slow.maxIdleInTx), `longest idle-in-tx spell ${fmt(slow.longestIdleInTxMs)} ms; a held fetch would show ~${fmt(SLOW_MS)} ms`);
  line(`(e) most idle in transaction over ${HELD_IDLE_MS} ms at one sample`, String(slow.maxHeldIdleInTx), 'goal 0: a connection held across a fetch stays idle for the whole exchange');
  line('(e) oldest open transaction seen', `${fmt(slow.oldestTxMs)} ms`, '-');
  console.log(`\nfeed server answered ${fmt(feeds.requests())} requests`);
} finally {
  await teardown.releaseAll();
}
