import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '../../src/cli/enqueue.ts';
import { describeKnown, knownSources, missingSources } from '../../src/cli/source-ids.ts';
import { closeQueues, createQueues } from '../../src/queues/queues.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';

describe('source ids at scale', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('srcids');
  });
  afterAll(() => db.drop());

  it('few sources: lists them all; none: says the config is not synced', async () => {
    expect(describeKnown(await knownSources(db.orm.em.fork(), 'x'), 'x')).toBe('known sources: none: has the worker synced its config?');
    await db.pool.query(`insert into source (id, kind, url, enabled) values ('b', 'feed', 'http://x/b', true), ('a', 'feed', 'http://x/a', true)`);
    expect(await knownSources(db.orm.em.fork(), 'zz')).toEqual({ total: 2, ids: ['a', 'b'] });
    expect(describeKnown({ total: 2, ids: ['a', 'b'] }, 'zz')).toBe('known sources: a, b');
    expect(await missingSources(db.orm.em.fork(), ['zz', 'a', 'b', 'yy'])).toEqual(['zz', 'yy']);
    await db.pool.query(`delete from source`);
  });

  it('100k sources: finds the missing ids among 100k given with one array, and hints with the count and the neighbours', async () => {
    await db.pool.query(`insert into source (id, kind, url, enabled) select 's-' || lpad(i::text, 6, '0'), 'feed', 'http://x/' || i, true from generate_series(0, 99999) i`);
    const asked = Array.from({ length: 100_000 }, (_, i) => `s-${String(i).padStart(6, '0')}`);
    asked[500] = 's-000500x';
    asked.push('nowhere');
    expect(await missingSources(db.orm.em.fork(), asked)).toEqual(['s-000500x', 'nowhere']);
    const known = await knownSources(db.orm.em.fork(), 's-000500x');
    expect(known).toEqual({ total: 100_000, ids: ['s-000499', 's-000500', 's-000501', 's-000502', 's-000503'] });
    expect(describeKnown(known, 's-000500x')).toBe(
      `100,000 known sources; ids next to "s-000500x": s-000499, s-000500, s-000501, s-000502, s-000503; find one with npm run enqueue -- status --source 'PATTERN*'`,
    );
    // Past the last id: the neighbours come from before it.
    expect((await knownSources(db.orm.em.fork(), 'zzz')).ids).toEqual(['s-099995', 's-099996', 's-099997', 's-099998', 's-099999']);
    expect((await knownSources(db.orm.em.fork())).ids).toEqual(['s-000000', 's-000001', 's-000002', 's-000003', 's-000004']);
  });

  it('enqueues thousands of fetches in addBulk chunks: every job, once, in order', async () => {
    const prefix = testPrefix('bulk');
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(redis, prefix, pino({ level: 'silent' }));
    try {
      const payloads = Array.from({ length: 2_500 }, (_, i) => ({ job: 'fetch' as const, data: { sourceId: `s-${i}` } }));
      const jobs = await enqueue(queues, payloads);
      expect(jobs.map((j) => (j.data as { sourceId: string }).sourceId)).toEqual(payloads.map((p) => p.data.sourceId));
      expect(new Set(jobs.map((j) => j.id)).size).toBe(2_500);
      expect(await queues.ingest.getJobCountByTypes('waiting', 'prioritized', 'delayed')).toBe(2_500);
    } finally {
      await closeQueues(queues);
      redis.disconnect();
      await deletePrefix(prefix);
    }
  });
});
