/**
 * Reproduces the consumption wedge after a Redis Cluster master restart (issue 9's fault 9,
 * tighter): a private 3-master cluster, one BullMQ Worker per round built exactly as the worker
 * process builds it (createRedis 'worker', our queue prefix), a job scheduler every second, and
 * ROUNDS restarts of the master serving the queue's slot (stop OUTAGE_MS, start). After each
 * restart the worker must complete a job within RESUME_MS; a round where it does not is a wedge,
 * and the script prints what the worker and its blocking client were doing.
 *
 *   node bench/wedge-repro.ts                          # 10 restarts, worker clients as shipped
 *   READY_CHECK=1 node bench/wedge-repro.ts            # clients as before the fix (cluster ready check on)
 *   READY_CHECK=1 WATCHDOG=1 node bench/wedge-repro.ts # ... with the consumption watchdog curing the wedge
 *
 * Prints one line per restart and a summary: restarts, wedged (no job within RESUME_MS), and
 * with the watchdog how many rounds it had to recover.
 */
import { Queue, Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { createRedis, type RedisClient } from '../src/queues/connection.ts';
import { queuePrefix } from '../src/queues/keys.ts';
import { watchConsumption, type ConsumptionWatch } from '../src/queues/consumption.ts';
import { startRedisCluster } from '../test/support/redis-cluster.ts';
import { sleep, Teardown } from '../test/faults/support/teardown.ts';
import { createLogger } from '../src/logger.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 10);
const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 5_000);
const RESUME_MS = Number(process.env.RESUME_MS ?? 40_000);
const WATCHDOG = process.env.WATCHDOG === '1';
const READY_CHECK = process.env.READY_CHECK === '1';

const teardown = new Teardown();
const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
process.on('SIGINT', () => void teardown.releaseAll().finally(() => process.exit(130)));

const cluster = await startRedisCluster(teardown);
const prefix = queuePrefix('{wedge}', 'ingest');
const producerConn = createRedis(cluster.url, 'worker');
producerConn.on('error', () => undefined);
const queue = new Queue('ingest', { connection: producerConn, prefix });
await queue.upsertJobScheduler('tick', { every: 1_000 }, { name: 'tick', data: {} });

let completed = 0;
let lastCompletedAt = Date.now();
let lastStartedAt = Date.now();
let running = 0;
let moveToActiveCalls = 0;
const connections: RedisClient[] = [];
const makeWorker = (): Worker => {
  const connection = createRedis(cluster.url, 'worker');
  // READY_CHECK=1: the worker clients as they were before the fix (cluster ready check on), to
  // reproduce the wedge and show the watchdog curing it. Read at connect time, so set before it.
  if (READY_CHECK && connection instanceof Cluster) connection.options.enableReadyCheck = true;
  connection.on('error', () => undefined);
  connections.push(connection);
  const w = new Worker(
    'ingest',
    async () => {
      running++;
      lastStartedAt = Date.now();
      try {
        await sleep(20);
      } finally {
        running--;
      }
    },
    { connection, prefix, concurrency: 4 },
  );
  // Counts fetch attempts: is the main loop still asking Redis for jobs at all?
  const hook = w as unknown as { moveToActive: (...args: unknown[]) => Promise<unknown> };
  const original = hook.moveToActive.bind(w);
  hook.moveToActive = (...args) => {
    moveToActiveCalls++;
    return original(...args);
  };
  void trace(w);
  w.on('completed', () => {
    completed++;
    lastCompletedAt = Date.now();
  });
  w.on('error', (err) => log.debug({ err: err.message }, 'worker error'));
  return w;
};

/** The last steps of the blocking wait (backend.waitForJob, the blocking connection, its client), for a wedged round. */
const steps: string[] = [];
const events: string[] = [];
const step = (what: string, ring = steps) => {
  ring.push(`${new Date().toISOString().slice(14, 23)} ${what}`);
  if (ring.length > 40) ring.shift();
};
type Fn = (...args: unknown[]) => Promise<unknown>;
function wrap(target: Record<string, unknown>, name: string, label: string, status?: () => string): void {
  const original = (target[name] as Fn).bind(target);
  target[name] = (...args: unknown[]) => {
    const id = Math.random().toString(36).slice(2, 6);
    step(`${label}#${id} enter ${JSON.stringify(args).slice(0, 60)} ${status?.() ?? ''}`);
    const p = original(...args);
    p.then(
      (v) => step(`${label}#${id} resolved ${JSON.stringify(v ?? null).slice(0, 60)} ${status?.() ?? ''}`),
      (e: unknown) => step(`${label}#${id} rejected ${String(e).slice(0, 80)} ${status?.() ?? ''}`),
    );
    return p;
  };
}
async function trace(w: Worker): Promise<void> {
  const backend = (w as unknown as { backend: Record<string, unknown> & { blockingConnection: Record<string, unknown> & { client: Promise<Record<string, unknown> & { status: string; on: (e: string, f: (...a: unknown[]) => void) => void }> } } }).backend;
  const conn = backend.blockingConnection;
  const bclient = await conn.client;
  const st = () => `[${bclient.status}]`;
  wrap(backend, 'waitForJob', 'backend.waitForJob', st);
  wrap(conn, 'disconnect', 'blocking.disconnect', st);
  wrap(conn, 'reconnect', 'blocking.reconnect', st);
  wrap(bclient, 'bzpopmin', 'bzpopmin', st);
  wrap(bclient, 'connect', 'cluster.connect', st);
  for (const e of ['ready', 'connect', 'close', 'end', 'reconnecting', '+node', '-node', 'refresh', 'node error']) bclient.on(e, () => step(`event ${e} ${st()}`, events));
}

