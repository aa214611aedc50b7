import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { checkLimit, collectStatus, globToLike, nextRunText, renderStatus, StatusFilterError, table } from '../../src/cli/status.ts';
import { syncConfig } from '../../src/db/sync.ts';
import type { SourceConfig } from '../../src/config.ts';
import { createRedis } from '../../src/queues/connection.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { desiredSchedules, syncSchedules } from '../../src/queues/schedules.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';
import { runCli, writeSourcesFile } from '../support/processes.ts';

const log = pino({ level: 'silent' });
const source = (id: string, extra: Partial<SourceConfig> = {}): SourceConfig => ({ id, kind: 'feed', url: `https://example.org/${id}.xml`, enabled: true, schedule: { every: 60_000 }, ...extra });

describe('status helpers (pure)', () => {
  it('turns a glob into an escaped LIKE pattern', () => {
    expect(globToLike('bbc-*')).toBe('bbc-%');
    expect(globToLike('a?c')).toBe('a_c');
    expect(globToLike('100%_x')).toBe('100\\%\\_x');
  });

  it('checks --limit', () => {
    expect(checkLimit(undefined)).toBeUndefined();
    expect(checkLimit('25')).toBe(25);
    for (const bad of ['0', '-3', '2.5', 'ten', '10001']) expect(() => checkLimit(bad)).toThrow(StatusFilterError);
  });

  it('shows the backoff, not the next scheduled run, for a source that is backing off', () => {
    const now = new Date('2026-12-02T10:00:00Z');
    expect(nextRunText({ enabled: true, next_run: '2026-12-02T10:00:48Z', backoff_until: null }, now)).toBe('in 48s');
    expect(nextRunText({ enabled: true, next_run: '2026-12-02T10:00:48Z', backoff_until: '2026-12-02T10:20:00Z' }, now)).toBe('backing off, resumes in 20m');
    expect(nextRunText({ enabled: false, next_run: null, backoff_until: null }, now)).toBe('-');
    expect(nextRunText({ enabled: true, next_run: null, backoff_until: null }, now)).toBe('not scheduled');
  });

  it('renders a table of 200k rows without overflowing the stack', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [`source-${i}`, 'feed', 'x']);
    const text = table([['id', 'kind', 'note'], ...rows]);
    expect(text.split('\n')).toHaveLength(200_001);
    expect(text.split('\n')[1]).toBe('source-0       feed  x');
  });
});

