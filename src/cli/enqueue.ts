/**
 * The manual enqueue script: `npm run enqueue -- <job> [options]`.
 * Exit codes: 0 done (or enqueued), 1 the job failed, 2 bad input (nothing enqueued),
 * 3 Redis or Postgres unreachable.
 */
import { parseArgs } from 'node:util';
import type { Job } from 'bullmq';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { redactUrl } from '../logger.ts';
import { openOrm, type Orm } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { checkPayload, JOBS, parseInstant, type JobName } from '../queues/catalogue.ts';
import { createRedis } from '../queues/connection.ts';
import { closeQueues, createQueues, type Queues } from '../queues/queues.ts';
import { queuePrefix } from '../queues/keys.ts';
import { createLogger } from '../logger.ts';
import { followJobs } from './follow.ts';
import { checkLimit, printStatus, StatusFilterError } from './status.ts';
import { reloadConfig } from '../reload.ts';
import { describeKnown, knownSources, missingSources } from './source-ids.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}
class UnreachableError extends Error {
  override name = 'UnreachableError';
}

/** The CLI never waits longer than this for Postgres or Redis to answer (README: exit 3 within seconds). */
const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 30_000;

/** Rejects with UnreachableError when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UnreachableError(`${what}: no answer within ${ms / 1000} s (is that port really this service?)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Edit distance counting a swap of neighbours as one edit ("wiat" -> "wait"), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** parseArgs' errors in the CLI's words: the option, the nearest real one, the list. */
function usageProblem(err: Error & { code?: string }): string {
  const names = Object.keys(OPTIONS).map((o) => `--${o}`);
  const given = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && given) {
    const bare = given.replace(/^-+/, '');
    const [nearest] = names.map((n) => [n, distance(bare, n.slice(2))] as const).sort((x, y) => x[1] - y[1]);
    const hint = nearest && nearest[1] <= Math.max(1, Math.floor(bare.length / 3)) ? `; did you mean ${nearest[0]}?` : '';
    return `unknown option ${given}${hint} (options: ${names.join(', ')})`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && given) {
    return /argument missing/.test(err.message) ? `${given} needs a value, e.g. ${given} 2026-11-01` : `${given} takes no value`;
  }
  return err.message;
}

const COMMANDS = {
  fetch: {
    job: 'fetch',
    usage: 'fetch <sourceId...> | fetch --all',
    help: 'Fetch sources now (bypasses a failing source\'s backoff). Waits for a fetch of the same source already running.',
    examples: ['npm run enqueue -- fetch bbc-business --wait', 'npm run enqueue -- fetch --all'],
  },
  rollup: {
    job: 'refresh',
    usage: 'rollup',
    help: 'Refresh rollups now: recompute exactly the hours and days marked dirty by ingest.',
    examples: ['npm run enqueue -- rollup --wait'],
  },
  rebuild: {
    job: 'rebuild',
    usage: 'rebuild --from <date> --to <date> [--entity <slug>]',
    help: 'Recompute every hourly and daily rollup in [from, to) from stored articles (backfill and repair). Dates are ISO, UTC. Buckets older than the article retention window are kept, not recomputed.',
    examples: ['npm run enqueue -- rebuild --from 2026-11-01 --to 2026-11-22 --wait', 'npm run enqueue -- rebuild --from 2026-11-20T06:00Z --to 2026-11-20T12:00Z --entity tesla'],
  },
  rescore: {
    job: 'rescore',
    usage: 'rescore [--from <date>] [--to <date>]',
    help: 'Re-score stored articles (published in [from, to), default all) with the current scorer in batches, then rebuild the rollups they touch. Resumable: a rerun continues with the articles not yet rescored.',
    examples: ['npm run enqueue -- rescore --wait', 'npm run enqueue -- rescore --from 2026-11-01 --to 2026-11-22 --wait'],
  },
  prune: {
    job: 'prune',
    usage: 'prune',
    help: 'Delete raw articles and job runs older than the retention windows (ARTICLE_RETENTION_DAYS, JOB_RUN_RETENTION_DAYS). Rollups are never deleted.',
    examples: ['npm run enqueue -- prune --wait'],
  },
  status: {
    job: null,
    usage: 'status [--failing] [--source PATTERN] [--limit N]',
    help: 'A summary of sources (enabled, failing, backing off), then up to --limit sources (default 50: schedule, next run or backoff, last success, failures, last error), queue counts and rollup lag.',
    examples: ['npm run enqueue -- status', 'npm run enqueue -- status --failing', "npm run enqueue -- status --source 'bbc-*' --limit 200", 'npm run enqueue -- status --json'],
  },
  reload: {
    job: null,
    usage: 'reload',
    help: 'Re-read SOURCES_FILE and sync sources, entities and job schedulers now, without a restart (running workers pick up the entities within seconds). An invalid file is refused and nothing changes.',
    examples: ['npm run enqueue -- reload', 'SOURCES_FILE=config/prod.json npm run enqueue -- reload'],
  },
} as const;
type Command = keyof typeof COMMANDS;

