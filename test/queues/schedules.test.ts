import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createQueues, closeQueues } from '../../src/queues/queues.ts';
import { desiredSchedules, syncSchedules, MAINTENANCE_SCHEDULES } from '../../src/queues/schedules.ts';
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
      return await syncSchedules(queues, desiredSchedules(sources), log);
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
});
