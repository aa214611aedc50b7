/**
 * One scenario's world: a private Redis and Postgres cluster, a migrated database, a random
 * queue prefix, a sources file, producer queues, and helpers to start workers and to judge
 * the outcome (drain, reap, rollups against the SQL oracle). `teardown.releaseAll()` in
 * afterAll removes all of it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import pg from 'pg';
import { createLogger } from '../../../src/logger.ts';
import { openOrm, type Orm } from '../../../src/db/orm.ts';
import { createRedis } from '../../../src/queues/connection.ts';
import { closeQueues, createQueues, type Queues } from '../../../src/queues/queues.ts';
import { JOBS, type JobName, type JobPayload, type QueueName, QUEUE_NAMES } from '../../../src/queues/catalogue.ts';
import { reapOrphanedRuns, type ReapStats } from '../../../src/rollup/reap.ts';
import { diffRollups, oracleRows, rollupRows } from '../../rollup/oracle.ts';
import { freePort } from '../../support/processes.ts';
import { startPostgres, type PrivateCluster } from './postgres.ts';
import { startRedis, type PrivateRedis, type RedisOptions } from './redis.ts';
import { startRedisCluster, type PrivateRedisCluster } from '../../support/redis-cluster.ts';
import { effectivePrefix, parseRedisTarget } from '../../../src/queues/redis-target.ts';
import { sleep, Teardown } from './teardown.ts';
import { startNode, type NodeProcess } from './worker.ts';
import packageJson from '../../../package.json' with { type: 'json' };

/** Node flags of `npm run worker` (the heap bound), so the suite runs workers exactly as users do. */
const WORKER_NODE_ARGS = packageJson.scripts.worker.split(/\s+/).filter((arg) => arg.startsWith('--'));

export interface Stack {
  teardown: Teardown;
  /** With `redisCluster`, the whole cluster: stop/start act on every node, `url` is the cluster URL. */
  redis: PrivateRedis;
  /** Set when the stack runs on a Redis Cluster (startStack's `redisCluster` option). */
  redisCluster?: PrivateRedisCluster;
  cluster: PrivateCluster;
  databaseUrl: string;
  /** The prefix the queues run under (on a cluster, with its {hash tag}). */
  prefix: string;
  /** A plain pg pool on the private database, for checks that must not go through the code under test. */
  pool: pg.Pool;
  queues: Queues;
  sourcesFile: string;
  writeSources(content: { entities?: unknown[]; sources: unknown[] }): void;
  /** Environment of a worker process; `extra` overrides. */
  env(extra?: Record<string, string>): Promise<Record<string, string>>;
  startWorker(name: string, extra?: Record<string, string>, options?: { ready?: boolean }): Promise<WorkerProcess>;
  /** Adds a job as the enqueue CLI does; returns `<queue>/<id>`. */
  enqueue<N extends JobName>(name: N, data: JobPayload<N>): Promise<string>;
  /** Waits until every job is completed or failed; returns each job's state. */
  waitForJobs(ids: readonly string[], timeoutMs: number): Promise<Map<string, string>>;
  /** No job active or waiting, and no delayed job except the schedulers' next runs. */
  waitDrained(timeoutMs: number, queues?: readonly QueueName[]): Promise<void>;
  /** Refreshes until no dirty mark is left (through a running worker). */
  settleRollups(timeoutMs: number): Promise<{ refreshes: number }>;
  /** The product's reaper, with no minimum age: call it once nothing is active. */
  reap(): Promise<ReapStats>;
  /** Differences between sentiment_rollup and the SQL oracle (empty when equal). */
  oracleProblems(): Promise<string[]>;
  count(sql: string, params?: unknown[]): Promise<number>;
}

