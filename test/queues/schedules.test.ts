import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createQueues, closeQueues } from '../../src/queues/queues.ts';
import { desiredSchedules, syncSchedules, syncSchedulesOnce, planSchedules, schedulesHash, MAINTENANCE_SCHEDULES, fingerprintsOf, fingerprintKey, fingerprintBucketKey, bucketOf, BUCKETS, type ExistingSchedule } from '../../src/queues/schedules.ts';
import { redisKey } from '../../src/queues/keys.ts';
import type { SourceConfig } from '../../src/config.ts';
import { REDIS_URL } from '../support/env.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';

const log = pino({ level: 'silent' });
const source = (id: string, extra: Partial<SourceConfig> = {}): SourceConfig => ({ id, kind: 'feed', url: 'https://x.org/f', enabled: true, schedule: { every: 60_000 }, ...extra });

describe('syncSchedules', () => {
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map(deletePrefix));
  });

  async function boot(prefix: string, sources: SourceConfig[]) {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, prefix, log);
    try {
      return await syncSchedules(redis, queues, desiredSchedules(sources), log);
    } finally {
      await closeQueues(queues);
      redis.disconnect();
    }
  }

  async function schedulers(prefix: string) {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, prefix, log);
    try {
      const all = await Promise.all(Object.entries(queues).map(async ([name, q]) => (await q.getJobSchedulers(0, 100)).map((s) => `${name}/${s.id ?? s.key}`)));
      return all.flat().sort();
    } finally {
      await closeQueues(queues);
      redis.disconnect();
    }
  }

  it('leaves one scheduler per enabled source after many boots, sequential and concurrent', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    const sources = [source('a'), source('b', { schedule: { pattern: '*/5 * * * *', tz: 'Europe/Paris' } }), source('off', { enabled: false })];
    for (let i = 0; i < 5; i++) await boot(prefix, sources);
    await Promise.all([1, 2, 3, 4, 5].map(() => boot(prefix, sources)));
    const expected = ['ingest/fetch-a', 'ingest/fetch-b', ...MAINTENANCE_SCHEDULES.map((m) => `${m.job === 'refresh' ? 'rollup' : 'maintenance'}/${m.id}`)].sort();
    expect(await schedulers(prefix)).toEqual(expected);
  });

  it('removes the scheduler of a source that was disabled or removed', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    await boot(prefix, [source('a'), source('b')]);
    const result = await boot(prefix, [source('a'), source('b', { enabled: false })]);
    expect(result.removed).toEqual(['fetch-b']);
    expect((await schedulers(prefix)).filter((s) => s.startsWith('ingest/'))).toEqual(['ingest/fetch-a']);
  });

  async function nextRuns(prefix: string) {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, prefix, log);
    try {
      const list = await queues.ingest.getJobSchedulers(0, -1);
      return new Map(list.map((s) => [s.id ?? s.key, { next: s.next, every: s.every, pattern: s.pattern }]));
    } finally {
      await closeQueues(queues);
      redis.disconnect();
    }
  }

  it('touches only the scheduler of a source that was added, changed or removed', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    const base = Array.from({ length: 50 }, (_, i) => source(`s${i}`));
    const first = await boot(prefix, base);
    expect(first.upserted).toHaveLength(50 + MAINTENANCE_SCHEDULES.length);
    const before = await nextRuns(prefix);

    const again = await boot(prefix, base);
    expect(again).toEqual({ upserted: [], removed: [], unchanged: 50 + MAINTENANCE_SCHEDULES.length });

    const added = await boot(prefix, [...base, source('new')]);
    expect(added).toEqual({ upserted: ['fetch-new'], removed: [], unchanged: 50 + MAINTENANCE_SCHEDULES.length });

    const changed = await boot(prefix, [...base.filter((s) => s.id !== 's3'), source('s3', { schedule: { pattern: '*/10 * * * *', tz: 'Asia/Tokyo' } }), source('new')]);
    expect(changed.upserted).toEqual(['fetch-s3']);
    expect(changed.removed).toEqual([]);

    const removed = await boot(prefix, [...base.filter((s) => s.id !== 's7' && s.id !== 's3'), source('s3', { schedule: { pattern: '*/10 * * * *', tz: 'Asia/Tokyo' } }), source('new')]);
    expect(removed).toMatchObject({ upserted: [], removed: ['fetch-s7'] });

    const after = await nextRuns(prefix);
    expect(after.get('fetch-s3')).toMatchObject({ pattern: '*/10 * * * *' });
    expect(after.has('fetch-s7')).toBe(false);
    // Untouched schedulers keep their next run: nothing re-upserted them.
    for (const id of ['fetch-s0', 'fetch-s25', 'fetch-s49']) expect(after.get(id)).toEqual(before.get(id));
  });

  /** Every command that names a key under `prefix` while `run` runs, as [command, ...args] (MONITOR). */
  async function commandsUnder<T>(prefix: string, run: () => Promise<T>): Promise<{ value: T; commands: string[][] }> {
    const watcher = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const monitor = await watcher.monitor();
    const commands: string[][] = [];
    // Each new Queue records BullMQ's version in its `meta` hash when it connects: that write
    // belongs to boot()'s Queue construction, not to the sync under test.
    const isMeta = (key: string | undefined) => (key?.startsWith(`${prefix}:`) ?? false) && key!.endsWith(':meta');
    // Commands a Lua script runs are listed too (source "lua"): only what clients sent counts.
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((a) => a.startsWith(`${prefix}:`)) && !isMeta(args[1])) commands.push(args);
    });
    try {
      const value = await run();
      // MONITOR lines trail the replies: a PING through the monitored server marks the end.
      const marker = `${prefix}:end-of-run`;
      await new Promise<void>((resolve) => {
        monitor.on('monitor', (_time: string, args: string[]) => {
          if (args[1] === marker) resolve();
        });
        void watcher.duplicate().exists(marker).then(() => {}, () => {});
      });
      return { value, commands: commands.filter((c) => c[1] !== marker) };
    } finally {
      monitor.disconnect();
      watcher.disconnect();
    }
  }

  it('an unchanged configuration costs one read per queue and no write; one change costs one upsert', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    const base = Array.from({ length: 300 }, (_, i) => source(`m${i}`));
    await boot(prefix, base);
    const same = await commandsUnder(prefix, () => boot(prefix, base));
    expect(same.value).toEqual({ upserted: [], removed: [], unchanged: 300 + MAINTENANCE_SCHEDULES.length });
    expect(same.commands.map((c) => c[0]!.toLowerCase()).sort()).toEqual(['hgetall', 'hgetall', 'hgetall', 'zcard', 'zcard', 'zcard']);

    const one = await commandsUnder(prefix, () => boot(prefix, base.map((s) => (s.id === 'm7' ? source('m7', { schedule: { every: 120_000 } }) : s))));
    expect(one.value.upserted).toEqual(['fetch-m7']);
    const writes = one.commands.map((c) => c[0]!.toLowerCase()).filter((c) => !['hgetall', 'zcard'].includes(c));
    // BullMQ's upsert is one script (EVALSHA, or EVAL the first time a connection runs it), then
    // one HSET of the fingerprint into its bucket and one of the bucket's digest.
    expect(writes.filter((c) => c !== 'evalsha' && c !== 'eval')).toEqual(['hset', 'hset']);
    // Reads: the summary of each queue, then the one bucket whose digest changed.
    expect(one.commands.filter((c) => c[0]!.toLowerCase() === 'hgetall').map((c) => c[1]!.split(':').slice(-2).join(':'))).toEqual(
      expect.arrayContaining([`schedulers:${bucketOf('fetch-m7')}`]),
    );
    expect(one.commands.filter((c) => c[0]!.toLowerCase() === 'hgetall')).toHaveLength(4);
    const scripts = one.commands.filter((c) => ['evalsha', 'eval'].includes(c[0]!.toLowerCase()));
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.every((c) => c.includes('fetch-m7'))).toBe(true);
    const recorded = await (async () => {
      const redis = new Redis(REDIS_URL);
      const queues = createQueues(redis, prefix, log);
      try {
        const all: Record<string, string> = {};
        for (let b = 0; b < BUCKETS; b++) Object.assign(all, await redis.hgetall(fingerprintBucketKey(queues.ingest, b)));
        return all;
      } finally {
        await closeQueues(queues);
        redis.disconnect();
      }
    })();
    expect(Object.keys(recorded)).toHaveLength(300);
    expect(recorded['fetch-m7']).toBe(JSON.stringify(['fetch', 120_000, null, null, { sourceId: 'm7' }]));
  });

  it('reads the schedulers themselves when no fingerprints are recorded (a deployment from before them), then records them', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    const base = Array.from({ length: 30 }, (_, i) => source(`l${i}`));
    await boot(prefix, base);
    const before = await nextRuns(prefix);
    const redis = new Redis(REDIS_URL);
    const queues = createQueues(redis, prefix, log);
    try {
      for (const q of Object.values(queues)) await redis.del(fingerprintKey(q));
      // One source changed while the fingerprints were missing: only it is upserted.
      const result = await boot(prefix, [...base.filter((s) => s.id !== 'l3'), source('l3', { schedule: { every: 5_000 } })]);
      expect(result).toEqual({ upserted: ['fetch-l3'], removed: [], unchanged: 29 + MAINTENANCE_SCHEDULES.length });
      for (const s of base) expect(await redis.hget(fingerprintBucketKey(queues.ingest, bucketOf(`fetch-${s.id}`)), `fetch-${s.id}`)).not.toBeNull();
      // The next sync of the same configuration trusts the rewritten fingerprints: nothing to do.
      const again = await boot(prefix, [...base.filter((s) => s.id !== 'l3'), source('l3', { schedule: { every: 5_000 } })]);
      expect(again).toEqual({ upserted: [], removed: [], unchanged: 30 + MAINTENANCE_SCHEDULES.length });
      const after = await nextRuns(prefix);
      for (const id of ['fetch-l0', 'fetch-l29']) expect(after.get(id)).toEqual(before.get(id));
    } finally {
      await closeQueues(queues);
      redis.disconnect();
    }
  });

  it('syncs once per configuration: one elected process among concurrent starts, the rest skip', async () => {
    const prefix = testPrefix('sched');
    prefixes.push(prefix);
    const sources = Array.from({ length: 20 }, (_, i) => source(`e${i}`));
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, prefix, log);
    try {
      const desired = desiredSchedules(sources);
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => syncSchedulesOnce(redis, prefix, queues, desired, log)));
      expect(results.filter((r) => !r.skipped)).toHaveLength(1);
      expect(results.filter((r) => r.skipped).length).toBe(4);
      expect(await redis.get(redisKey(prefix, 'schedules', 'hash'))).toBe(schedulesHash(desired));
      expect(await redis.exists(redisKey(prefix, 'schedules', 'lock'))).toBe(0);
      expect(await syncSchedulesOnce(redis, prefix, queues, desired, log)).toEqual({ skipped: true, reason: 'up to date' });

      // Removed by hand (e.g. on the board): a plain start trusts the hash, a forced sync restores it.
      await queues.ingest.removeJobScheduler('fetch-e4');
      expect(await syncSchedulesOnce(redis, prefix, queues, desired, log)).toMatchObject({ skipped: true });
      expect(await syncSchedulesOnce(redis, prefix, queues, desired, log, { force: true })).toMatchObject({ skipped: false, upserted: ['fetch-e4'], removed: [] });

      // A new configuration is synced by the next start.
      const grown = desiredSchedules([...sources, source('e20')]);
      expect(await syncSchedulesOnce(redis, prefix, queues, grown, log)).toMatchObject({ skipped: false, upserted: ['fetch-e20'] });
    } finally {
      await closeQueues(queues);
      redis.disconnect();
    }
  });
});

