/**
 * Item-dense feeds against the worker's heap bound: a real worker process (`npm run worker`'s
 * flags: --max-old-space-size=384, default INGEST_CONCURRENCY 4) fetches four ~8 MB,
 * 100,000-item feeds enqueued at once, beside the same worker fetching one of them alone.
 * Prints whether the jobs completed, the worker's peak RSS (VmHWM) and the wall time. The
 * per-worker byte budget (HTTP_MAX_BODY_BYTES, see src/ingest/byte-budget.ts) is what keeps the
 * four from being parsed at once.
 * Run: node bench/dense-feeds.ts
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { pino } from 'pino';
import packageJson from '../package.json' with { type: 'json' };
import { createRedis } from '../src/queues/connection.ts';
import { closeQueues, createQueues } from '../src/queues/queues.ts';
import { benchNamespace, deletePrefix, dropDatabase, REDIS_URL, sized } from './support.ts';

const FEEDS = 4;
const ITEMS = sized(100_000, 500);
const ROOT = new URL('../', import.meta.url).pathname;
const NODE_ARGS = packageJson.scripts.worker.split(/\s+/).filter((a) => a.startsWith('--'));
const { dbName, dbUrl, prefix } = benchNamespace('dense');

function denseFeed(label: string): Buffer {
  const items: string[] = [];
  for (let i = 0; i < ITEMS; i++) items.push(`<item><title>Tesla shares move ${label} ${i}</title><link>https://e.org/${label}/${i}</link><guid>${label}-${i}</guid></item>`);
  return Buffer.from(`<?xml version="1.0"?><rss version="2.0"><channel><title>${label}</title>${items.join('')}</channel></rss>`);
}

function hwmMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

async function run(label: string, count: number, env: Record<string, string>): Promise<{ completed: number; failed: number; hwm: number; seconds: number; exit: string }> {
  const worker = spawn(process.execPath, [...NODE_ARGS, 'src/main.ts', 'worker'], { cwd: ROOT, env: { ...process.env, ...env, QUEUE_PREFIX: `${prefix}_${label}` }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  worker.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<string>((resolve) => worker.once('exit', (code, signal) => resolve(String(code ?? signal))));
  const redis = createRedis(REDIS_URL, 'worker');
  const queues = createQueues(redis, `${prefix}_${label}`, pino({ level: 'silent' }));
  // BullMQ does not close a connection it was handed: this one is disconnected below.
  const eventsRedis = createRedis(REDIS_URL, 'worker');
  const events = new QueueEvents('ingest', { connection: eventsRedis, prefix: `${prefix}_${label}` });
  try {
    await events.waitUntilReady();
    let hwm = 0;
    const sampler = setInterval(() => {
      try {
        hwm = Math.max(hwm, hwmMiB(worker.pid!));
      } catch {
        /* exited */
      }
    }, 100);
    const started = performance.now();
    const reasons = new Set<string>();
    const jobs = await Promise.all(Array.from({ length: count }, (_, i) => queues.ingest.add('fetch', { sourceId: `dense-${i}` }, { attempts: 1 })));
    const outcomes = await Promise.all(
      jobs.map((job) =>
        Promise.race([
          job.waitUntilFinished(events, 600_000).then(
            () => 'completed' as const,
            (err: unknown) => {
              reasons.add(err instanceof Error ? err.message : String(err));
              return 'failed' as const;
            },
          ),
          exited.then(() => 'failed' as const),
        ]),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const exit = worker.exitCode === null && worker.signalCode === null ? 'running' : await exited;
    if (exit !== 'running') console.log(`  worker died (${exit}): ${stderr.slice(-500)}`);
    for (const reason of reasons) console.log(`  a job failed: ${reason}`);
    return { completed: outcomes.filter((o) => o === 'completed').length, failed: outcomes.filter((o) => o === 'failed').length, hwm, seconds, exit };
  } finally {
    worker.kill('SIGTERM');
    await exited;
    await events.close();
    eventsRedis.disconnect();
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(`${prefix}_${label}`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'np-bench-dense-'));
const server = createServer();
try {
  const bodies = Array.from({ length: FEEDS }, (_, i) => denseFeed(`d${i}`));
  server.on('request', (req, res) => {
    const i = Number(/dense-(\d+)/.exec(req.url ?? '')?.[1] ?? -1);
    const body = bodies[i];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sourcesFile = join(dir, 'sources.json');
  writeFileSync(sourcesFile, JSON.stringify({ sources: bodies.map((_, i) => ({ id: `dense-${i}`, kind: 'feed', url: `${origin}/dense-${i}.xml`, cron: '0 0 1 1 *' })) }));
  const env = { DATABASE_URL: dbUrl, REDIS_URL, SOURCES_FILE: sourcesFile, LOG_LEVEL: 'warn', HEALTH_PORT: '0', HOST_CONCURRENCY: '8', HOST_MIN_INTERVAL: '0', ROLLUP_DEBOUNCE: '1h', HTTP_TIMEOUT: '120s', FETCH_ALLOW_PRIVATE: '127.0.0.1/32' };
  const migrate = spawn(process.execPath, ['src/main.ts', 'migrate'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'inherit' });
  await new Promise((resolve) => migrate.once('exit', resolve));

  console.log(`dense feeds: ${FEEDS} feeds of ${ITEMS.toLocaleString('en-US')} items (${(bodies[0]!.length / 2 ** 20).toFixed(1)} MiB each), worker ${NODE_ARGS.join(' ')}, INGEST_CONCURRENCY 4`);
  const alone = await run('alone', 1, env);
  console.log(`  baseline: one feed alone     ${alone.completed}/1 completed   peak RSS ${alone.hwm.toFixed(0)} MiB   ${alone.seconds.toFixed(1)} s`);
  // Fresh articles for the second run: new source ids would need a resync, so truncate instead.
  const truncate = spawn('psql', [dbUrl, '-qc', 'truncate article, article_entity, rollup_dirty, job_run restart identity; update source set etag = null, last_modified = null'], { stdio: 'inherit' });
  await new Promise((resolve) => truncate.once('exit', resolve));
  const four = await run('four', FEEDS, env);
  console.log(`  ${FEEDS} feeds enqueued at once     ${four.completed}/${FEEDS} completed   peak RSS ${four.hwm.toFixed(0)} MiB   ${four.seconds.toFixed(1)} s${four.exit === 'running' ? '' : `   worker exited ${four.exit}`}`);
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
  await dropDatabase(dbName);
}
