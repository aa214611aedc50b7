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

/** Scheduler id -> fingerprint, for one queue. */
export type Fingerprints = ReadonlyMap<string, string>;

/** Fingerprints of schedulers read back from BullMQ's own keys. */
export function fingerprintsOf(existing: readonly ExistingSchedule[]): Map<string, string> {
  return new Map(existing.map((e) => [e.id, fingerprint(e)]));
}

export interface SchedulePlan {
  upsert: { queue: QueueName; schedule: DesiredSchedule; fingerprint: string }[];
  remove: { queue: QueueName; id: string }[];
  unchanged: number;
}

/**
 * Pure diff: upsert what is new or changed, remove what is no longer wanted, leave the
 * rest alone (its next run and iteration count stay as they are).
 */
export function planSchedules(desired: readonly DesiredSchedule[], existing: Partial<Record<QueueName, Fingerprints>>): SchedulePlan {
  const plan: SchedulePlan = { upsert: [], remove: [], unchanged: 0 };
  const wanted = new Set<string>();
  for (const d of desired) {
    const queue = JOBS[d.job].queue;
    wanted.add(`${queue}/${d.id}`);
    const print = fingerprintDesired(d);
    if (existing[queue]?.get(d.id) === print) plan.unchanged++;
    else plan.upsert.push({ queue, schedule: d, fingerprint: print });
  }
  for (const queue of QUEUE_NAMES) {
    for (const id of existing[queue]?.keys() ?? []) if (!wanted.has(`${queue}/${id}`)) plan.remove.push({ queue, id });
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
/** Upserts between two fingerprint writes: what a crash mid-sync may have to redo. */
const CHUNK = 2_000;

/** Fingerprint buckets per queue: ~100 schedulers each at 100k, so one change reads ~100. */
export const BUCKETS = 1024;

/** FNV-1a of the id: a stable, cheap spread of ids over the buckets. */
export function bucketOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

/**
 * The fingerprints of what this code last wrote, kept beside BullMQ's keys (under the queue's
 * prefix and name: in the queue's cluster slot, and removed by `obliterate`; ":" cannot occur
 * in a BullMQ custom job id, so they never meet a job's key). Two levels, so a diff never
 * transfers 100k fields: this summary hash maps bucket -> digest of the bucket's fingerprints,
 * and `fingerprintBucketKey` holds id -> fingerprint for one bucket. An unchanged configuration
 * reads the summary (1,024 short fields); a change reads the summary and its bucket.
 */
export function fingerprintKey(queue: Queue): string {
  return redisKey(queue.opts.prefix ?? 'bull', queue.name, 'np', 'schedulers');
}

export function fingerprintBucketKey(queue: Queue, bucket: number): string {
  return redisKey(queue.opts.prefix ?? 'bull', queue.name, 'np', 'schedulers', String(bucket));
}

/** Digest of one bucket's id -> fingerprint pairs, independent of their order. */
export function bucketDigest(prints: ReadonlyArray<readonly [string, string]>): string {
  const lines = prints.map(([id, print]) => `${id} ${print}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}

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

interface QueueState {
  /** Recorded (or read) fingerprints of the buckets in `buckets`. */
  prints: Fingerprints;
  /** The buckets to diff; every other bucket is known to be unchanged. */
  buckets: ReadonlySet<number>;
  /** The fingerprints were not trusted (forced, or none recorded): rewrite them all. */
  rewrite: boolean;
}

/**
 * What a queue's schedulers are, cheaply: the summary of recorded bucket digests (one round
 * trip with the scheduler count), then the fingerprints of just the buckets whose digest
 * differs from the desired one. `verify` (a forced sync), or schedulers without any recorded
 * fingerprints (a deployment from before they existed), read the schedulers themselves.
 */
async function readState(client: RedisClient, queue: Queue, wanted: ReadonlyMap<number, string>, verify: boolean): Promise<QueueState> {
  if (!verify) {
    const replies = (await client.pipeline().hgetall(fingerprintKey(queue)).zcard(queue.keys.repeat!).exec()) ?? [];
    const [[e1, recorded] = [null, {}], [e2, count] = [null, 0]] = replies;
    if (e1 || e2) throw e1 ?? e2;
    const summary = recorded as Record<string, string>;
    if (Object.keys(summary).length > 0 || Number(count) === 0) {
      const buckets = new Set<number>();
      for (const [b, digest] of wanted) if (summary[b] !== digest) buckets.add(b);
      for (const b of Object.keys(summary)) if (!wanted.has(Number(b))) buckets.add(Number(b));
      const prints = new Map<string, string>();
      if (buckets.size) {
        const pipeline = client.pipeline();
        for (const b of buckets) pipeline.hgetall(fingerprintBucketKey(queue, b));
        for (const [err, fields] of (await pipeline.exec()) ?? []) {
          if (err) throw err;
          for (const [id, print] of Object.entries(fields as Record<string, string>)) prints.set(id, print);
        }
      }
      return { prints, buckets, rewrite: false };
    }
  }
  const all = new Set(Array.from({ length: BUCKETS }, (_, b) => b));
  return { prints: fingerprintsOf(await readSchedulers(client, queue)), buckets: all, rewrite: true };
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, lane));
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface ScheduleSyncResult {
  upserted: string[];
  removed: string[];
  unchanged: number;
}

/**
 * Brings the schedulers in Redis to `desired` (`redis` is the connection the queues were made
 * with) with the fewest writes. Per queue it compares bucket digests first (one HGETALL of
 * 1,024 fields), so an unchanged configuration costs one read per queue and no write, and a
 * change reads only its bucket's fingerprints. Only new or changed schedulers are upserted and
 * the unwanted removed, many at once; each chunk's fingerprints are recorded once its upserts
 * succeeded, and a bucket's digest only after all of the queue's writes (a crash mid-sync
 * leaves stale digests, so the next sync re-reads those buckets; an upsert is idempotent).
 * Adding or removing one source touches one scheduler. `verify` reads the schedulers
 * themselves instead, restoring ones removed by hand, and rewrites every fingerprint.
 */
export async function syncSchedules(redis: RedisClient, queues: Queues, desired: readonly DesiredSchedule[], log: Logger, options: { verify?: boolean } = {}): Promise<ScheduleSyncResult> {
  // Queues may live on different cluster nodes: each queue is diffed and written on its own.
  const results = await Promise.all(QUEUE_NAMES.map((queue) => syncQueue(redis, queue, queues[queue], desired.filter((d) => JOBS[d.job].queue === queue), options.verify ?? false)));
  const result = { upserted: results.flatMap((r) => r.upserted), removed: results.flatMap((r) => r.removed), unchanged: results.reduce((n, r) => n + r.unchanged, 0) };
  log.info({ upserted: result.upserted.length, removed: result.removed.length, unchanged: result.unchanged, ...(result.removed.length <= 20 ? { removed_ids: result.removed } : {}) }, 'job schedulers synced');
  return result;
}

async function syncQueue(redis: RedisClient, queue: QueueName, q: Queue, desired: readonly DesiredSchedule[], verify: boolean): Promise<ScheduleSyncResult> {
  const byBucket = new Map<number, [string, string][]>();
  const bucketOfId = new Map<string, number>();
  for (const d of desired) {
    const b = bucketOf(d.id);
    bucketOfId.set(d.id, b);
    const list = byBucket.get(b) ?? [];
    list.push([d.id, fingerprintDesired(d)]);
    byBucket.set(b, list);
  }
  const wanted = new Map([...byBucket].map(([b, prints]) => [b, bucketDigest(prints)] as const));
  const state = await readState(redis, q, wanted, verify);
  const considered = desired.filter((d) => state.buckets.has(bucketOfId.get(d.id)!));
  const plan = planSchedules(considered, { [queue]: state.prints });
  const record = async (pairs: [string, string | null][]) => {
    // One HSET / HDEL per bucket touched, in one pipeline (one queue: one slot).
    const sets = new Map<number, Record<string, string>>();
    const dels = new Map<number, string[]>();
    for (const [id, print] of pairs) {
      const b = bucketOf(id);
      if (print === null) {
        const ids = dels.get(b) ?? [];
        ids.push(id);
        dels.set(b, ids);
      } else {
        const fields = sets.get(b) ?? {};
        fields[id] = print;
        sets.set(b, fields);
      }
    }
    const pipeline = redis.pipeline();
    for (const [b, fields] of sets) pipeline.hset(fingerprintBucketKey(q, b), fields);
    for (const [b, ids] of dels) pipeline.hdel(fingerprintBucketKey(q, b), ...ids);
    await execAll(pipeline);
  };
  if (state.rewrite) {
    const pipeline = redis.pipeline().del(fingerprintKey(q));
    for (let b = 0; b < BUCKETS; b++) pipeline.del(fingerprintBucketKey(q, b));
    await execAll(pipeline);
    // The schedulers were just read: record the unchanged ones now; the upserts below record theirs as they land.
    const upserting = new Set(plan.upsert.map((u) => u.schedule.id));
    for (const chunk of chunks(desired.filter((d) => !upserting.has(d.id)), PAGE)) await record(chunk.map((d) => [d.id, fingerprintDesired(d)]));
  }
  for (const chunk of chunks(plan.upsert)) {
    await inBatches(chunk, ({ schedule: d }) => {
      // No `immediately` with patterns: every re-upsert would fire an extra run.
      const repeat = 'every' in d.schedule ? { every: d.schedule.every } : { pattern: d.schedule.pattern, tz: d.schedule.tz };
      return q.upsertJobScheduler(d.id, repeat, { name: d.job, data: d.data });
    });
    await record(chunk.map((u) => [u.schedule.id, u.fingerprint]));
  }
  for (const chunk of chunks(plan.remove)) {
    await inBatches(chunk, ({ id }) => q.removeJobScheduler(id));
    await record(chunk.map((r) => [r.id, null]));
  }
  // Digests last: only now does every considered bucket hold what its digest says.
  const digests: Record<string, string> = {};
  const emptied: string[] = [];
  for (const b of state.buckets) {
    const digest = wanted.get(b);
    if (digest) digests[b] = digest;
    else emptied.push(String(b));
  }
  const pipeline = redis.pipeline();
  if (Object.keys(digests).length) pipeline.hset(fingerprintKey(q), digests);
  if (emptied.length) pipeline.hdel(fingerprintKey(q), ...emptied);
  await execAll(pipeline);
  return { upserted: plan.upsert.map((u) => u.schedule.id), removed: plan.remove.map((r) => r.id), unchanged: plan.unchanged + desired.length - considered.length };
}

/**
 * Runs a pipeline and throws its first command error (ioredis reports them per command).
 * On a cluster every key of one pipeline must live on one node: callers put one queue's keys in it.
 */
async function execAll(pipeline: ReturnType<RedisClient['pipeline']>): Promise<void> {
  for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
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
        const result = await syncSchedules(redis, queues, desired, log, { verify: options.force ?? false });
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
