import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMonths, ensureAhead, ensurePartitions, listPartitions, monthOf, monthsInRange, partitionMonth, partitionName } from '../../src/db/partitions.ts';
import { openOrm } from '../../src/db/orm.ts';
import { sql } from '../../src/db/sql.ts';
import { persistItems } from '../../src/ingest/persist.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const d = (s: string) => new Date(s);

describe('month partition names and ranges (pure)', () => {
  it('names UTC months and reads the names back; anything else is not ours', () => {
    expect(partitionName('article', d('2026-12-31T23:59:59.999Z'))).toBe('article_2026_12');
    expect(partitionName('job_run', d('2027-01-01T00:00:00Z'))).toBe('job_run_2027_01');
    expect(partitionMonth('article', 'article_2026_02')?.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    // article_entity_2026_02 is not a partition of article, and month 13 is no month.
    expect(partitionMonth('article', 'article_entity_2026_02')).toBeNull();
    expect(partitionMonth('article', 'article_2026_13')).toBeNull();
    expect(partitionMonth('article', 'article_default')).toBeNull();
    expect(monthOf(d('2026-03-31T23:00:00-05:00')).toISOString()).toBe('2026-04-01T00:00:00.000Z');
    expect(addMonths(d('2026-11-01T00:00:00Z'), 3).toISOString()).toBe('2027-02-01T00:00:00.000Z');
    expect(monthsInRange(d('2026-11-15T00:00:00Z'), d('2027-01-01T00:00:00Z')).map((m) => m.toISOString().slice(0, 7))).toEqual(['2026-11', '2026-12']);
    expect(monthsInRange(d('2026-11-15T00:00:00Z'), d('2026-11-15T00:00:00Z'))).toEqual([]);
  });
});

describe('ensurePartitions / ensureAhead', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('partitions');
    await db.pool.query(`insert into source (id, kind) values ('s1', 'feed')`);
    await db.pool.query(`insert into entity (slug, name) values ('acme', 'Acme')`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates exactly the missing months, is idempotent, and two processes at once make each month once', async () => {
    const em = db.orm.em.fork();
    const created = await em.transactional((tx) => ensurePartitions(sql(tx), 'article', d('2024-01-10T00:00:00Z'), d('2024-04-01T00:00:00Z')));
    expect(created).toEqual(['article_2024_01', 'article_2024_02', 'article_2024_03']);
    expect(await em.transactional((tx) => ensurePartitions(sql(tx), 'article', d('2024-01-10T00:00:00Z'), d('2024-04-01T00:00:00Z')))).toEqual([]);
    // A bound is the UTC month, whatever the session zone: a row at the last ms of March lands in March.
    await db.pool.query(`set time zone 'America/St_Johns'`);
    await db.pool.query(
      `insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer) values ('s1', 'edge', 't', '2024-03-31T23:59:59.999Z', now(), 0, 'v')`,
    );
    const { rows } = await db.pool.query(`select tableoid::regclass::text as part from article where external_id = 'edge'`);
    expect(rows[0].part).toBe('article_2024_03');

    const second = await openOrm(db.url);
    try {
      const [a, b] = await Promise.all([
        db.orm.em.fork().transactional((tx) => ensurePartitions(sql(tx), 'job_run', d('2023-01-01T00:00:00Z'), d('2023-07-01T00:00:00Z'))),
        second.em.fork().transactional((tx) => ensurePartitions(sql(tx), 'job_run', d('2023-01-01T00:00:00Z'), d('2023-07-01T00:00:00Z'))),
      ]);
      // Both may report a month (IF NOT EXISTS), but every month exists exactly once.
      expect(new Set([...a, ...b]).size).toBe(6);
    } finally {
      await second.close(true);
    }
    const months = (await listPartitions(sql(db.orm.em.fork()), 'job_run')).map((p) => p.name).filter((n) => n.startsWith('job_run_2023'));
    expect(months).toEqual(['job_run_2023_01', 'job_run_2023_02', 'job_run_2023_03', 'job_run_2023_04', 'job_run_2023_05', 'job_run_2023_06']);
  });

  it('the partitions job keeps three months ahead on the database clock', async () => {
    const { rows } = await db.pool.query<{ now: Date }>('select now() as now');
    const fourAhead = partitionName('article_entity', addMonths(monthOf(rows[0]!.now), 4));
    expect(await db.orm.em.fork().transactional((tx) => ensureAhead(sql(tx), 4))).toEqual(
      expect.arrayContaining([fourAhead, partitionName('article', addMonths(monthOf(rows[0]!.now), 4))]),
    );
    expect(await db.orm.em.fork().transactional((tx) => ensureAhead(sql(tx), 4))).toEqual([]);
  });

  it('persist makes the month of an article dated where no partition exists yet', async () => {
    const stored = await db.orm.em.fork().transactional((tx) =>
      persistItems(tx, {
        sourceId: 's1',
        fetchedAt: new Date(),
        scorerId: 'test',
        trends: [],
        articles: [
          { externalId: 'far', url: null, urlKey: 'far', title: 'far', summary: null, author: null, language: null, publishedAt: d('2031-05-05T05:05:05Z'), sentiment: 0.5, entityIds: [1], entitySentiment: new Map() },
        ],
      }),
    );
    expect(stored).toMatchObject({ inserted: 1, entityLinks: 1 });
    const { rows } = await db.pool.query(`select (select tableoid::regclass::text from article where external_id = 'far') as a, (select tableoid::regclass::text from article_entity) as ae`);
    expect(rows[0]).toEqual({ a: 'article_2031_05', ae: 'article_entity_2031_05' });
  });
});
