import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceColumns, syncConfig } from '../../src/db/sync.ts';
import type { EntityConfig, SourceConfig } from '../../src/config.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const entity = (slug: string, extra: Partial<EntityConfig> = {}): EntityConfig => ({ slug, name: slug.toUpperCase(), aliases: [], caseSensitive: true, requireAny: [], exclude: [], ...extra });
const source = (id: string, extra: Partial<SourceConfig> = {}): SourceConfig => ({ id, kind: 'feed', url: `https://example.org/${id}.xml`, enabled: true, schedule: { every: 60_000 }, ...extra });

describe('syncConfig', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sync');
  });
  afterAll(() => db.drop());

  it('is idempotent, updates in place, and disables (never deletes) what left the file', async () => {
    const first = { sources: [source('a'), source('b', { schedule: { pattern: '0 * * * *', tz: 'UTC' } })], entities: [entity('tesla', { aliases: ['TSLA'] }), entity('apple')] };
    await syncConfig(db.orm.em.fork(), first);
    const snapshot = async () => ({
      sources: (await db.pool.query('select id, kind, url, every_ms, pattern, tz, enabled from source order by id')).rows,
      entities: (await db.pool.query('select id, slug, name, aliases, enabled from entity order by slug')).rows,
    });
    const once = await snapshot();
    await syncConfig(db.orm.em.fork(), first);
    expect(await snapshot()).toEqual(once);
    expect(once.sources).toEqual([
      { id: 'a', kind: 'feed', url: 'https://example.org/a.xml', every_ms: 60_000, pattern: null, tz: null, enabled: true },
      { id: 'b', kind: 'feed', url: 'https://example.org/b.xml', every_ms: null, pattern: '0 * * * *', tz: 'UTC', enabled: true },
    ]);

    // A source state written by fetches must survive a re-sync.
    await db.pool.query(`update source set etag = '"v1"', consecutive_failures = 2 where id = 'a'`);
    await db.pool.query(`insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer) values ('b', 'x', 't', now(), now(), 0, 's')`);
    const result = await syncConfig(db.orm.em.fork(), { sources: [source('a', { url: 'https://example.org/new.xml' })], entities: [entity('tesla', { name: 'Tesla Inc' })] });
    expect(result.disabledSources).toEqual(['b']);
    expect(result.disabledEntities).toEqual(['apple']);
    const after = await snapshot();
    expect(after.sources.map((s) => [s.id, s.url, s.enabled])).toEqual([
      ['a', 'https://example.org/new.xml', true],
      ['b', 'https://example.org/b.xml', false],
    ]);
    expect(after.entities.map((e) => [e.slug, e.name, e.enabled, e.id])).toEqual([
      ['apple', 'APPLE', false, once.entities[0].id],
      ['tesla', 'Tesla Inc', true, once.entities[1].id],
    ]);
    const state = await db.pool.query(`select etag, consecutive_failures from source where id = 'a'`);
    expect(state.rows[0]).toEqual({ etag: '"v1"', consecutive_failures: 2 });
    expect((await db.pool.query('select count(*)::int as n from article')).rows[0].n).toBe(1);

    // Back in the file: enabled again, same id.
    await syncConfig(db.orm.em.fork(), first);
    expect((await snapshot()).entities.map((e) => [e.slug, e.enabled, e.id])).toEqual([
      ['apple', true, once.entities[0].id],
      ['tesla', true, once.entities[1].id],
    ]);
  });

  it('survives concurrent syncs from several starters', async () => {
    const config = { sources: [source('c1'), source('c2')], entities: [entity('x1'), entity('x2')] };
    await Promise.all([1, 2, 3, 4].map(() => syncConfig(db.orm.em.fork(), config)));
    expect((await db.pool.query(`select count(*)::int as n from entity where slug in ('x1','x2')`)).rows[0].n).toBe(2);
  });

  it('syncs 100k sources and 10k entities (past the 65,535 bind-parameter limit) and rewrites only what changed', async () => {
    const sources = Array.from({ length: 100_000 }, (_, i) => source(`s${i}`, i % 7 === 0 ? { schedule: { pattern: '*/5 * * * *', tz: 'Europe/Paris' } } : {}));
    const entities = Array.from({ length: 10_000 }, (_, i) => entity(`e${i}`, { aliases: [`Alias ${i}`, `A${i}`], requireAny: i % 3 ? [] : ['market'] }));
    const first = await syncConfig(db.orm.em.fork(), { sources, entities });
    expect(first).toMatchObject({ sources: 100_000, entities: 10_000, changedSources: 100_000, changedEntities: 10_000 });
    const counts = await db.pool.query(`select (select count(*)::int from source where enabled) as s, (select count(*)::int from entity where enabled) as e`);
    expect(counts.rows[0]).toEqual({ s: 100_000, e: 10_000 });
    const sample = await db.pool.query(`select every_ms, pattern, tz from source where id in ('s0', 's1') order by id`);
    expect(sample.rows).toEqual([{ every_ms: null, pattern: '*/5 * * * *', tz: 'Europe/Paris' }, { every_ms: 60_000, pattern: null, tz: null }]);
    const aliases = await db.pool.query(`select aliases, require_any from entity where slug = 'e3'`);
    expect(aliases.rows[0]).toEqual({ aliases: ['Alias 3', 'A3'], require_any: ['market'] });

    // One source changed, one removed, one entity renamed: exactly those rows are written.
    const changed = sources.filter((s) => s.id !== 's99999').map((s) => (s.id === 's5' ? source('s5', { url: 'https://example.org/moved.xml' }) : s));
    const renamed = entities.map((e) => (e.slug === 'e7' ? entity('e7', { name: 'Seven', aliases: e.aliases, requireAny: e.requireAny }) : e));
    const second = await syncConfig(db.orm.em.fork(), { sources: changed, entities: renamed });
    expect(second).toMatchObject({ changedSources: 1, changedEntities: 1, disabledSources: ['s99999'], disabledEntities: [] });
  }, 120_000);

  it('builds one array per column, schedules split into every_ms or pattern + tz', () => {
    const c = sourceColumns([source('a'), source('b', { kind: 'gdelt', url: undefined, query: 'q', enabled: false, schedule: { pattern: '0 * * * *', tz: 'UTC' } })]);
    expect(c).toEqual({
      id: ['a', 'b'],
      kind: ['feed', 'gdelt'],
      url: ['https://example.org/a.xml', null],
      query: [null, 'q'],
      every_ms: [60_000, null],
      pattern: [null, '0 * * * *'],
      tz: [null, 'UTC'],
      enabled: [true, false],
    });
  });

  it('carries text that array literals must escape (quotes, braces, commas, backslashes, "NULL") unchanged', async () => {
    const odd = ['a "quoted", {braced} \\ back', 'NULL', 'null', '', ' spaced ', 'ünï€ødé'];
    const sources = odd.map((q, i) => source(`odd${i}`, { kind: 'gdelt', url: undefined, query: q }));
    await syncConfig(db.orm.em.fork(), { sources, entities: [] });
    const rows = await db.pool.query(`select id, query, url from source where id like 'odd%' order by id`);
    expect(rows.rows).toEqual(odd.map((q, i) => ({ id: `odd${i}`, query: q, url: null })));
    // Unchanged on the second pass: the IS DISTINCT FROM diff sees them equal.
    expect((await syncConfig(db.orm.em.fork(), { sources, entities: [] })).changedSources).toBe(0);
  });
});