describe('planSchedules', () => {
  const existing = (id: string, extra: Partial<ExistingSchedule> = {}): ExistingSchedule => ({ id, name: 'fetch', every: 60_000, data: { sourceId: id.replace(/^fetch-/, '') }, ...extra });
  const none = { ingest: new Map<string, string>(), rollup: new Map<string, string>(), maintenance: new Map<string, string>() };

  it('is a pure diff: new and changed are upserted, unwanted removed, equal left alone', () => {
    const desired = desiredSchedules([source('a'), source('b'), source('c', { schedule: { pattern: '0 * * * *', tz: 'UTC' } })]).filter((d) => d.job === 'fetch');
    const plan = planSchedules(desired, {
      ...none,
      ingest: fingerprintsOf([existing('fetch-a'), existing('fetch-b', { every: 120_000 }), existing('fetch-gone')]),
      maintenance: fingerprintsOf([existing('old', { name: 'prune', data: {} })]),
    });
    expect(plan.upsert.map((u) => u.schedule.id)).toEqual(['fetch-b', 'fetch-c']);
    expect(plan.remove).toEqual([{ queue: 'ingest', id: 'fetch-gone' }, { queue: 'maintenance', id: 'old' }]);
    expect(plan.unchanged).toBe(1);
  });

  it('sees a changed time zone or payload as a change, and ignores the order of the file', () => {
    const [cron] = desiredSchedules([source('c', { schedule: { pattern: '0 * * * *', tz: 'UTC' } })]);
    expect(planSchedules([cron!], { ...none, ingest: fingerprintsOf([existing('fetch-c', { every: undefined, pattern: '0 * * * *', tz: 'Europe/Paris' })]) }).upsert).toHaveLength(1);
    expect(planSchedules([cron!], { ...none, ingest: fingerprintsOf([existing('fetch-c', { every: undefined, pattern: '0 * * * *', tz: 'UTC' })]) }).unchanged).toBe(1);
    expect(planSchedules([cron!], { ...none, ingest: fingerprintsOf([existing('fetch-c', { every: undefined, pattern: '0 * * * *', tz: 'UTC', data: { sourceId: 'other' } })]) }).upsert).toHaveLength(1);
    const ab = desiredSchedules([source('a'), source('b')]);
    expect(schedulesHash(ab)).toBe(schedulesHash([...ab].reverse()));
    expect(schedulesHash(ab)).not.toBe(schedulesHash(desiredSchedules([source('a'), source('b', { schedule: { every: 1000 } })])));
  });
});

describe('fingerprint buckets', () => {
  it('spreads ids over every bucket, stably', () => {
    const counts = new Array<number>(BUCKETS).fill(0);
    for (let i = 0; i < 100_000; i++) counts[bucketOf(`fetch-s-${i}`)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(40);
    expect(Math.max(...counts)).toBeLessThan(200);
    expect(bucketOf('fetch-bbc-world')).toBe(bucketOf('fetch-bbc-world'));
  });
});
