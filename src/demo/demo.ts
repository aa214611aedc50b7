/**
 * `npm run demo`: the whole system against bundled sample sources, no internet needed.
 *
 * Serves the samples on 127.0.0.1 (src/demo/server.ts), writes a sources file pointing at
 * them, then runs migrate + workers + schedulers + health + bull-board in this process through
 * the same startWorkerProcess() `npm start` uses, in its own database and queue prefix. It
 * enqueues one fetch per source at once, waits (bounded) for rollups, prints where to look,
 * and keeps running until Ctrl-C.
 *
 * Output: the human summary goes to stdout; pino's JSON logs go to stderr at level "warn"
 * (LOG_LEVEL overrides), so `npm run demo` stays readable and `npm run demo 2>demo.log` keeps
 * everything.
 *
 * Environment (all optional):
 *   DATABASE_URL        only its server is used; the database is DEMO_DATABASE (default newspulse_demo)
 *   DEMO_DATABASE       database name for the demo
 *   DEMO_QUEUE_PREFIX   BullMQ prefix (default newspulse_demo; QUEUE_PREFIX is deliberately not
 *                       used, so a shell set up for a real deployment cannot mix demo jobs into it)
 *   BOARD_PASSWORD      board password (default: a random one, printed); BOARD_USER (default admin)
 *   BOARD_PORT, HEALTH_PORT, API_PORT   default 3000 / 8080 / 3001 when free, otherwise any free port
 *   REDIS_URL, LOG_LEVEL and the other variables of src/config.ts apply as usual.
 *
 * `npm run demo -- --fresh` first drops the demo database and deletes the demo's Redis keys, so
 * the run starts over with timestamps relative to now (articles already stored keep the times
 * they were first seen with, as in production). `npm run demo -- --clean` removes both when the
 * demo stops (Ctrl-C), so it leaves nothing behind.
 *
 * The read API and dashboard (src/api) run in the same process on API_PORT (3001 when free),
 * behind the same user and password as the board.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { openOrm, type Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { redactUrl } from '../logger.ts';
import { startWorkerProcess } from '../process.ts';
import { JOBS, type JobPayload } from '../queues/catalogue.ts';
import { createRedis } from '../queues/connection.ts';
import { closeQueues, createQueues } from '../queues/queues.ts';
import { Shutdown } from '../shutdown.ts';
import { BOARD_PATH } from '../board/server.ts';
import { DEMO_SOURCES, startDemoServer, type DemoServer } from './server.ts';
import { writeDemoSourcesFile } from './sources.ts';
import { demoProgress, entityTable, formatEntityTable, isSettled, lastRunId, type DemoProgress } from './summary.ts';

export const DEFAULT_DEMO_DATABASE = 'newspulse_demo';
export const DEFAULT_DEMO_PREFIX = 'newspulse_demo';
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/newspulse';
/** How long the demo waits for its first fetches and rollups before printing what it has. */
const SETTLE_TIMEOUT_MS = 60_000;
const POLL_MS = 500;

export class DemoError extends Error {
  override name = 'DemoError';
}

export interface DemoSettings {
  databaseName: string;
  databaseUrl: string;
  queuePrefix: string;
  boardUser: string;
  boardPassword: string;
  /** True when the password was generated here (and must be shown). */
  passwordGenerated: boolean;
  logLevel: string;
}

/** The demo's own database URL: the configured server, the demo database name. */
export function demoDatabaseUrl(databaseUrl: string | undefined, name: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl || DEFAULT_DATABASE_URL);
  } catch {
    throw new DemoError('DATABASE_URL: must be a postgres:// URL');
  }
  url.pathname = `/${name}`;
  return url.toString();
}

export function demoSettings(env: NodeJS.ProcessEnv): DemoSettings {
  const databaseName = env.DEMO_DATABASE || DEFAULT_DEMO_DATABASE;
  if (!/^[A-Za-z0-9_]{1,63}$/.test(databaseName)) throw new DemoError(`DEMO_DATABASE: "${databaseName}" must be 1-63 letters, digits or _`);
  const queuePrefix = env.DEMO_QUEUE_PREFIX || DEFAULT_DEMO_PREFIX;
  const boardPassword = env.BOARD_PASSWORD || randomBytes(18).toString('base64url');
  return {
    databaseName,
    databaseUrl: demoDatabaseUrl(env.DATABASE_URL, databaseName),
    queuePrefix,
    boardUser: env.BOARD_USER || 'admin',
    boardPassword,
    passwordGenerated: !env.BOARD_PASSWORD,
    logLevel: env.LOG_LEVEL || 'warn',
  };
}