const OPTIONS = {
  wait: { type: 'boolean', short: 'w' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  entity: { type: 'string' },
  failing: { type: 'boolean' },
  source: { type: 'string' },
  limit: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function usage(command?: Command): string {
  if (command) {
    const c = COMMANDS[command];
    return [`usage: npm run enqueue -- ${c.usage} [--wait] [--json]`, '', c.help, '', 'examples:', ...c.examples.map((e) => `  ${e}`), ''].join('\n');
  }
  return [
    'usage: npm run enqueue -- <job> [options]',
    '',
    'jobs:',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(54)} ${c.help.split('.')[0]}.`),
    '',
    'options:',
    '  --wait, -w   follow the job to its end: progress, then a one-line summary (exit 0 done, 1 failed)',
    '  --json       print one JSON object per run (job id, queue, name, state, result or failure)',
    '  --help, -h   this text; `<job> --help` explains one job',
    '',
    'examples:',
    '  npm run enqueue -- fetch bbc-business --wait',
    '  npm run enqueue -- rebuild --from 2026-11-01 --to 2026-11-22 --wait',
    '  npm run enqueue -- status',
    '',
    'exit codes: 0 ok, 1 job failed, 2 bad input (nothing enqueued), 3 Redis/Postgres unreachable',
    '',
  ].join('\n');
}

type Parsed = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;

function parse(argv: string[]): { command: Command | null; args: Parsed } {
  let args: Parsed;
  try {
    args = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(usageProblem(err as Error));
  }
  const [first] = args.positionals;
  if (first === undefined) return { command: null, args };
  if (!Object.hasOwn(COMMANDS, first)) throw new UsageError(`unknown job "${first}" (jobs: ${Object.keys(COMMANDS).join(', ')})`);
  return { command: first as Command, args };
}

async function connectRedis(config: Config) {
  // commandTimeout: a server that accepted the connection but never answers fails a command, not the terminal.
  const redis = createRedis(config.redisUrl, 'producer', { lazyConnect: true, commandTimeout: 10_000 });
  // The socket error (ECONNREFUSED, ENOTFOUND…) says more than connect()'s "Connection is closed".
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err;
  });
  try {
    // connect() resolves on "ready" (after INFO): a port that accepts and stays silent never gets there.
    await within(redis.connect(), CONNECT_TIMEOUT_MS, 'connected but Redis did not answer');
  } catch (err) {
    redis.disconnect();
    throw new UnreachableError(`cannot reach Redis at ${redactUrl(config.redisUrl)}: ${(cause ?? (err as Error)).message}`);
  }
  return redis;
}

async function connectPostgres(config: Config): Promise<Orm> {
  let orm: Orm | undefined;
  try {
    const opened = openOrm(config.databaseUrl, {
      pool: { min: 0, max: 2 },
      // pg's own limits: the connect handshake and each query (client side) end instead of hanging.
      driverOptions: { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: STATEMENT_TIMEOUT_MS, statement_timeout: STATEMENT_TIMEOUT_MS },
    });
    orm = await within(opened, CONNECT_TIMEOUT_MS * 2, 'Postgres did not answer');
    await within(orm.em.fork().execute('select 1'), CONNECT_TIMEOUT_MS * 2, 'Postgres did not answer');
    return orm;
  } catch (err) {
    await orm?.close(true).catch(() => {});
    // 3D000 invalid_catalog_name: the server answered, the database is just not created yet.
    if ((err as { code?: unknown }).code === '3D000') {
      throw new UsageError(`the database at ${redactUrl(config.databaseUrl)} does not exist: run \`npm run migrate\` (it creates it), then retry`);
    }
    throw new UnreachableError(`cannot reach Postgres at ${redactUrl(config.databaseUrl)}: ${(err as Error).message}`);
  }
}

