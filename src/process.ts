/**
 * Builds the long-running processes from plain functions. Every resource is registered
 * with Shutdown as soon as it is acquired, so a failure half-way through start still
 * releases what was opened.
 */
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Shutdown } from './shutdown.ts';
import { ensureDatabase, migrate } from './db/migrate.ts';
import { openOrm, type Orm } from './db/orm.ts';
import { syncConfig } from './db/sync.ts';
import { createRedis } from './queues/connection.ts';
import { closeQueues, createQueues, type Queues } from './queues/queues.ts';
import { desiredSchedules, syncSchedules } from './queues/schedules.ts';
import { startWorkers } from './queues/workers.ts';
import { handlers } from './jobs.ts';
import { startHealthServer } from './health.ts';
import { consumingCheck, postgresCheck, redisCheck } from './readiness.ts';
import { Metrics } from './metrics.ts';
import { createHttpClient } from './sources/http.ts';
import { createNewsScorer } from './ingest/sentiment.ts';
import { loadEntityMatcher } from './ingest/entities.ts';
import { startBoard } from './board/server.ts';
import { startApi, type RunningApi } from './api/server.ts';
import type { Services } from './services.ts';

export const USER_AGENT = 'newspulse/0.1 (+https://github.com/newspulse/newspulse; news sentiment worker)';

export async function runMigrations(config: Config, log: Logger): Promise<void> {
  const created = await ensureDatabase(config.databaseUrl);
  if (created) log.info('database created');
  const orm = await openOrm(config.databaseUrl);
  try {
    await migrate(orm, log);
  } finally {
    await orm.close(true);
  }
}

async function openCheckedOrm(config: Config, log: Logger, options: { migrate: boolean }): Promise<Orm> {
  if (options.migrate) await ensureDatabase(config.databaseUrl);
  const orm = await openOrm(config.databaseUrl);
  try {
    // Surfaces "cannot connect" as itself: the migrator reads an unreachable database as "everything pending".
    await orm.em.fork().execute('select 1');
    if (options.migrate) await migrate(orm, log);
    const pending = await orm.migrator.getPending();
    if (pending.length) {
      throw new Error(`database schema is behind: ${pending.length} pending migration(s) (${pending.map((m) => m.name).join(', ')}); run "npm run migrate"`);
    }
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  return orm;
}

/** The long-lived things every job shares; the tests build theirs with this too. */
export async function buildServices(config: Config, orm: Orm, queues: Queues, log: Logger): Promise<Services> {
  return {
    config,
    log,
    orm,
    queues,
    http: createHttpClient({ userAgent: USER_AGENT, maxBodyBytes: config.http.maxBodyBytes, totalTimeoutMs: config.http.timeoutMs }),
    scorer: createNewsScorer(),
    entities: await loadEntityMatcher(orm.em.fork()),
    metrics: new Metrics({ queues, orm }),
  };
}

export async function startWorkerProcess(config: Config, log: Logger, shutdown: Shutdown, options: { migrate: boolean; board: boolean; api?: boolean }): Promise<{ api?: RunningApi }> {
  const orm = await openCheckedOrm(config, log, { migrate: options.migrate });
  shutdown.add('postgres', () => orm.close(true));

  const synced = await syncConfig(orm.em.fork(), config);
  log.info(synced, 'config synced');

  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  const queues = createQueues(redis, config.queuePrefix, log);
  shutdown.add('queues', () => closeQueues(queues));
  await syncSchedules(queues, desiredSchedules(config.sources), log);

  const services = await buildServices(config, orm, queues, log);
  shutdown.add('http', () => services.http.close());

  const workerSet = startWorkers({
    orm,
    log,
    handlers,
    services,
    prefix: config.queuePrefix,
    connection: () => {
      const connection = createRedis(config.redisUrl, 'worker');
      connection.on('error', (err) => log.warn({ err: err.message }, 'worker redis connection error'));
      return connection;
    },
    concurrency: { ingest: config.ingestConcurrency, rollup: 1, maintenance: 1 },
  });
  shutdown.add('workers', () => workerSet.close(config.shutdownGraceMs));

  const checks = [postgresCheck(orm), redisCheck(redis), consumingCheck(workerSet.workers, queues, config.readinessStallMs)];
  const health = await startHealthServer({ port: config.healthPort, host: config.healthHost, checks, log, metrics: () => services.metrics.render() });
  shutdown.add('health', () => health.close());

  if (options.board) {
    const board = await startBoard(config, queues, log);
    shutdown.add('board', () => board.close());
  }
  const api = options.api ? await startApi(config, log) : undefined;
  if (api) shutdown.add('api', () => api.close());
  log.info({ sources: config.sources.filter((s) => s.enabled).length, entities: services.entities.size }, 'worker ready');
  return { api };
}

/** The read API + dashboard alone: no Redis, its own read-only Postgres pool. */
export async function startApiProcess(config: Config, log: Logger, shutdown: Shutdown): Promise<RunningApi> {
  const api = await startApi(config, log);
  shutdown.add('api', () => api.close());
  return api;
}

export async function startBoardProcess(config: Config, log: Logger, shutdown: Shutdown): Promise<void> {
  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  const queues = createQueues(redis, config.queuePrefix, log);
  shutdown.add('queues', () => closeQueues(queues));
  const board = await startBoard(config, queues, log);
  shutdown.add('board', () => board.close());
}