/** `preferred` when nothing listens there, else any free port. */
async function portFor(value: string | undefined, preferred: number): Promise<string> {
  if (value) return value;
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(null));
      probe.listen(port, () => {
        const address = probe.address();
        const bound = typeof address === 'object' && address ? address.port : null;
        probe.close(() => resolve(bound));
      });
    });
  return String((await tryListen(preferred)) ?? (await tryListen(0)) ?? preferred);
}

/** Pino JSON on stderr: stdout carries the summary. */
function demoLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, demo: true },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'databaseUrl', 'redisUrl', '*.databaseUrl', '*.redisUrl', 'headers.authorization', '*.headers.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export interface DemoHandle {
  config: Config;
  settings: DemoSettings;
  server: DemoServer;
  boardUrl: string;
  healthUrl: string;
  dashboardUrl: string;
  /** The last progress read; `settled` says whether everything arrived before the deadline. */
  progress: DemoProgress;
  settled: boolean;
  /** The text printed to `out` ('' when stopped before it was ready). */
  summary: string;
  /** Graceful stop: workers finish active jobs, then everything closes in reverse order. */
  close(): Promise<void>;
}

export interface DemoOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the human summary goes (default stdout). */
  out?: NodeJS.WritableStream;
  log?: Logger;
  /** Install SIGINT/SIGTERM handlers that stop the demo and exit (the command does). */
  installSignalHandlers?: boolean;
  settleTimeoutMs?: number;
  /** Drop the demo database and its Redis keys first. */
  fresh?: boolean;
  /** Drop the demo database and its Redis keys when the demo stops. */
  clean?: boolean;
  /** Called with the handle once the summary is printed. */
  onReady?: (handle: DemoHandle) => void;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoHandle> {
  const env = options.env ?? process.env;
  const out = options.out ?? process.stdout;
  const settings = demoSettings(env);
  const log = options.log ?? demoLogger(settings.logLevel);

  const [boardPort, healthPort, apiPort] = [await portFor(env.BOARD_PORT, 3000), await portFor(env.HEALTH_PORT, 8080), await portFor(env.API_PORT, 3001)];
  const server = await startDemoServer();
  const sourcesFile = writeDemoSourcesFile(server);
  let config: Config;
  try {
    config = loadConfig({
      ...env,
      DATABASE_URL: settings.databaseUrl,
      QUEUE_PREFIX: settings.queuePrefix,
      SOURCES_FILE: sourcesFile.file,
      BOARD_HOST: '127.0.0.1',
      HEALTH_HOST: '127.0.0.1',
      BOARD_PORT: boardPort,
      BOARD_USER: settings.boardUser,
      BOARD_PASSWORD: settings.boardPassword,
      HEALTH_PORT: healthPort,
      API_HOST: '127.0.0.1',
      API_PORT: apiPort,
      LOG_LEVEL: settings.logLevel,
      // The sample feeds come from the demo's own server on 127.0.0.1: allow exactly that.
      FETCH_ALLOW_PRIVATE: '127.0.0.1/32',
    });
    out.write(`newspulse demo: database ${settings.databaseName}, queue prefix ${settings.queuePrefix}, sample sources on ${server.origin}\n`);
    out.write(`newspulse demo: logs go to stderr at level ${settings.logLevel}; starting (the first fetches and rollups take a few seconds, at most ${Math.round((options.settleTimeoutMs ?? SETTLE_TIMEOUT_MS) / 1000)}s)\n`);
    if (options.fresh) {
      const reset = await resetDemo(settings, config.redisUrl);
      out.write(`newspulse demo: --fresh: ${reset.droppedDatabase ? `dropped database ${settings.databaseName}` : `no database ${settings.databaseName} yet`}, deleted ${reset.deletedKeys} Redis key(s) under ${settings.queuePrefix}:\n`);
    }
  } catch (err) {
    sourcesFile.remove();
    await server.close();
    throw err;
  }

  const shutdown = new Shutdown(log, config.shutdownGraceMs + 10_000);
  // Added first, so released last: the samples stay served until the workers have stopped.
  let started = false;
  if (options.clean) {
    // Added before everything else, so it runs after every pool and connection is closed.
    shutdown.add('demo teardown', async () => {
      const removed = await resetDemo(settings, config.redisUrl);
      out.write(`newspulse demo: --clean: ${removed.droppedDatabase ? `dropped database ${settings.databaseName}` : `no database ${settings.databaseName}`}, deleted ${removed.deletedKeys} Redis key(s) under ${settings.queuePrefix}:\n`);
    });
  }
  shutdown.add('demo stopped', () => void (started && out.write('newspulse demo: stopped\n')));
  shutdown.add('demo server', () => server.close());
  shutdown.add('demo sources file', () => sourcesFile.remove());
  if (options.installSignalHandlers) shutdown.installSignalHandlers();


  let orm: Orm;
  let afterRunId = 0;
  let dashboardUrl = '';
  try {
    const { api } = await startWorkerProcess(config, log, shutdown, { migrate: true, board: true, api: true });
    dashboardUrl = api?.dashboardUrl ?? '';
    started = true;
    // The demo's own producer and reader, beside the worker's.
    orm = await openOrm(config.databaseUrl, { pool: { min: 0, max: 2 } });
    shutdown.add('demo postgres', () => orm.close(true));
    const redis = createRedis(config.redisUrl, 'worker');
    redis.on('error', (err) => log.warn({ err: err.message }, 'demo redis connection error'));
    shutdown.add('demo redis', () => redis.quit().catch(() => redis.disconnect()));
    const queues = createQueues(redis, config.queuePrefix, log);
    shutdown.add('demo queues', () => closeQueues(queues));
    // A re-run finds the last run's data: wait for this run's own fetches.
    afterRunId = await lastRunId(orm);

    // Fetch every source now rather than at its first scheduled run.
    for (const source of DEMO_SOURCES) {
      const data: JobPayload<'fetch'> = { sourceId: source.id };
      await queues[JOBS.fetch.queue].add('fetch', data);
    }
  } catch (err) {
    await shutdown.run('demo start failed');
    throw err;
  }

  const ids = DEMO_SOURCES.map((s) => s.id);
  const boardUrl = `http://127.0.0.1:${config.board.port}${BOARD_PATH}/`;
  const healthUrl = `http://127.0.0.1:${config.healthPort}/readyz`;
  let progress: DemoProgress;
  let summary = '';
  try {
    const deadline = Date.now() + (options.settleTimeoutMs ?? SETTLE_TIMEOUT_MS);
    progress = await demoProgress(orm, afterRunId);
    while (!isSettled(progress, ids) && Date.now() < deadline && !shutdown.stopping) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      progress = await demoProgress(orm, afterRunId);
    }
    if (!shutdown.stopping) {
      const table = formatEntityTable(await entityTable(orm));
      summary = renderSummary({ settings, config, env, boardUrl, healthUrl, dashboardUrl, progress, settled: isSettled(progress, ids), ids, table });
      out.write(summary);
    }
  } catch (err) {
    // A Ctrl-C while waiting closes the ORM under these queries: that is a stop, not an error.
    if (!shutdown.stopping) {
      await shutdown.run('demo failed');
      throw err;
    }
    progress = { fetched: [], articles: 0, hourRollups: 0, dayRollups: 0, dirtyMarks: 0 };
  }
  const settled = isSettled(progress, ids);

  const handle: DemoHandle = { config, settings, server, boardUrl, healthUrl, dashboardUrl, progress, settled, summary, close: () => shutdown.run('demo closed') };
  options.onReady?.(handle);
  return handle;
}

