/**
 * Builds the long-running processes from plain functions. Every resource is registered
 * with Shutdown as soon as it is acquired, so a failure half-way through start still
 * releases what was opened.
 */
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { withDeadline, type Shutdown } from './shutdown.ts';
import { ensureDatabase, migrate } from './db/migrate.ts';
import { openOrm, type Orm } from './db/orm.ts';
import { closeRedis, createRedis } from './queues/connection.ts';
import { closeQueues, createQueues, type Queues } from './queues/queues.ts';
import { applyConfig, reloadConfig, watchConfigVersion } from './reload.ts';
import { startWorkers } from './queues/workers.ts';
import { handlers } from './jobs.ts';
import { startHealthServer } from './health.ts';
import { consumingCheck, postgresCheck, redisCheck, watchForStall } from './readiness.ts';
import { Metrics } from './metrics.ts';
import { createHttpClient } from './sources/http.ts';
import { createNewsScorer } from './ingest/sentiment.ts';
import { loadEntityMatcher } from './ingest/entities.ts';
import { startBoard } from './board/server.ts';
import { startApi, type RunningApi } from './api/server.ts';
import type { Services } from './services.ts';
import { createFetchCoordination } from './ingest/coordination.ts';

/** How long shutdown waits for the Postgres pool to close. */
const POSTGRES_CLOSE_MS = 5_000;

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
    http: createHttpClient({ userAgent: USER_AGENT, maxBodyBytes: config.http.maxBodyBytes, totalTimeoutMs: config.http.timeoutMs, allowPrivate: config.http.allowPrivate }),
    scorer: createNewsScorer(),
    entities: await loadEntityMatcher(orm.em.fork()),
    metrics: new Metrics({ queues, orm, sourceGauges: config.metricsSourceGauges }),
    coordination: createFetchCoordination(queues.ingest, {
      politeness: { concurrency: config.politeness.hostConcurrency, minIntervalMs: config.politeness.hostMinIntervalMs },
      httpTimeoutMs: config.http.timeoutMs,
      // One maximal body parses alone; smaller ones share the budget (see ingest/byte-budget.ts).
      parseBudgetBytes: config.http.maxBodyBytes,
    }),
  };
}

export async function startWorkerProcess(config: Config, log: Logger, shutdown: Shutdown, options: { migrate: boolean; board: boolean; api?: boolean }): Promise<{ api?: RunningApi }> {
  // Probes answer from the first moment ("starting"), not only after migrations and scheduler sync.
  const health = await startHealthServer({ port: config.healthPort, host: config.healthHost, log });
  shutdown.add('health', () => health.close());
  const orm = await openCheckedOrm(config, log, { migrate: options.migrate });
  // A connection killed by a Postgres restart in the middle of a commit can stay checked out of
  // the pool, and pool.end() then waits for it forever: bound the close (the sockets are dead).
  shutdown.add('postgres', () =>
    withDeadline(orm.close(true), POSTGRES_CLOSE_MS, () => log.warn({ after_ms: POSTGRES_CLOSE_MS }, 'postgres pool did not close in time: a connection lost in a restart is still checked out; leaving it')),
  );

  const redis = createRedis(config.redisUrl, 'worker');
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  shutdown.add('redis', () => closeRedis(redis));
  const queues = createQueues(redis, config.queuePrefix, log);
  shutdown.add('queues', () => closeQueues(queues));
  // Schedulers are synced by one process per configuration; the other starts skip them.
  const reloadDeps = { orm, redis, queues, prefix: config.queuePrefix, log };
  await applyConfig(config, reloadDeps);

  const services = await buildServices(config, orm, queues, log);
  shutdown.add('http', () => services.http.close());
  // A reload anywhere (SIGHUP here or elsewhere, `enqueue reload`) gives every worker the new entities.
  const reloadEntities = async () => {
    services.entities = await loadEntityMatcher(orm.em.fork());
    log.info({ entities: services.entities.size }, 'entity matcher reloaded');
  };
  const watcher = watchConfigVersion(redis, config.queuePrefix, reloadEntities, log);
  shutdown.add('config-watch', () => watcher.stop());
  const onHangup = () => {
    if (shutdown.stopping) return;
    log.info({ file: config.sourcesFile }, 'SIGHUP: reloading config');
    void reloadConfig(process.env, reloadDeps)
      .then((outcome) => (outcome.ok ? reloadEntities() : undefined))
      .catch((err: unknown) => log.error({ err }, 'config reload failed, running config kept'));
  };
  process.on('SIGHUP', onHangup);
  shutdown.add('sighup', () => process.off('SIGHUP', onHangup));

  const workerSet = startWorkers({
    orm,
    log,
    handlers,
    services,
    prefix: config.queuePrefix,
    // A thread that counts event-loop freezes against the jobs causing them (see queues/stalls.ts).
    freezeWatch: { redisUrl: config.redisUrl },
    connection: () => {
      const connection = createRedis(config.redisUrl, 'worker');
      connection.on('error', (err) => log.warn({ err: err.message }, 'worker redis connection error'));
      return connection;
    },
    // rollup 2: a refresh runs beside a long rebuild instead of queueing behind it (day locks keep them exact).
    concurrency: { ingest: config.ingestConcurrency, rollup: 2, maintenance: 1 },
    // Replaces a queue's Worker that stopped fetching (after a cluster master restart: queues/consumption.ts).
    consumptionWatch: { queues },
  });
  shutdown.add('workers', () => workerSet.close(config.shutdownGraceMs));

  const consuming = consumingCheck(workerSet, queues, config.readinessStallMs);
  const stallWatch = watchForStall(consuming, {
    intervalMs: Math.min(15_000, Math.max(1_000, Math.round(config.readinessStallMs / 4))),
    log,
    // EXIT_ON_STALL: for supervisors that restart on exit but not on a failed probe (compose `restart:`).
    onStall: config.exitOnStall
      ? (reason) => {
          log.fatal({ reason }, 'workers stalled and EXIT_ON_STALL=true: exiting so the supervisor restarts the process');
          void shutdown.run('workers stalled').finally(() => process.exit(1));
        }
      : undefined,
  });
  shutdown.add('stall watch', async () => stallWatch.stop());
  health.started({ checks: [postgresCheck(orm), redisCheck(redis), consuming], liveness: stallWatch, metrics: () => services.metrics.render() });

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
  shutdown.add('redis', () => closeRedis(redis));
  const queues = createQueues(redis, config.queuePrefix, log);
  shutdown.add('queues', () => closeQueues(queues));
  const board = await startBoard(config, queues, log);
  shutdown.add('board', () => board.close());
}
