import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors.ts';
import { parseSource } from '../../src/sources/index.ts';
import type { ParseResult } from '../../src/sources/types.ts';
import { FETCHED_AT, FIXTURE_BASE_URL, FIXTURES, type FixtureCase } from '../fixtures/sources/manifest.ts';
import { FIXTURES_DIR } from './fixture-server.ts';

function parseFixture(fixture: FixtureCase): ParseResult {
  return parseSource(
    fixture.kind,
    {
      body: readFileSync(`${FIXTURES_DIR}${fixture.file}`),
      contentType: fixture.contentType,
      url: `${FIXTURE_BASE_URL}${fixture.file}`,
      fetchedAt: new Date(FETCHED_AT),
    },
    { sourceId: 'fixture' },
  );
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('source fixtures', () => {
  it('has a manifest entry for every fixture file and a file for every entry', () => {
    const files = readdirSync(FIXTURES_DIR).filter((name) => !name.endsWith('.ts') && !name.endsWith('.md'));
    expect(FIXTURES.map((fixture) => fixture.file).sort()).toEqual(files.sort());
    expect(files.filter((name) => name.startsWith('broken-')).length).toBeGreaterThanOrEqual(30);
  });

  it.each(FIXTURES.map((fixture) => [fixture.file, fixture] as const))('%s', (_file, fixture) => {
    const expected = fixture.expect;
    if ('error' in expected) {
      const err = caught(() => parseFixture(fixture));
      expect(err).toBeInstanceOf(expected.error === 'PermanentError' ? PermanentError : TransientError);
      expect((err as Error).message).toBe(expected.message.replace('<url>', `${FIXTURE_BASE_URL}${fixture.file}`));
      if (expected.retryAfterMs !== undefined) expect((err as TransientError).retryAfterMs).toBe(expected.retryAfterMs);
      return;
    }
    const result = parseFixture(fixture);
    const { stats, ...rest } = expected;
    if (stats) expect(result.stats).toMatchObject(stats);
    expect({
      format: result.format,
      skipped: result.skipped,
      dateFallbacks: result.dateFallbacks,
      recovery: result.recovery ?? null,
      items: result.items.map((item) => ({ ...item, publishedAt: item.publishedAt.toISOString() })),
      trends: result.trends.map((trend) => ({ ...trend, observedAt: trend.observedAt.toISOString() })),
    }).toEqual(rest);
  });

  it('derives ids as documented: sha256 of link and ISO date, prefixed', () => {
    const fixture = FIXTURES.find((f) => f.file === 'broken-rss-duplicate-guids.xml')!;
    const derived = parseFixture(fixture).items[1]!;
    const hex = createHash('sha256').update('https://news.example.com/two\n2026-11-21T11:00:00.000Z').digest('hex');
    expect(derived.externalId).toBe(`sha256:${hex}`);
  });

  it('hashes an over-long GUID to sha256 of the GUID itself, so the same GUID always dedupes to the same id', () => {
    const fixture = FIXTURES.find((f) => f.file === 'broken-rss-long-guid.xml')!;
    const guid = `https://news.example.com/g2?${'x'.repeat(4000)}`;
    const hashed = parseFixture(fixture).items[1]!;
    expect(hashed.externalId).toBe(`sha256:${createHash('sha256').update(guid).digest('hex')}`);
    expect(parseFixture(fixture).items[1]!.externalId).toBe(hashed.externalId);
  });

  it('never lets entity bombs or XXE expand: no passwd contents, no laughs', () => {
    for (const file of ['broken-rss-billion-laughs.xml', 'broken-rss-xxe.xml', 'broken-rss-quadratic-blowup.xml']) {
      const json = JSON.stringify(parseFixture(FIXTURES.find((f) => f.file === file)!));
      expect(json).not.toMatch(/root:|lollol|AAAAAAAAAA/);
    }
  });
});