/**
 * Removes what earlier demo runs left: the demo database and every Redis key under the demo
 * prefix. Only ever the demo's own names (DEMO_DATABASE, DEMO_QUEUE_PREFIX), never the main ones.
 */
export async function resetDemo(settings: DemoSettings, redisUrl: string): Promise<{ droppedDatabase: boolean; deletedKeys: number }> {
  const admin = new URL(settings.databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  let droppedDatabase: boolean;
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [settings.databaseName]);
    droppedDatabase = (found.rowCount ?? 0) > 0;
    if (droppedDatabase) await client.query(`drop database if exists ${pg.escapeIdentifier(settings.databaseName)} with (force)`);
  } finally {
    await client.end();
  }
  const redis = createRedis(redisUrl, 'producer', { lazyConnect: true });
  redis.on('error', () => {});
  let deletedKeys = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${settings.queuePrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deletedKeys += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return { droppedDatabase, deletedKeys };
}

const USAGE = `usage: npm run demo [-- --fresh] [--clean]

Runs newspulse against bundled sample sources served on 127.0.0.1 (no internet needed), in its
own database (DEMO_DATABASE, default newspulse_demo) and queue prefix (DEMO_QUEUE_PREFIX,
default newspulse_demo), and prints where to look. Ctrl-C stops it.

  --fresh   drop the demo database and its Redis keys first, to start over
  --clean   drop the demo database and its Redis keys when the demo stops (leave nothing behind)
  --help    this text
`;

