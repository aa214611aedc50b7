import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from '../src/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'np-config-'));
function sourcesFile(content: unknown): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}
const validFile = sourcesFile({
  entities: [{ slug: 'tesla', name: 'Tesla', aliases: ['TSLA'] }],
  sources: [
    { id: 'bbc', kind: 'feed', url: 'https://example.org/rss.xml', every: '15m' },
    { id: 'hn-ai', kind: 'hn', query: 'OpenAI' },
    { id: 'trends', kind: 'google-trends', cron: '0 * * * *', tz: 'Europe/Berlin' },
  ],
});

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('works with defaults on a machine with Postgres and Redis on localhost', () => {
    const config = loadConfig({ SOURCES_FILE: validFile });
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/newspulse');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.queuePrefix).toBe('newspulse');
    expect(config.board).toEqual({ port: 3000, host: '127.0.0.1', user: 'admin', password: undefined, readOnly: false });
    expect(config.healthPort).toBe(8080);
    expect(config.healthHost).toBe('0.0.0.0');
    expect(config.shutdownGraceMs).toBe(25_000);
    expect(config.sources.map((s) => [s.id, s.schedule])).toEqual([
      ['bbc', { every: 900_000 }],
      ['hn-ai', { every: 900_000 }],
      ['trends', { pattern: '0 * * * *', tz: 'Europe/Berlin' }],
    ]);
    expect(config.entities[0]).toEqual({ slug: 'tesla', name: 'Tesla', aliases: ['TSLA'], caseSensitive: true, requireAny: [], exclude: [] });
    expect(Object.isFrozen(config.sources[0])).toBe(true);
  });

  it('names every bad variable in one error', () => {
    const problems = problemsOf({
      SOURCES_FILE: validFile,
      DATABASE_URL: 'mysql://x',
      REDIS_URL: 'not a url',
      BOARD_PORT: '70000',
      HEALTH_PORT: 'abc',
      LOG_LEVEL: 'loud',
      BOARD_READ_ONLY: 'maybe',
      SHUTDOWN_GRACE: '25',
      QUEUE_PREFIX: 'a:b',
    });
    const named = problems.map((p) => p.split(':')[0]);
    expect(named.sort()).toEqual(['BOARD_PORT', 'BOARD_READ_ONLY', 'DATABASE_URL', 'HEALTH_PORT', 'LOG_LEVEL', 'QUEUE_PREFIX', 'REDIS_URL', 'SHUTDOWN_GRACE']);
    expect(problems.find((p) => p.startsWith('SHUTDOWN_GRACE'))).toContain('duration');
  });

  it('reports env and sources-file problems together, by JSON path', () => {
    const file = sourcesFile({
      entities: [{ slug: 'Bad Slug', name: '' }, { slug: 'tesla', name: 'Tesla', typo: true }, { slug: 'tesla', name: 'Again' }],
      sources: [
        { id: 'a', kind: 'feed' },
        { id: 'b', kind: 'hn' },
        { id: 'c', kind: 'rss', url: 'https://x.org' },
        { id: 'd', kind: 'feed', url: 'ftp://x.org/feed' },
        { id: 'e', kind: 'feed', url: 'https://x.org', every: 'soon' },
        { id: 'f', kind: 'feed', url: 'https://x.org', cron: '61 * * * *' },
        { id: 'g', kind: 'feed', url: 'https://x.org', cron: '0 * * * *', tz: 'Mars/Olympus' },
        { id: 'h', kind: 'feed', url: 'https://x.org', every: '5m', cron: '0 * * * *' },
        { id: '123', kind: 'feed', url: 'https://x.org' },
        { id: 'a', kind: 'feed', url: 'https://x.org' },
      ],
    });
    const problems = problemsOf({ SOURCES_FILE: file, LOG_LEVEL: 'loud' });
    const text = problems.join('\n');
    expect(problems[0]).toMatch(/^LOG_LEVEL:/);
    for (const expected of [
      '$.entities[0].slug',
      '$.entities[0].name',
      '$.entities[1] Unrecognized key: "typo"',
      '$.entities[2].slug duplicate slug "tesla"',
      '$.sources[0].url is required for kind "feed"',
      '$.sources[1].query is required for kind "hn"',
      '$.sources[2].kind',
      '$.sources[3].url must be an http(s) URL',
      '$.sources[4].every must be a duration',
      '$.sources[5].cron invalid cron pattern',
      '$.sources[6].tz unknown time zone "Mars/Olympus"',
      '$.sources[7].every give either "every" or "cron", not both',
      '$.sources[8].id must not be all digits',
      '$.sources[9].id duplicate id "a"',
    ]) {
      expect(text).toContain(expected);
    }
  });

  it('says clearly when the sources file is missing or not JSON', () => {
    expect(problemsOf({ SOURCES_FILE: join(dir, 'nope.json') })[0]).toMatch(/^SOURCES_FILE: cannot read .*nope\.json: ENOENT$/);
    expect(problemsOf({ SOURCES_FILE: sourcesFile('{"sources": [') })[0]).toMatch(/^SOURCES_FILE: .* is not valid JSON/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ SOURCES_FILE: validFile, BOARD_PASSWORD: '', DATABASE_URL: '' }).databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/newspulse');
  });

  it('validates the shipped sources file', () => {
    const config = loadConfig({ SOURCES_FILE: 'config/sources.json' });
    expect(config.sources.length).toBeGreaterThanOrEqual(5);
    expect(new Set(config.sources.map((s) => s.kind))).toEqual(new Set(['feed', 'hn', 'gdelt', 'google-trends']));
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['0s', null],
    ['15', null],
    ['1.5h', null],
    ['-5m', null],
    ['m', null],
  ])('%s -> %s', (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});