const entities = [
  { slug: 'tesla', name: 'Tesla', aliases: ['TSLA'] },
  { slug: 'apple', name: 'Apple', aliases: ['AAPL'] },
  { slug: 'nvidia', name: 'Nvidia' },
  { slug: 'microsoft', name: 'Microsoft' },
  { slug: 'openai', name: 'OpenAI' },
];
/** Entities matching the generated headlines of test/support/feeds.ts. */
export const FAULT_ENTITIES = entities;

/** A worker process and where its /healthz, /readyz and /metrics answer. */
export interface WorkerProcess extends NodeProcess {
  healthPort: number;
  /** GET /readyz: 200 ready, 503 not ready, 0 when nothing answers. */
  readiness(): Promise<number>;
}

/** One Redis-shaped handle over a whole cluster, so scenarios written for one node keep working. */
function wholeCluster(c: PrivateRedisCluster): PrivateRedis {
  return {
    port: c.nodes[0]!.port,
    url: c.url,
    dir: c.nodes[0]!.dir,
    stop: async (signal) => void (await Promise.all(c.nodes.map((n) => n.stop(signal)))),
    start: async () => {
      await Promise.all(c.nodes.map((n) => n.start()));
      await c.waitOk();
    },
    running: () => c.nodes.every((n) => n.running()),
  };
}

