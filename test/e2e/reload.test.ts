import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createQueues, closeQueues, type Queues } from '../../src/queues/queues.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { deletePrefix } from '../support/redis.ts';
import { startTestWorker, type RunningProcess } from '../support/processes.ts';

const feed = (id: string, every = '1h') => ({ id, kind: 'feed', url: `http://127.0.0.1:9/${id}.xml`, every });

describe('config reload on SIGHUP', () => {
  let db: TestDatabase;
  let worker: RunningProcess;
  let env: Record<string, string>;
  let redis: Redis;
  let queues: Queues;

  beforeAll(async () => {
    db = await createTestDatabase('reload');
    ({ worker, env } = await startTestWorker(db.url, 'reload', { entities: [{ slug: 'tesla', name: 'Tesla' }], sources: [feed('one'), feed('two')] }));
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queues = createQueues(redis, env.QUEUE_PREFIX!, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await worker?.stop();
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(env.QUEUE_PREFIX!);
    await db.drop();
  });

  const schedulerIds = async () => (await queues.ingest.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort();

  it('re-syncs sources, entities and schedulers without a restart; refuses an invalid file and keeps running', async () => {
    expect(await schedulerIds()).toEqual(['fetch-one', 'fetch-two']);
    writeFileSync(env.SOURCES_FILE!, JSON.stringify({ entities: [{ slug: 'tesla', name: 'Tesla' }, { slug: 'apple', name: 'Apple' }], sources: [feed('one'), feed('three', '30m')] }));
    worker.child.kill('SIGHUP');
    await worker.waitForLog(/"msg":"config reloaded"/);
    await worker.waitForLog(/"entities":2,"msg":"entity matcher reloaded"/);
    expect(await schedulerIds()).toEqual(['fetch-one', 'fetch-three']);
    expect((await db.pool.query(`select id, enabled from source order by id`)).rows).toEqual([
      { id: 'one', enabled: true },
      { id: 'three', enabled: true },
      { id: 'two', enabled: false },
    ]);
    expect(worker.output()).toMatch(/"upserted":1,"removed":1,"unchanged":5,.*"msg":"job schedulers synced"/);

    writeFileSync(env.SOURCES_FILE!, '{"sources": [{"id": "one", "kind": "feed", "every": "soon"}]');
    worker.child.kill('SIGHUP');
    await worker.waitForLog(/"msg":"config reload refused, running config kept: invalid configuration: SOURCES_FILE: .* is not valid JSON/);
    expect(await schedulerIds()).toEqual(['fetch-one', 'fetch-three']);
    expect((await db.pool.query(`select id from source where enabled order by id`)).rows.map((r) => r.id)).toEqual(['one', 'three']);
    expect(worker.child.exitCode).toBeNull();
    expect(await worker.stop('SIGTERM')).toBe(0);
  });
});
