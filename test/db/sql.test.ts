import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The typed SQL layer must return what its types claim: Dates and numbers, not pg strings.
describe('sql(em)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sql');
    await db.pool.query(`insert into source (id, kind, last_success_at, backoff_until) values ('s', 'feed', '2026-11-01T10:00:00Z', null)`);
    await db.pool.query(`insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer) values ('s', 'x', 't', '2026-11-01T09:30:00Z', now(), -0.25, 'v')`);
  });
  afterAll(() => db.drop());

  it('returns timestamptz as Date and bigint ids as numbers', async () => {
    const em = db.orm.em.fork();
    const source = await sql(em).selectFrom('source').selectAll().where('id', '=', 's').executeTakeFirstOrThrow();
    expect(source.last_success_at).toBeInstanceOf(Date);
    expect(source.last_success_at?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(source.backoff_until).toBeNull();
    const article = await sql(em).selectFrom('article').select(['id', 'published_at', 'sentiment']).executeTakeFirstOrThrow();
    expect(typeof article.id).toBe('number');
    expect(article.published_at).toEqual(new Date('2026-11-01T09:30:00Z'));
    expect(article.sentiment).toBe(-0.25);
  });
});
