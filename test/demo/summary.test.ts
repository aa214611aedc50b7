import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoProgress, isSettled, lastRunId } from '../../src/demo/summary.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('demo_summary');
});

afterAll(async () => {
  await db?.drop();
});

async function fetchRun(sourceId: string, status: string, stats: object | null): Promise<void> {
  await db.pool.query(
    `insert into job_run (queue, job_name, job_id, source_id, attempt, status, started_at, finished_at, stats)
     values ('ingest', 'fetch', $1, $2, 1, $3, clock_timestamp(), clock_timestamp(), $4)`,
    [`${sourceId}-${status}`, sourceId, status, stats === null ? null : JSON.stringify(stats)],
  );
}

describe('demoProgress', () => {
  it('counts a source as fetched only after a run that fetched it, not after a run that skipped', async () => {
    await db.pool.query('truncate job_run');
    await fetchRun('before', 'completed', { fetched: 3, inserted: 3 });
    const after = await lastRunId(db.orm);
    // What the demo's first round looks like when its own fetch of a source waits for a busy host:
    // that source's scheduled run finds the lease held and completes as a skip.
    await fetchRun('demo-trends', 'completed', { skipped: 'concurrent' });
    await fetchRun('demo-off', 'completed', { skipped: 'disabled' });
    await fetchRun('demo-backoff', 'completed', { skipped: 'backoff', backoff_until: '2026-12-02T04:00:00.000Z', consecutive_failures: 2 });
    await fetchRun('demo-late', 'completed', { skipped: 'superseded' });
    await fetchRun('demo-broken', 'failed', null);
    await fetchRun('demo-rss', 'completed', { fetched: 12, inserted: 12, not_modified: false });
    await fetchRun('demo-atom', 'completed', { fetched: 0, inserted: 0, not_modified: true });

    const progress = await demoProgress(db.orm, after);
    expect(progress.fetched).toEqual(['demo-atom', 'demo-rss']);
    const settledLike = { ...progress, hourRollups: 1, dayRollups: 1, dirtyMarks: 0 };
    expect(isSettled(settledLike, ['demo-rss', 'demo-atom'])).toBe(true);
    expect(isSettled(settledLike, ['demo-rss', 'demo-atom', 'demo-trends'])).toBe(false);

    // Once the waiting fetch lands, the source counts.
    await fetchRun('demo-trends', 'completed', { fetched: 5, inserted: 5, trends: 4, not_modified: false });
    expect((await demoProgress(db.orm, after)).fetched).toEqual(['demo-atom', 'demo-rss', 'demo-trends']);
  });
});