/** An unmigrated (or half-migrated) database: say what to run instead of a raw relation error. */
async function checkSchema(orm: Orm, config: Config): Promise<void> {
  const rows = await orm.em.fork().execute<{ present: boolean }[]>(`select to_regclass('source') is not null and to_regclass('job_run') is not null as present`);
  if (!rows[0]?.present) {
    throw new UsageError(`the database at ${redactUrl(config.databaseUrl)} has no newspulse tables: run \`npm run migrate\` (or start the worker once), then retry`);
  }
}

/** Source ids in SOURCES_FILE, to tell "not synced yet" from "no such source"; empty when unreadable. */
function sourcesInFile(): { file: string; ids: Set<string> } | null {
  try {
    const config = loadConfig(process.env, { readSources: true });
    return { file: config.sourcesFile, ids: new Set(config.sources.map((s) => s.id)) };
  } catch {
    return null;
  }
}

/** Turns the command line into validated payloads, checking sources and entities against the database. */
async function payloadsFor(command: Exclude<Command, 'status' | 'reload'>, args: Parsed, orm: Orm): Promise<{ job: JobName; data: object }[]> {
  const em = orm.em.fork();
  const extra = args.positionals.slice(1);
  if (command !== 'fetch' && extra.length) throw new UsageError(`${command} takes no arguments (got ${extra.join(' ')})`);
  if (command === 'rescore' && args.values.entity) throw new UsageError('--entity belongs to rebuild (rescore takes --from and --to)');
  if (command !== 'rebuild' && command !== 'rescore' && (args.values.from || args.values.to || args.values.entity)) throw new UsageError(`--from, --to and --entity belong to rebuild`);
  if (command !== 'fetch' && args.values.all) throw new UsageError(`--all belongs to fetch`);

  if (command === 'fetch') {
    if (args.values.all && extra.length) throw new UsageError('give source ids or --all, not both');
    // Only the ids cross the wire; at 100k sources that is a few MB, read once.
    const ids = args.values.all ? (await sql(em).selectFrom('source').select('id').where('enabled', '=', true).orderBy('id').execute()).map((s) => s.id) : extra;
    if (!ids.length) throw new UsageError(`fetch needs a source id or --all (${describeKnown(await knownSources(em))})`);
    const unknown = args.values.all ? [] : await missingSources(em, ids);
    if (unknown.length) {
      const inFile = sourcesInFile();
      const unsynced = unknown.filter((id) => inFile?.ids.has(id));
      if (inFile && unsynced.length) {
        throw new UsageError(
          `source${unsynced.length > 1 ? 's' : ''} ${unsynced.join(', ')} ${unsynced.length > 1 ? 'are' : 'is'} in ${inFile.file} but not in the database yet: the worker syncs that file when it starts, so restart (or reload) the worker, then retry`,
        );
      }
      const shown = unknown.length > 10 ? `${unknown.slice(0, 10).join(', ')} and ${unknown.length - 10} more` : unknown.join(', ');
      throw new UsageError(`unknown source${unknown.length > 1 ? 's' : ''} ${shown} (${describeKnown(await knownSources(em, unknown[0]), unknown[0])})`);
    }
    return [...new Set(ids)].map((sourceId) => ({ job: 'fetch' as const, data: { sourceId } }));
  }
  if (command === 'rebuild') {
    const { from, to, entity } = args.values;
    if (!from || !to) throw new UsageError('rebuild needs --from <date> and --to <date> (ISO, UTC), e.g. --from 2026-11-01 --to 2026-11-22');
    // parseInstant, not Date.parse: it refuses dates Date would roll over (2026-02-30 -> March 2).
    const [fromAt, toAt] = [parseInstant(from), parseInstant(to)];
    if (fromAt && toAt && fromAt >= toAt) {
      throw new UsageError(`rebuild: --from ${from} is not before --to ${to}; the range is [from, to), so --to must be later`);
    }
    const data = { from, to, ...(entity ? { entity } : {}) };
    const checked = checkPayload('rebuild', data);
    if (!checked.ok) throw new UsageError(`rebuild: ${checked.problems.join('; ')}`);
    if (entity) {
      const found = await sql(em).selectFrom('entity').select('slug').where('slug', '=', entity).executeTakeFirst();
      if (!found) {
        const slugs = (await sql(em).selectFrom('entity').select('slug').orderBy('slug').execute()).map((e) => e.slug);
        throw new UsageError(`unknown entity "${entity}" (known entities: ${slugs.join(', ') || 'none'})`);
      }
    }
    return [{ job: 'rebuild', data }];
  }
  if (command === 'rescore') {
    const { from, to } = args.values;
    const data = { ...(from ? { from } : {}), ...(to ? { to } : {}) };
    const checked = checkPayload('rescore', data);
    if (!checked.ok) throw new UsageError(`rescore: ${checked.problems.join('; ')}`);
    return [{ job: 'rescore', data }];
  }
  return [{ job: COMMANDS[command].job, data: {} }];
}