let worker = makeWorker();
let watch: ConsumptionWatch | undefined;
let recoveries = 0;
if (WATCHDOG) {
  watch = watchConsumption({
    queueName: 'ingest',
    worker: () => worker,
    queue,
    concurrency: 4,
    running: () => running,
    lastStartedAt: () => lastStartedAt,
    stallMs: 10_000,
    intervalMs: 2_000,
    log,
    recreate: async () => {
      recoveries++;
      lastStartedAt = Date.now();
      const old = worker;
      worker = makeWorker();
      await old.close(true).catch(() => undefined);
    },
  });
}

/** What the worker and its blocking client look like from outside, for a wedged round. */
async function describe(): Promise<Record<string, unknown>> {
  const w = worker as unknown as {
    running: boolean;
    closing?: Promise<void>;
    paused: boolean;
    drained: boolean;
    blockUntil: number;
    limitUntil: number;
    waiting: Promise<number> | null;
    mainLoopRunning: Promise<void> | null;
    backend: { blockingConnection?: { status: string; client: Promise<{ status: string; nodes?: (r?: string) => unknown[] }> } };
  };
  const bclient = await Promise.race([w.backend.blockingConnection?.client, sleep(500).then(() => null)]);
  const client = await queue.getBackend().client;
  const markerKey = `${prefix}:ingest:marker`;
  const [marker, delayed, wait, active] = await Promise.all([
    client.zrange(markerKey, 0, -1, { WITHSCORES: true }),
    client.zrange(`${prefix}:ingest:delayed`, 0, 2, { WITHSCORES: true }),
    client.llen(`${prefix}:ingest:wait`),
    client.llen(`${prefix}:ingest:active`),
  ]);
  return {
    running: w.running,
    closing: Boolean(w.closing),
    paused: w.paused,
    drained: w.drained,
    blockUntil: w.blockUntil ? w.blockUntil - Date.now() : 0,
    limitUntil: w.limitUntil,
    waiting: Boolean(w.waiting),
    blockingConnStatus: w.backend.blockingConnection?.status,
    blockingClientStatus: bclient ? bclient.status : 'client promise pending',
    blockingClientNodes: bclient?.nodes ? bclient.nodes('all').length : undefined,
    moveToActiveCalls,
    marker,
    delayedDueInMs: delayed.filter((_, i) => i % 2 === 1).map((s) => Math.floor(Number(s) / 4096) - Date.now()),
    wait,
    active,
  };
}

await sleep(3_000);
let wedged = 0;
for (let round = 1; round <= ROUNDS; round++) {
  const node = await cluster.nodeFor(`${prefix}:x`);
  await node.stop('SIGTERM');
  await sleep(OUTAGE_MS);
  await node.start();
  await cluster.waitOk(60_000);
  const up = Date.now();
  const before = completed;
  const callsBefore = moveToActiveCalls;
  while (completed === before && Date.now() - up < RESUME_MS) await sleep(200);
  const resumedMs = completed > before ? lastCompletedAt - up : null;
  if (resumedMs === null) {
    wedged++;
    console.log(JSON.stringify({ round, wedged: true, moveToActiveSinceRestart: moveToActiveCalls - callsBefore, state: await describe() }));
    console.log(`calls:\n${steps.join('\n')}\nevents:\n${events.join('\n')}`);
  } else {
    console.log(JSON.stringify({ round, resumed_ms: resumedMs, moveToActiveSinceRestart: moveToActiveCalls - callsBefore, recoveries }));
  }
  // A wedged round without the watchdog: start over with a fresh worker so later rounds count.
  if (resumedMs === null && !WATCHDOG) {
    const old = worker;
    worker = makeWorker();
    await Promise.race([old.close(true), sleep(3_000)]).catch(() => undefined);
  }
  await sleep(3_000);
}
console.log(JSON.stringify({ summary: true, restarts: ROUNDS, wedged, readyCheck: READY_CHECK, watchdog: WATCHDOG, recoveries, completed }));
watch?.stop();
await Promise.race([worker.close(true), sleep(3_000)]).catch(() => undefined);
await queue.close().catch(() => undefined);
for (const c of [producerConn, ...connections]) c.disconnect();
await teardown.releaseAll();
process.exit(0);