export async function startStack(label: string, options: { redis?: RedisOptions; redisCluster?: boolean } = {}): Promise<Stack> {
  const teardown = new Teardown();
  const dir = mkdtempSync(join(tmpdir(), `np-faults-${label}-`));
  teardown.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const [redisCluster, cluster] = await Promise.all([options.redisCluster ? startRedisCluster(teardown) : undefined, startPostgres(teardown)]);
  const redis = redisCluster ? wholeCluster(redisCluster) : await startRedis(teardown, options.redis);
  const databaseUrl = cluster.url('newspulse');
  const rawPrefix = `npf_${label}_${randomBytes(4).toString('hex')}`;
  // Workers get the plain prefix and add the hash tag themselves (config); producers here use the result.
  const prefix = effectivePrefix(rawPrefix, parseRedisTarget(redis.url));
  const sourcesFile = join(dir, 'sources.json');
  const writeSources = (content: { entities?: unknown[]; sources: unknown[] }) =>
    writeFileSync(sourcesFile, JSON.stringify({ entities: content.entities ?? entities, sources: content.sources }, null, 2));
  writeSources({ sources: [] });

  const env = async (extra: Record<string, string> = {}) => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: rawPrefix,
    SOURCES_FILE: sourcesFile,
    HEALTH_PORT: String(await freePort()),
    ROLLUP_DEBOUNCE: '500ms',
    SHUTDOWN_GRACE: '10s',
    ...extra,
  });

  const migrator = startNode(teardown, 'migrate', ['src/main.ts', 'migrate'], await env());
  const code = await migrator.exited;
  if (code !== 0) throw new Error(`migrate exited ${code}:\n${migrator.output().slice(-3000)}`);

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, connectionTimeoutMillis: 5_000 });
  // Postgres restarts cut idle clients: expected, not a failure.
  pool.on('error', () => {});
  teardown.add('pg pool', () => pool.end());

  // Retries forever, like a worker, so the producer survives the Redis restarts the scenarios cause.
  const connection = createRedis(redis.url, 'worker');
  connection.on('error', () => {});
  teardown.add('producer redis', () => connection.disconnect());
  const queues = createQueues(connection, prefix, createLogger('silent'));
  teardown.add('producer queues', () => closeQueues(queues));

  let orm: Orm | undefined;
  teardown.add('orm', () => orm?.close(true));

  const count = async (sql: string, params: unknown[] = []) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);

  const stack: Stack = {
    teardown,
    redis,
    ...(redisCluster ? { redisCluster } : {}),
    cluster,
    databaseUrl,
    prefix,
    pool,
    queues,
    sourcesFile,
    writeSources,
    env,
    async startWorker(name, extra = {}, { ready = true } = {}) {
      const workerEnv = await env(extra);
      const healthPort = Number(workerEnv.HEALTH_PORT);
      const worker = Object.assign(startNode(teardown, name, [...WORKER_NODE_ARGS, 'src/main.ts', 'worker'], workerEnv), {
        healthPort,
        async readiness() {
          try {
            const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(5_000) });
            await res.arrayBuffer();
            return res.status;
          } catch {
            return 0;
          }
        },
      });
      // /readyz answers 200 only once start finished (it is 503 "starting" before),
      // whatever LOG_LEVEL hides.
      if (ready) {
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (!worker.alive()) throw new Error(`${name} exited (${await worker.exited}) before it was ready:\n${worker.output().slice(-3000)}`);
          const ok = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
          if (ok) break;
          if (Date.now() > deadline) throw new Error(`${name} not ready within 60 s:\n${worker.output().slice(-3000)}`);
          await sleep(100);
        }
      }
      return worker;
    },
    async enqueue(name, data) {
      const queue = JOBS[name].queue;
      const job = await queues[queue].add(name, data);
      return `${queue}/${job.id!}`;
    },
    async waitForJobs(ids, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const states = new Map<string, string>();
      for (;;) {
        for (const id of ids) {
          if (states.get(id) === 'completed' || states.get(id) === 'failed') continue;
          const job = await findJob(queues, id);
          states.set(id, job ? await job.getState() : 'missing');
        }
        const open = ids.filter((id) => !['completed', 'failed'].includes(states.get(id)!));
        if (open.length === 0) return states;
        if (Date.now() > deadline) throw new Error(`jobs not finished within ${timeoutMs} ms: ${open.map((id) => `${id}=${states.get(id)}`).join(', ')}`);
        await sleep(250);
      }
    },
    async waitDrained(timeoutMs, names = QUEUE_NAMES) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        const busy: string[] = [];
        for (const name of names) {
          const counts = await queues[name].getJobCounts('active', 'wait', 'prioritized', 'waiting-children');
          const open = Object.entries(counts).filter(([, n]) => n > 0);
          const delayed = (await queues[name].getJobs(['delayed'])).filter((j) => j.repeatJobKey === undefined);
          if (open.length || delayed.length) busy.push(`${name}: ${open.map(([k, n]) => `${k}=${n}`).join(' ')}${delayed.length ? ` delayed=${delayed.length}` : ''}`);
        }
        if (busy.length === 0) return;
        last = busy.join('; ');
        if (Date.now() > deadline) throw new Error(`queues not drained within ${timeoutMs} ms: ${last}`);
        await sleep(250);
      }
    },
    async settleRollups(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let refreshes = 0;
      for (;;) {
        await stack.waitDrained(Math.max(1_000, deadline - Date.now()), ['rollup']);
        if ((await count('select count(*) as n from rollup_dirty')) === 0) return { refreshes };
        if (Date.now() > deadline) throw new Error(`dirty marks left after ${refreshes} refreshes`);
        await stack.waitForJobs([await stack.enqueue('refresh', {})], Math.max(1_000, deadline - Date.now()));
        refreshes += 1;
      }
    },
    async reap() {
      orm ??= await openOrm(databaseUrl, { pool: { min: 0, max: 2 } });
      return reapOrphanedRuns(
        orm.em.fork(),
        async (queue, jobId) => {
          if (!(QUEUE_NAMES as string[]).includes(queue)) return false;
          const job = await queues[queue as QueueName].getJob(jobId);
          return (await job?.getState()) === 'active';
        },
        { olderThanMs: 0 },
      );
    },
    async oracleProblems() {
      const [actual, expected] = await Promise.all([rollupRows(pool), oracleRows(pool)]);
      return diffRollups(actual, expected);
    },
    count,
  };
  return stack;
}

/** Job ids are per queue: the suite names a job `<queue>/<id>`. */
export async function findJob(queues: Queues, ref: string): Promise<Job | undefined> {
  const [queue, id] = ref.split('/') as [QueueName, string];
  return queues[queue].getJob(id);
}
