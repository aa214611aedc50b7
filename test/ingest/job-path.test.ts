import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeRunWith, openRunReading } from '../../src/db/job-runs.ts';
import { failureWrite, successWrite } from '../../src/ingest/source-state.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * The fetch path's two statements: open the row + read the source, then close the row + the
 * fenced source write. What they must keep from the statements they replaced: the fence
 * refuses a stale holder's write as a whole, and the row says what happened either way.
 */
describe('fetch job path statements (Postgres)', () => {
  let db: TestDatabase;
  const start = { queue: 'ingest', jobName: 'fetch', jobId: '42', sourceId: 's', attempt: 1 };
  const at = new Date('2026-12-01T10:00:00Z');

  beforeAll(async () => {
    db = await createTestDatabase('jobpath');
  });
  afterAll(() => db?.drop());
  beforeEach(async () => {
    await db.pool.query('truncate job_run');
    await db.pool.query(`delete from source where id = 's'`);
    await db.pool.query(`insert into source (id, kind, url, fence, etag) values ('s', 'feed', 'http://127.0.0.1/s.xml', 5, '"old"')`);
  });

  const row = async (id: number) => (await db.pool.query('select status, stats, error, source_id, finished_at is not null as finished from job_run where id = $1', [id])).rows[0];
  const source = async () => (await db.pool.query(`select fence::int, etag, consecutive_failures from source where id = 's'`)).rows[0];

  it('opens a running row and reads the source in one statement; an unknown source still gets its row', async () => {
    const opened = await openRunReading(db.orm.em.fork(), start, 's');
    expect(opened.source).toMatchObject({ id: 's', fence: 5, etag: '"old"', enabled: true });
    expect(await row(opened.runId)).toEqual({ status: 'running', stats: null, error: null, source_id: 's', finished: false });
    const missing = await openRunReading(db.orm.em.fork(), { ...start, sourceId: 'nope' }, 'nope');
    expect(missing.source).toBeUndefined();
    expect((await row(missing.runId)).status).toBe('running');
  });

  /** Closes a 304 the way the fetch job does: the fenced source write and the row, in one statement. */
  const close304 = (runId: number, token: number, etag: string) =>
    closeRunWith(
      db.orm.em.fork(),
      runId,
      (q) => successWrite(q, 's', token, { etag, lastModified: null }, at).returning('id'),
      { status: 'completed', stats: { not_modified: true } },
      { status: 'completed', stats: { skipped: 'superseded' } },
    );

  it('a 304 with a newer token writes the validators and closes the row completed, together', async () => {
    const { runId } = await openRunReading(db.orm.em.fork(), start, 's');
    const result = await close304(runId, 6, '"new"');
    expect(result).toEqual({ applied: true, closed: true });
    expect(await source()).toEqual({ fence: 6, etag: '"new"', consecutive_failures: 0 });
    expect(await row(runId)).toMatchObject({ status: 'completed', stats: { not_modified: true }, finished: true });
  });

  it('a stale token writes nothing to the source and the row says superseded', async () => {
    const { runId } = await openRunReading(db.orm.em.fork(), start, 's');
    const result = await close304(runId, 5, '"stale"');
    expect(result).toEqual({ applied: false, closed: true });
    expect(await source()).toEqual({ fence: 5, etag: '"old"', consecutive_failures: 0 });
    expect(await row(runId)).toMatchObject({ status: 'completed', stats: { skipped: 'superseded' } });
  });

  it('a failure counts on the source and closes the row failed; a row already closed is left alone', async () => {
    const { runId } = await openRunReading(db.orm.em.fork(), start, 's');
    const failed = { status: 'failed', error: 'fetch s: HTTP 500' } as const;
    expect(await closeRunWith(db.orm.em.fork(), runId, (q) => failureWrite(q, 's', 7, failed.error, at).returning('id'), failed, failed)).toEqual({ applied: true, closed: true });
    expect(await source()).toEqual({ fence: 7, etag: '"old"', consecutive_failures: 1 });
    expect(await row(runId)).toMatchObject({ status: 'failed', error: 'fetch s: HTTP 500', stats: null });
    // Closing again (a stale retry of the wrapper) changes neither the row nor, with the same token, the source.
    expect(await closeRunWith(db.orm.em.fork(), runId, (q) => failureWrite(q, 's', 7, 'again', at).returning('id'), failed, failed)).toEqual({ applied: false, closed: false });
    expect(await source()).toEqual({ fence: 7, etag: '"old"', consecutive_failures: 1 });
  });
});