/**
 * --wait with nobody to run the job would wait forever in silence: say so, and name the prefixes
 * that do have queues in this Redis when QUEUE_PREFIX looks wrong.
 */
async function warnWithoutWorkers(queues: Queues, jobs: Job[], redis: Awaited<ReturnType<typeof connectRedis>>, config: Config, err: NodeJS.WritableStream): Promise<void> {
  for (const name of new Set(jobs.map((j) => j.queueName as keyof Queues))) {
    if ((await queues[name].getWorkersCount()) > 0) continue;
    const suffix = `:${name}:meta`;
    const found = new Set<string>();
    // Bounded: a hint is worth a few SCAN pages, not a walk over a huge keyspace.
    let cursor = '0';
    for (let page = 0; page < 20; page++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `*${suffix}`, 'COUNT', 1000);
      for (const key of keys) found.add(key.slice(0, -suffix.length));
      cursor = next;
      if (cursor === '0') break;
    }
    const mine = queuePrefix(config.queuePrefix, name);
    const prefixes = [...found].filter((p) => p !== mine).slice(0, 5);
    const hint = prefixes.length ? `; queues exist under other prefixes: ${prefixes.join(', ')} (QUEUE_PREFIX is "${config.queuePrefix}")` : '; is the worker running against this Redis?';
    err.write(`enqueue: no worker is consuming queue "${name}" under prefix "${config.queuePrefix}": the job waits until one starts${hint}\n`);
  }
}

/** Jobs per addBulk: one MULTI each, so 100k fetches are 100 round trips with bounded command size. */
const ADD_CHUNK = 1_000;

