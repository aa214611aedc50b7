/**
 * Config reload without a restart: SIGHUP to a worker, or `npm run enqueue -- reload`.
 * Re-reads the sources file, and only when it is valid syncs the source/entity tables and
 * the job schedulers; an invalid file is refused with one log line and the running config
 * stays. Every worker then reloads its entity matcher: the sync bumps a version key that
 * workers poll, so one SIGHUP (or one CLI call) reaches all of them.
 */
import { ConfigError, loadConfig, type Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Orm } from './db/orm.ts';
import { syncConfig, type SyncResult } from './db/sync.ts';
import type { RedisClient } from './queues/connection.ts';
import { redisKey } from './queues/keys.ts';
import type { Queues } from './queues/queues.ts';
import { desiredSchedules, syncSchedulesOnce, type ElectedSyncResult } from './queues/schedules.ts';

export interface ReloadDeps {
  orm: Orm;
  redis: RedisClient;
  queues: Queues;
  /** The prefix the queues run under (a reload never moves queues). */
  prefix: string;
  log: Logger;
}

export type ReloadOutcome =
  | { ok: true; file: string; sources: SyncResult; schedules: ElectedSyncResult; version: number }
  | { ok: false; file: string; problems: readonly string[] };

export function configVersionKey(prefix: string): string {
  return redisKey(prefix, 'config', 'version');
}

/** Syncs a validated config into Postgres and Redis, then bumps the version workers watch. */
export async function applyConfig(config: Pick<Config, 'sources' | 'entities' | 'sourcesFile'>, deps: ReloadDeps, options: { force?: boolean } = {}) {
  const sources = await syncConfig(deps.orm.em.fork(), config);
  deps.log.info({ ...sources, disabledSources: sources.disabledSources.slice(0, 20), disabledEntities: sources.disabledEntities.slice(0, 20) }, 'config synced');
  const schedules = await syncSchedulesOnce(deps.redis, deps.prefix, deps.queues, desiredSchedules(config.sources), deps.log, options);
  const version = await deps.redis.incr(configVersionKey(deps.prefix));
  return { sources, schedules, version };
}

/** Reads the sources file named by `env` again; refuses (and changes nothing) when it is invalid. */
export async function reloadConfig(env: NodeJS.ProcessEnv, deps: ReloadDeps): Promise<ReloadOutcome> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const file = env.SOURCES_FILE || 'config/sources.json';
    deps.log.error({ file, problems: err.problems }, `config reload refused, running config kept: ${err.message}`);
    return { ok: false, file, problems: err.problems };
  }
  const applied = await applyConfig(config, deps, { force: true });
  deps.log.info({ file: config.sourcesFile, version: applied.version }, 'config reloaded');
  return { ok: true, file: config.sourcesFile, ...applied };
}

/**
 * Calls `onChange` when another process (or this one) bumped the config version. A poll, not
 * pub/sub: it survives reconnects and cluster failovers without resubscribing, and one GET per
 * interval per worker costs nothing.
 */
export function watchConfigVersion(redis: RedisClient, prefix: string, onChange: (version: number) => Promise<void>, log: Logger, intervalMs = 10_000): { stop(): void } {
  let seen: string | null | undefined;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const now = await redis.get(configVersionKey(prefix));
      if (seen !== undefined && now !== seen && now !== null) await onChange(Number(now));
      seen = now;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'config version check failed');
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
