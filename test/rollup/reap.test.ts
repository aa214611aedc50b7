import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker, type Job } from 'bullmq';
import { ABANDONED_ERROR, reapOrphanedRuns } from '../../src/rollup/reap.ts';
import { reap } from '../../src/rollup/reap.job.ts';
import type { JobContext } from '../../src/queues/context.ts';
import type { Services } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('rollup_reap');
});
afterAll(async () => {
  await db?.drop();
});

async function run(queue: string, jobId: string | null, startedAgoMs: number, status = 'running'): Promise<number> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into job_run (queue, job_name, job_id, attempt, status, started_at) values ($1, 'x', $2, 1, $3, clock_timestamp() - $4 * interval '1 millisecond') returning id`,
    [queue, jobId, status, startedAgoMs],
  );
  return Number(rows[0]?.id);
}

async function statusOf(id: number): Promise<{ status: string; error: string | null; finished: boolean }> {
  const { rows } = await db.pool.query(`select status, error, finished_at is not null as finished from job_run where id = $1`, [id]);
  return rows[0] as { status: string; error: string | null; finished: boolean };
}

describe('reapOrphanedRuns', () => {
  it('abandons running rows whose job is gone, and older attempts of a job that is active again', async () => {
    await db.pool.query('truncate job_run');
    const MIN = 60_000;
    const dead = await run('ingest', 'gone', 10 * MIN);
    const alive = await run('ingest', 'busy', 10 * MIN);
    const killedAttempt = await run('rollup', 'rerun', 20 * MIN);
    const rerunning = await run('rollup', 'rerun', 5 * MIN);
    const oldOfYoung = await run('rollup', 'fresh-rerun', 20 * MIN);
    const youngRerun = await run('rollup', 'fresh-rerun', 1_000);
    const young = await run('ingest', 'starting', 1_000);
    const finished = await run('ingest', 'gone', 10 * MIN, 'completed');
    const noJobId = await run('maintenance', null, 10 * MIN);
    const twiceDead = [await run('ingest', 'dead2', 10 * MIN), await run('ingest', 'dead2', 9 * MIN)];

    const active = new Set(['ingest/busy', 'rollup/rerun', 'rollup/fresh-rerun', 'ingest/starting']);
    const asked: string[] = [];
    const stats = await reapOrphanedRuns(
      db.orm.em.fork(),
      async (queue, jobId) => {
        asked.push(`${queue}/${jobId}`);
        return active.has(`${queue}/${jobId}`);
      },
      { olderThanMs: 2 * MIN },
    );
    expect(stats.abandoned).toBe(6);
    expect(asked).not.toContain('ingest/starting');
    for (const id of [dead, killedAttempt, oldOfYoung, noJobId, ...twiceDead]) {
      expect(await statusOf(id), `row ${id}`).toEqual({ status: 'abandoned', error: ABANDONED_ERROR, finished: true });
    }
    for (const id of [alive, rerunning, youngRerun, young]) expect((await statusOf(id)).status, `row ${id}`).toBe('running');
    expect((await statusOf(finished)).status).toBe('completed');

    // Nothing left to do on a second pass.
    expect((await reapOrphanedRuns(db.orm.em.fork(), async (q, j) => active.has(`${q}/${j}`), { olderThanMs: 2 * MIN })).abandoned).toBe(0);
  });

  it('the reap job asks BullMQ: an active job keeps its row, a waiting or missing one does not', async () => {
    await db.pool.query('truncate job_run');
    const prefix = testPrefix('reap');
    const connection = workerRedis();
    const queues = { ingest: new Queue('ingest', { connection, prefix }), rollup: new Queue('rollup', { connection, prefix }), maintenance: new Queue('maintenance', { connection, prefix }) };
    const worker = new Worker('ingest', null, { connection: workerRedis(), prefix });
    try {
      await queues.ingest.add('fetch', { sourceId: 's' }, { jobId: 'active-one' });
      const taken = (await worker.getNextJob('token-1')) as Job | undefined;
      expect(taken?.id).toBe('active-one');
      await queues.ingest.add('fetch', { sourceId: 's' }, { jobId: 'waiting-one' });
      const activeRow = await run('ingest', 'active-one', 600_000);
      const waitingRow = await run('ingest', 'waiting-one', 600_000);
      const missingRow = await run('ingest', 'missing-one', 600_000);
      const unknownQueueRow = await run('elsewhere', 'x', 600_000);
      const services = { queues } as unknown as Services;
      const ctx = { em: db.orm.em.fork(), services } as unknown as JobContext;
      const stats = await reap({}, ctx);
      expect(stats).toMatchObject({ abandoned: 3 });
      expect((await statusOf(activeRow)).status).toBe('running');
      for (const id of [waitingRow, missingRow, unknownQueueRow]) expect((await statusOf(id)).status).toBe('abandoned');
    } finally {
      await worker.close(true);
      await Promise.all(Object.values(queues).map((q) => q.close()));
      connection.disconnect();
      await deletePrefix(prefix);
    }
  });
});