export async function enqueue(queues: Queues, payloads: { job: JobName; data: object }[]): Promise<Job[]> {
  const jobs: Job[] = [];
  for (let i = 0; i < payloads.length; i += ADD_CHUNK) {
    const chunk = payloads.slice(i, i + ADD_CHUNK);
    // addBulk is per queue; a chunk's jobs keep their order within each queue.
    const byQueue = new Map<keyof Queues, { name: JobName; data: object }[]>();
    for (const { job, data } of chunk) {
      const queue = JOBS[job].queue;
      const list = byQueue.get(queue) ?? [];
      list.push({ name: job, data });
      byQueue.set(queue, list);
    }
    for (const [queue, list] of byQueue) jobs.push(...(await queues[queue].addBulk(list)));
  }
  return jobs;
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    err.write(`enqueue: ${(e as Error).message}\n\n${usage()}`);
    return 2;
  }
  const { command, args } = parsed;
  if (args.values.help || !command) {
    (command || args.values.help ? out : err).write(usage(command ?? undefined));
    return command || args.values.help ? 0 : 2;
  }

  let config: Config;
  try {
    config = loadConfig(process.env, { readSources: false });
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`enqueue: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  let orm: Orm | undefined;
  let redis: Awaited<ReturnType<typeof connectRedis>> | undefined;
  let queues: Queues | undefined;
  try {
    // allSettled: when one side fails, the other's open connection must still be closed below.
    const [pgResult, redisResult] = await Promise.allSettled([connectPostgres(config), connectRedis(config)]);
    if (pgResult.status === 'fulfilled') orm = pgResult.value;
    if (redisResult.status === 'fulfilled') redis = redisResult.value;
    if (pgResult.status === 'rejected') throw pgResult.reason;
    if (redisResult.status === 'rejected') throw redisResult.reason;
    queues = createQueues(redisResult.value, config.queuePrefix, createLogger('silent'));
    await checkSchema(pgResult.value, config);
    if (command !== 'status' && (args.values.failing || args.values.source !== undefined || args.values.limit !== undefined)) throw new UsageError('--failing, --source and --limit belong to status');
    if (command === 'status') {
      const filter = { failing: Boolean(args.values.failing), ...(args.values.source ? { source: args.values.source } : {}), ...(args.values.limit !== undefined ? { limit: checkLimit(args.values.limit) } : {}) };
      await printStatus({ orm: pgResult.value, queues, json: Boolean(args.values.json), out, filter });
      return 0;
    }
    if (command === 'reload') {
      const outcome = await reloadConfig(process.env, { orm: pgResult.value, redis: redisResult.value, queues, prefix: config.queuePrefix, log: createLogger('silent') });
      if (!outcome.ok) {
        err.write(`enqueue: reload refused, nothing changed: ${outcome.problems.join('; ')}\n`);
        return 2;
      }
      const sched = outcome.schedules.skipped ? `schedulers ${outcome.schedules.reason}` : `${outcome.schedules.upserted.length} scheduler(s) upserted, ${outcome.schedules.removed.length} removed, ${outcome.schedules.unchanged} unchanged`;
      const summary = { file: outcome.file, sources: outcome.sources.sources, entities: outcome.sources.entities, changed_sources: outcome.sources.changedSources, changed_entities: outcome.sources.changedEntities, disabled_sources: outcome.sources.disabledSources.length, disabled_entities: outcome.sources.disabledEntities.length, config_version: outcome.version };
      out.write(args.values.json ? `${JSON.stringify({ ...summary, schedules: outcome.schedules })}\n` : `reloaded ${outcome.file}: ${summary.sources} source(s) (${summary.changed_sources} changed, ${summary.disabled_sources} disabled), ${summary.entities} entit${summary.entities === 1 ? 'y' : 'ies'} (${summary.changed_entities} changed, ${summary.disabled_entities} disabled); ${sched}\n`);
      return 0;
    }
    const payloads = await payloadsFor(command, args, pgResult.value);
    const jobs = await enqueue(queues, payloads);
    if (!args.values.wait) {
      for (let i = 0; i < jobs.length; i += ADD_CHUNK) {
        const chunk = jobs.slice(i, i + ADD_CHUNK);
        // States are read a chunk at a time (concurrently), not one awaited round trip per job.
        const states = args.values.json ? await Promise.all(chunk.map((job) => job.getState())) : [];
        chunk.forEach((job, k) => {
          if (args.values.json) out.write(`${JSON.stringify({ id: job.id, queue: job.queueName, name: job.name, data: job.data, state: states[k] })}\n`);
          else out.write(`enqueued ${job.name} ${JSON.stringify(job.data)} as ${job.queueName}/${job.id}\n`);
        });
      }
      return 0;
    }
    await warnWithoutWorkers(queues, jobs, redisResult.value, config, err);
    const outcomes = await followJobs(queues, jobs, { json: Boolean(args.values.json), out, tty: Boolean((out as NodeJS.WriteStream).isTTY) });
    return outcomes.every((o) => o.state === 'completed') ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError || e instanceof StatusFilterError) {
      err.write(`enqueue: ${e.message}\n`);
      return 2;
    }
    if (e instanceof UnreachableError) {
      err.write(`enqueue: ${e.message}\n`);
      return 3;
    }
    err.write(`enqueue: ${(e as Error).message}\n`);
    return 1;
  } finally {
    if (queues) await closeQueues(queues).catch(() => {});
    redis?.disconnect();
    await orm?.close(true).catch(() => {});
  }
}

if (import.meta.main) {
  // Exit explicitly: a stray handle (a half-open socket) must never keep a terminal waiting.
  process.exit(await main(process.argv.slice(2)));
}
