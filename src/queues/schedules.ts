import { createHash, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.ts';
import type { Schedule, SourceConfig } from '../config.ts';
import type { JobName, JobPayload, QueueName } from './catalogue.ts';
import { JOBS, QUEUE_NAMES } from './catalogue.ts';
import type { Queues } from './queues.ts';
import type { RedisClient } from './connection.ts';
import { redisKey } from './keys.ts';

/** A scheduler the worker wants to exist. Its id is stable, so every boot upserts the same one. */
export interface DesiredSchedule<N extends JobName = JobName> {
  id: string;
  job: N;
  data: JobPayload<N>;
  schedule: Schedule;
}

/** Fixed schedules besides the per-source fetches. */
export const MAINTENANCE_SCHEDULES: DesiredSchedule[] = [
  // The safety net behind the debounced refresh every ingest adds.
  { id: 'refresh', job: 'refresh', data: {}, schedule: { every: 5 * 60_000 } },
  { id: 'prune', job: 'prune', data: {}, schedule: { pattern: '17 3 * * *', tz: 'UTC' } },
  { id: 'reap', job: 'reap', data: {}, schedule: { every: 10 * 60_000 } },
  // Months are made three ahead; daily leaves weeks of slack if the job cannot run.
  { id: 'partitions', job: 'partitions', data: {}, schedule: { pattern: '7 2 * * *', tz: 'UTC' } },
];

export function fetchSchedulerId(sourceId: string): string {
  return `fetch-${sourceId}`;
}

export function desiredSchedules(sources: readonly SourceConfig[]): DesiredSchedule[] {
  const fetches = sources
    .filter((s) => s.enabled)
    .map((s): DesiredSchedule<'fetch'> => ({ id: fetchSchedulerId(s.id), job: 'fetch', data: { sourceId: s.id }, schedule: s.schedule }));
  return [...fetches, ...MAINTENANCE_SCHEDULES];
}

/** What a scheduler in Redis says, reduced to the fields the worker sets. */
export interface ExistingSchedule {
  id: string;
  name: string;
  every?: number;
  pattern?: string;
  tz?: string;
  data: unknown;
}

/** The canonical text of a schedule's settings: equal text means nothing to upsert. */
function fingerprint(s: { name: string; every?: number | undefined; pattern?: string | undefined; tz?: string | undefined; data: unknown }): string {
  return JSON.stringify([s.name, s.every ?? null, s.pattern ?? null, s.pattern ? (s.tz ?? null) : null, s.data ?? {}]);
}

function fingerprintDesired(d: DesiredSchedule): string {
  return 'every' in d.schedule
    ? fingerprint({ name: d.job, every: d.schedule.every, data: d.data })
    : fingerprint({ name: d.job, pattern: d.schedule.pattern, tz: d.schedule.tz, data: d.data });
}

export interface SchedulePlan {
  upsert: { queue: QueueName; schedule: DesiredSchedule }[];
  remove: { queue: QueueName; id: string }[];
  unchanged: number;
}

/**
 * Pure diff: upsert what is new or changed, remove what is no longer wanted, leave the
 * rest alone (its next run and iteration count stay as they are).
 */
export function planSchedules(desired: readonly DesiredSchedule[], existing: Record<QueueName, readonly ExistingSchedule[]>): SchedulePlan {
  const plan: SchedulePlan = { upsert: [], remove: [], unchanged: 0 };
  const current = new Map<string, string>();
  for (const queue of QUEUE_NAMES) for (const e of existing[queue] ?? []) current.set(`${queue}/${e.id}`, fingerprint(e));
  const wanted = new Set<string>();
  for (const d of desired) {
    const queue = JOBS[d.job].queue;
    const key = `${queue}/${d.id}`;
    wanted.add(key);
    if (current.get(key) === fingerprintDesired(d)) plan.unchanged++;
    else plan.upsert.push({ queue, schedule: d });
  }
  for (const queue of QUEUE_NAMES) {
    for (const e of existing[queue] ?? []) if (!wanted.has(`${queue}/${e.id}`)) plan.remove.push({ queue, id: e.id });
  }
  return plan;
}

/** A hash of the desired schedules, independent of their order in the file. */
export function schedulesHash(desired: readonly DesiredSchedule[]): string {
  const lines = desired.map((d) => `${JOBS[d.job].queue}/${d.id} ${fingerprintDesired(d)}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 32);
}

const PAGE = 5_000;
/** Commands in flight at once: enough to fill the pipe, few enough to keep memory flat. */
const IN_FLIGHT = 256;

/**
 * Every scheduler of a queue, read with one ZRANGE and pipelined HMGETs of just the fields the
 * diff compares. (Queue.getJobSchedulers does one awaited HGETALL per scheduler and parses each
 * template's options: ~10x slower at 100k.) The key layout is BullMQ's: the `repeat` sorted
 * set of ids, and a hash `<repeat>:<id>` per scheduler.
 */
async function readSchedulers(client: RedisClient, queue: Queue): Promise<ExistingSchedule[]> {
  const repeatKey = queue.keys.repeat!;
  const ids = await client.zrange(repeatKey, '0', '-1');
  const out: ExistingSchedule[] = [];
  for (let start = 0; start < ids.length; start += PAGE) {
    const page = ids.slice(start, start + PAGE);
    const pipeline = client.pipeline();
    for (const id of page) pipeline.hmget(`${repeatKey}:${id}`, 'name', 'every', 'pattern', 'tz', 'data');
    const replies = (await pipeline.exec()) ?? [];
    page.forEach((id: string, i: number) => {
      const [err, fields] = replies[i] ?? [null, null];
      if (err) throw err;
      const [name, every, pattern, tz, data] = (fields as (string | null)[] | null) ?? [];
      // A sorted-set entry without its hash is a half-removed scheduler: treat it as absent.
      if (!name) return;
      out.push({ id, name, ...(every ? { every: Number(every) } : {}), ...(pattern ? { pattern } : {}), ...(tz ? { tz } : {}), data: data ? (JSON.parse(data) as unknown) : {} });
    });
  }
  return out;
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, lane));
}

export interface ScheduleSyncResult {
  upserted: string[];
  removed: string[];
  unchanged: number;
}

/**
 * Brings the schedulers in Redis to `desired` (`redis` is the connection the queues were made with) with the fewest writes: reads every queue's
 * schedulers once, upserts only new or changed ones and removes the unwanted, with many
 * commands in flight. Adding or removing one source touches one scheduler.
 */
export async function syncSchedules(redis: RedisClient, queues: Queues, desired: readonly DesiredSchedule[], log: Logger): Promise<ScheduleSyncResult> {
  const existing = Object.fromEntries(await Promise.all(QUEUE_NAMES.map(async (q) => [q, await readSchedulers(redis, queues[q])] as const))) as Record<QueueName, ExistingSchedule[]>;
  const plan = planSchedules(desired, existing);
  await inBatches(plan.upsert, ({ queue, schedule: d }) => {
    // No `immediately` with patterns: every re-upsert would fire an extra run.
    const repeat = 'every' in d.schedule ? { every: d.schedule.every } : { pattern: d.schedule.pattern, tz: d.schedule.tz };
    return queues[queue].upsertJobScheduler(d.id, repeat, { name: d.job, data: d.data });
  });
  await inBatches(plan.remove, ({ queue, id }) => queues[queue].removeJobScheduler(id));
  const result = { upserted: plan.upsert.map((u) => u.schedule.id), removed: plan.remove.map((r) => r.id), unchanged: plan.unchanged };
  log.info({ upserted: result.upserted.length, removed: result.removed.length, unchanged: result.unchanged, ...(result.removed.length <= 20 ? { removed_ids: result.removed } : {}) }, 'job schedulers synced');
  return result;
}

const LOCK_TTL_MS = 60_000;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export type ElectedSyncResult = ({ skipped: false } & ScheduleSyncResult) | { skipped: true; reason: 'up to date' | 'synced by another process' };

/**
 * Scheduler sync once per configuration, not once per worker start: the hash of the desired
 * schedules is recorded after a successful sync, and a start that finds its own hash there
 * does nothing. One process at a time syncs (a Redis lock with a renewed lease); the others
 * wait for it and then find the hash recorded. `force` (config reload, `enqueue reload`)
 * re-reads Redis even when the hash matches, restoring schedulers removed by hand.
 */
export async function syncSchedulesOnce(
  redis: RedisClient,
  prefix: string,
  queues: Queues,
  desired: readonly DesiredSchedule[],
  log: Logger,
  options: { force?: boolean; waitMs?: number } = {},
): Promise<ElectedSyncResult> {
  const hash = schedulesHash(desired);
  const hashKey = redisKey(prefix, 'schedules', 'hash');
  const lockKey = redisKey(prefix, 'schedules', 'lock');
  const deadline = Date.now() + (options.waitMs ?? 5 * LOCK_TTL_MS);
  let waited = false;
  for (;;) {
    if (!options.force && (await redis.get(hashKey)) === hash) {
      log.info({ hash, desired: desired.length }, waited ? 'job schedulers synced by another process' : 'job schedulers up to date');
      return { skipped: true, reason: waited ? 'synced by another process' : 'up to date' };
    }
    const token = randomUUID();
    if ((await redis.set(lockKey, token, 'PX', LOCK_TTL_MS, 'NX')) === 'OK') {
      const renew = setInterval(() => void redis.eval(RENEW, 1, lockKey, token, String(LOCK_TTL_MS)).catch(() => {}), LOCK_TTL_MS / 3);
      try {
        const result = await syncSchedules(redis, queues, desired, log);
        await redis.set(hashKey, hash);
        return { skipped: false, ...result };
      } finally {
        clearInterval(renew);
        await redis.eval(RELEASE, 1, lockKey, token).catch(() => {});
      }
    }
    if (Date.now() > deadline) throw new Error(`job schedulers: another process has held ${lockKey} for too long; not syncing`);
    waited = true;
    // A forced sync that waited for another process still runs its own pass afterwards.
    await new Promise((r) => setTimeout(r, 250));
  }
}