/** Single-quotes a value for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function renderSummary(input: {
  settings: DemoSettings;
  config: Config;
  env: NodeJS.ProcessEnv;
  boardUrl: string;
  healthUrl: string;
  dashboardUrl: string;
  progress: DemoProgress;
  settled: boolean;
  ids: string[];
  table: string;
}): string {
  const { settings, config, env, progress } = input;
  const hasDbPassword = new URL(config.databaseUrl).password !== '';
  const envPrefix = [
    `DATABASE_URL=${shellQuote(hasDbPassword ? redactUrl(config.databaseUrl) : config.databaseUrl)}`,
    ...(env.REDIS_URL ? [`REDIS_URL=${shellQuote(hasPassword(env.REDIS_URL) ? redactUrl(env.REDIS_URL) : env.REDIS_URL)}`] : []),
    `QUEUE_PREFIX=${shellQuote(settings.queuePrefix)}`,
  ].join(' ');
  const lines = [
    '',
    input.settled
      ? `newspulse demo is running: ${progress.articles} articles from ${input.ids.length} sources, ${progress.hourRollups} hourly and ${progress.dayRollups} daily rollups.`
      : `newspulse demo is running, but not everything arrived in time (fetched: ${progress.fetched.join(', ') || 'none'}; ${progress.hourRollups} hourly / ${progress.dayRollups} daily rollups; ${progress.dirtyMarks} dirty marks). Check the logs on stderr.`,
    '',
    `  bull-board   ${input.boardUrl}`,
    `               user ${settings.boardUser}, password ${settings.passwordGenerated ? settings.boardPassword : '(your BOARD_PASSWORD)'}`,
    `  dashboard    ${input.dashboardUrl}  (same user and password; API under /api/v1, docs at /api/openapi.json)`,
    `  health       ${input.healthUrl}  (also /healthz, /metrics)`,
    '',
    '  try, in another terminal:',
    `    ${envPrefix} npm run enqueue -- status`,
    `    ${envPrefix} npm run enqueue -- fetch demo-rss --wait`,
    `    ${envPrefix} npm run enqueue -- rollup --wait`,
    ...(hasDbPassword ? ['    (the database password is hidden above: use the one from your DATABASE_URL)'] : []),
    '',
    '  latest sentiment per entity (mean in [-1, 1], n = articles in the bucket):',
    ...input.table.split('\n').map((line) => `    ${line}`),
    '',
    'Sources refetch every 30s-1m (the sample server answers 304 Not Modified). Ctrl-C stops the demo; `npm run demo -- --fresh` starts over; `npm run demo -- --clean` removes its database and Redis keys on exit.',
    '',
  ];
  return lines.join('\n');
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  let fresh: boolean;
  let clean: boolean;
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), options: { fresh: { type: 'boolean' }, clean: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      process.stdout.write(USAGE);
      return;
    }
    fresh = Boolean(values.fresh);
    clean = Boolean(values.clean);
  } catch (err) {
    process.stderr.write(`newspulse demo: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  try {
    await runDemo({ installSignalHandlers: true, fresh, clean });
  } catch (err) {
    const badInput = err instanceof ConfigError || err instanceof DemoError;
    process.stderr.write(`newspulse demo: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!badInput) {
      const { databaseUrl } = demoSettings(process.env);
      process.stderr.write(`newspulse demo: it needs PostgreSQL at ${redactUrl(databaseUrl.replace(/\/[^/?]*(\?.*)?$/, '/'))} and Redis at ${redactUrl(process.env.REDIS_URL || 'redis://127.0.0.1:6379')}\n`);
    }
    process.exit(badInput ? 2 : 1);
  }
}

if (import.meta.main) await main();