describe('status against Postgres and Redis', () => {
  let db: TestDatabase;
  let queues: Queues;
  let redis: ReturnType<typeof createRedis>;
  const prefix = testPrefix('status');
  const now = new Date();

  beforeAll(async () => {
    db = await createTestDatabase('status');
    const sources = [...Array.from({ length: 120 }, (_, i) => source(`feed-${String(i).padStart(3, '0')}`)), source('bbc-world'), source('bbc-business'), source('off', { enabled: false })];
    await syncConfig(db.orm.em.fork(), { sources, entities: [] });
    await db.pool.query(`update source set consecutive_failures = 5, last_error = 'HTTP 503', backoff_until = now() + interval '20 minutes' where id = 'bbc-world'`);
    await db.pool.query(`update source set consecutive_failures = 1, last_error = 'timeout' where id = 'feed-007'`);
    redis = createRedis(REDIS_URL, 'worker');
    queues = createQueues(redis, prefix, log);
    await syncSchedules(redis, queues, desiredSchedules(sources), log);
  });
  afterAll(async () => {
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  it('summarises every source but lists one page by default', async () => {
    const status = await collectStatus(db.orm, queues, now);
    expect(status.summary).toEqual({ sources: 123, enabled: 122, failing: 2, backing_off: 1, never_succeeded: 122, fetch_schedulers: 122 });
    expect(status.sources).toHaveLength(50);
    expect(status.truncated).toBe(true);
    const text = renderStatus(status, now);
    expect(text).toMatch(/^SOURCES {2}122 enabled of 123, 2 failing, 1 backing off, 122 never succeeded; 122 fetch scheduler\(s\)\n/);
    expect(text).toContain('… first 50; narrow with --failing');
  });

  it('filters: --failing lists the worst first and shows the backoff instead of the next run', async () => {
    const status = await collectStatus(db.orm, queues, now, { failing: true });
    expect(status.sources.map((s) => [s.id, s.consecutive_failures])).toEqual([
      ['bbc-world', 5],
      ['feed-007', 1],
    ]);
    expect(status.truncated).toBe(false);
    expect(status.sources[0]!.next_run).not.toBeNull();
    const text = renderStatus(status, now);
    const world = text.split('\n').find((l) => l.startsWith('bbc-world'))!;
    expect(world).toMatch(/backing off, resumes in (19|20)m/);
    expect(world).not.toMatch(/ in \d+s /);
    const feed = text.split('\n').find((l) => l.startsWith('feed-007'))!;
    expect(feed).toMatch(/ in \d+s /);
  });

  it('filters: --source PATTERN and --limit', async () => {
    expect((await collectStatus(db.orm, queues, now, { source: 'bbc-*' })).sources.map((s) => s.id)).toEqual(['bbc-business', 'bbc-world']);
    const page = await collectStatus(db.orm, queues, now, { source: 'feed-1*', limit: 5 });
    expect(page.sources.map((s) => s.id)).toEqual(['feed-100', 'feed-101', 'feed-102', 'feed-103', 'feed-104']);
    expect(page.truncated).toBe(true);
    const none = await collectStatus(db.orm, queues, now, { source: 'nope*' });
    expect(renderStatus(none, now)).toContain('no source matches (id like "nope*")');
  });

  it('the CLI passes the filters and refuses a bad --limit (exit 2)', async () => {
    const env = { DATABASE_URL: db.url, REDIS_URL, QUEUE_PREFIX: prefix };
    const ok = await runCli(['status', '--failing', '--json'], env);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { sources: { id: string }[] }).sources.map((s) => s.id)).toEqual(['bbc-world', 'feed-007']);
    const bad = await runCli(['status', '--limit', 'lots'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--limit: must be a whole number/);
    const misplaced = await runCli(['prune', '--failing'], env);
    expect(misplaced.code).toBe(2);
  }, 180_000);

  it('`enqueue reload` syncs a changed file, and refuses an invalid one without changing anything', async () => {
    const file = writeSourcesFile({ sources: [{ id: 'bbc-world', kind: 'feed', url: 'https://example.org/w.xml' }, { id: 'added', kind: 'feed', url: 'https://example.org/a.xml', every: '5m' }] });
    const env = { DATABASE_URL: db.url, REDIS_URL, QUEUE_PREFIX: prefix, SOURCES_FILE: file };
    const ok = await runCli(['reload'], env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^reloaded .*sources\.json: 2 source\(s\) \(2 changed, 121 disabled\).*; 2 scheduler\(s\) upserted, 121 removed, 4 unchanged\n$/);
    const enabled = await db.pool.query(`select id from source where enabled order by id`);
    expect(enabled.rows.map((r) => r.id)).toEqual(['added', 'bbc-world']);
    expect((await queues.ingest.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort()).toEqual(['fetch-added', 'fetch-bbc-world']);

    writeFileSync(file, '{"sources": [{"id": "Bad Id", "kind": "feed"}]}');
    const refused = await runCli(['reload'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^enqueue: reload refused, nothing changed: .*sources\.json \$\.sources\[0\]\.id must be lower-case/);
    expect((await db.pool.query(`select id from source where enabled order by id`)).rows.map((r) => r.id)).toEqual(['added', 'bbc-world']);
    expect((await queues.ingest.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort()).toEqual(['fetch-added', 'fetch-bbc-world']);
  }, 180_000);
});
