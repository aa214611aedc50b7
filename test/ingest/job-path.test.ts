import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeRun, closeRunWith, openRun, openRunReading, type OpenedRun } from '../../src/db/job-runs.ts';
import { openOrm } from '../../src/db/orm.ts';
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
    expect(await row(opened.run.id)).toEqual({ status: 'running', stats: null, error: null, source_id: 's', finished: false });
    const missing = await openRunReading(db.orm.em.fork(), { ...start, sourceId: 'nope' }, 'nope');
    expect(missing.source).toBeUndefined();
    expect((await row(missing.run.id)).status).toBe('running');
  });

  /** Closes a 304 the way the fetch job does: the fenced source write and the row, in one statement. */
  const close304 = (run: OpenedRun, token: number, etag: string) =>
    closeRunWith(
      db.orm.em.fork(),
      run,
      (q) => successWrite(q, 's', token, { etag, lastModified: null }, at).returning('id'),
      { status: 'completed', stats: { not_modified: true } },
      { status: 'completed', stats: { skipped: 'superseded' } },
    );

  it('a 304 with a newer token writes the validators and closes the row completed, together', async () => {
    const { run } = await openRunReading(db.orm.em.fork(), start, 's');
    const result = await close304(run, 6, '"new"');
    expect(result).toEqual({ applied: true, closed: true });
    expect(await source()).toEqual({ fence: 6, etag: '"new"', consecutive_failures: 0 });
    expect(await row(run.id)).toMatchObject({ status: 'completed', stats: { not_modified: true }, finished: true });
  });

  it('a stale token writes nothing to the source and the row says superseded', async () => {
    const { run } = await openRunReading(db.orm.em.fork(), start, 's');
    const result = await close304(run, 5, '"stale"');
    expect(result).toEqual({ applied: false, closed: true });
    expect(await source()).toEqual({ fence: 5, etag: '"old"', consecutive_failures: 0 });
    expect(await row(run.id)).toMatchObject({ status: 'completed', stats: { skipped: 'superseded' } });
  });

  it('a failure counts on the source and closes the row failed; a row already closed is left alone', async () => {
    const { run } = await openRunReading(db.orm.em.fork(), start, 's');
    const failed = { status: 'failed', error: 'fetch s: HTTP 500' } as const;
    expect(await closeRunWith(db.orm.em.fork(), run, (q) => failureWrite(q, 's', 7, failed.error, at).returning('id'), failed, failed)).toEqual({ applied: true, closed: true });
    expect(await source()).toEqual({ fence: 7, etag: '"old"', consecutive_failures: 1 });
    expect(await row(run.id)).toMatchObject({ status: 'failed', error: 'fetch s: HTTP 500', stats: null });
    // Closing again (a stale retry of the wrapper) changes neither the row nor, with the same token, the source.
    expect(await closeRunWith(db.orm.em.fork(), run, (q) => failureWrite(q, 's', 7, 'again', at).returning('id'), failed, failed)).toEqual({ applied: false, closed: false });
    expect(await source()).toEqual({ fence: 7, etag: '"old"', consecutive_failures: 1 });
  });

  it('the statements run named, planned once per connection; inside a transaction they join it', async () => {
    // One connection, so the statements this ORM prepared are the ones its session lists.
    const orm = await openOrm(db.url, { pool: { min: 0, max: 1 } });
    try {
      const run = await openRun(orm.em.fork(), start);
      expect(await closeRun(orm.em.fork(), run, { status: 'completed', stats: { n: 1 } })).toBe(true);
      const pool = await orm.em.getConnection().getNativeClient();
      const prepared = (await pool.query(`select name, statement from pg_prepared_statements order by name`)).rows;
      expect(prepared.map((p) => p.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^newspulse_\d+$/)]));
      expect(prepared.some((p) => /^insert into "job_run"/.test(p.statement))).toBe(true);
      expect(prepared.some((p) => /^update "job_run"/.test(p.statement))).toBe(true);

      // Rolled back with the transaction it ran in.
      await expect(
        orm.em.fork().transactional(async (tx) => {
          await openRun(tx, { ...start, jobId: 'rolled-back' });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect((await db.pool.query(`select count(*)::int as n from job_run where job_id = 'rolled-back'`)).rows[0].n).toBe(0);
    } finally {
      await orm.close(true);
    }
  });

  it('a row is named by its id and its partition key: a different started_at closes nothing', async () => {
    const run = await openRun(db.orm.em.fork(), start);
    expect(await closeRun(db.orm.em.fork(), { ...run, startedAt: new Date(run.startedAt.getTime() + 1) }, { status: 'completed' })).toBe(false);
    expect(await row(run.id)).toMatchObject({ status: 'running', finished: false });
    expect(await closeRun(db.orm.em.fork(), run, { status: 'failed', error: 'boom' })).toBe(true);
    expect(await row(run.id)).toMatchObject({ status: 'failed', error: 'boom', stats: null, finished: true });
    // Closed once: a second close is a no-op.
    expect(await closeRun(db.orm.em.fork(), run, { status: 'completed' })).toBe(false);
  });

  it('reads the source as the fetch path needs it: the fence and the backoff deadline as a number and a date', async () => {
    await db.pool.query(`update source set backoff_until = '2026-12-01T10:05:00.123Z', consecutive_failures = 3 where id = 's'`);
    const { source: read } = await openRunReading(db.orm.em.fork(), start, 's');
    expect(read).toEqual({
      id: 's',
      kind: 'feed',
      url: 'http://127.0.0.1/s.xml',
      query: null,
      enabled: true,
      etag: '"old"',
      last_modified: null,
      consecutive_failures: 3,
      backoff_until: new Date('2026-12-01T10:05:00.123Z'),
      fence: 5,
    });
  });
});
