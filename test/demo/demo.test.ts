/**
 * `npm run demo` as a newcomer runs it: the real command in a child process, its own database
 * and queue prefix (through the demo's DEMO_DATABASE / DEMO_QUEUE_PREFIX overrides), no
 * internet. Plus the sample server on its own: every sample must read cleanly through the real
 * adapters, with dates in the recent past.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SOURCES, renderSample, startDemoServer, type DemoServer } from '../../src/demo/server.ts';
import { Redis } from 'ioredis';
import { ensureDatabase } from '../../src/db/migrate.ts';
import { demoDatabaseUrl, demoSettings, resetDemo } from '../../src/demo/demo.ts';
import { demoSourcesDocument } from '../../src/demo/sources.ts';
import { parseSource, requestUrl } from '../../src/sources/index.ts';
import { dropDatabase, uniqueName } from '../support/db.ts';
import { databaseUrl, REDIS_URL } from '../support/env.ts';
import { freePort, runCli, startProcess, type RunningProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';

const HOUR = 3_600_000;

describe('demo sample server', () => {
  const now = new Date('2026-11-22T09:30:00Z');
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemoServer({ now });
  });
  afterAll(() => server?.close());

  it.each(DEMO_SOURCES.map((s) => [s.id, s] as const))('%s reads cleanly through its adapter, dated within the last 36 hours', async (_id, source) => {
    const entry = demoSourcesDocument(server).sources.find((s) => (s as { id: string }).id === source.id) as { url: string; query?: string };
    // The URL the worker will request, query string and all.
    const url = requestUrl(source.kind, entry, now);
    expect(url.startsWith(server.origin)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const parsed = parseSource(source.kind, { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type'), url, fetchedAt: now }, { sourceId: source.id });
    expect(parsed.items.length).toBeGreaterThanOrEqual(5);
    expect(parsed.dateFallbacks).toBe(0);
    expect(parsed.skipped).toBe(0);
    expect(parsed.recovery).toBeUndefined();
    for (const item of parsed.items) {
      const age = now.getTime() - item.publishedAt.getTime();
      expect(age, item.title).toBeGreaterThan(0);
      expect(age, item.title).toBeLessThanOrEqual(36 * HOUR);
    }
    const hours = new Set(parsed.items.map((i) => Math.floor(i.publishedAt.getTime() / HOUR)));
    expect(hours.size).toBeGreaterThanOrEqual(source.kind === 'google-trends' ? 3 : 5);
    if (source.kind === 'google-trends') expect(parsed.trends.length).toBeGreaterThanOrEqual(3);
  });

  it('answers 304 to a conditional GET with the ETag it gave, and 404 elsewhere', async () => {
    const url = `${server.origin}${DEMO_SOURCES[0]!.path}`;
    const first = await fetch(url);
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    expect((await fetch(url, { headers: { 'if-none-match': etag! } })).status).toBe(304);
    expect((await fetch(`${server.origin}/nothing-here`)).status).toBe(404);
  });

  it('fills every time placeholder and refuses unknown ones', () => {
    expect(renderSample('<d>{{rfc822 -1h30m}}</d><i>{{iso -45m}}</i><g>{{gdelt -2h}}</g><e>{{epoch -0h01m}}</e>', now)).toBe(
      '<d>Sun, 22 Nov 2026 08:00:00 +0000</d><i>2026-11-22T08:45:00Z</i><g>20261122T073000Z</g><e>1795339740</e>',
    );
    expect(() => renderSample('{{yesterday}}', now)).toThrow('demo: unknown time placeholder {{yesterday}}');
  });

  it('derives its database from DATABASE_URL and generates a board password unless one is set', () => {
    expect(demoDatabaseUrl('postgres://u:p@db.internal:5433/newspulse?sslmode=require', 'newspulse_demo')).toBe('postgres://u:p@db.internal:5433/newspulse_demo?sslmode=require');
    const defaults = demoSettings({});
    expect(defaults).toMatchObject({ databaseName: 'newspulse_demo', databaseUrl: 'postgres://postgres@127.0.0.1:5432/newspulse_demo', queuePrefix: 'newspulse_demo', boardUser: 'admin', passwordGenerated: true, logLevel: 'warn' });
    expect(defaults.boardPassword).toMatch(/^[\w-]{24}$/);
    expect(demoSettings({}).boardPassword).not.toBe(defaults.boardPassword);
    expect(demoSettings({ BOARD_PASSWORD: 'mine', QUEUE_PREFIX: 'prod' })).toMatchObject({ boardPassword: 'mine', passwordGenerated: false, queuePrefix: 'newspulse_demo' });
    expect(() => demoSettings({ DEMO_DATABASE: 'drop table' })).toThrow(/DEMO_DATABASE/);
  });
});

describe('resetDemo (--fresh)', () => {
  it('drops only the demo database and only the Redis keys under the demo prefix', async () => {
    const database = uniqueName('demo_reset');
    const prefix = testPrefix('demo_reset');
    const neighbour = testPrefix('demo_keep');
    const redis = new Redis(REDIS_URL);
    try {
      await ensureDatabase(databaseUrl(database));
      await redis.set(`${prefix}:ingest:meta`, 'x');
      await redis.set(`${prefix}:rollup:id`, '1');
      await redis.set(`${neighbour}:ingest:meta`, 'keep');
      const settings = demoSettings({ DATABASE_URL: databaseUrl('postgres'), DEMO_DATABASE: database, DEMO_QUEUE_PREFIX: prefix });
      expect(await resetDemo(settings, REDIS_URL)).toEqual({ droppedDatabase: true, deletedKeys: 2 });
      const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
      await admin.connect();
      expect((await admin.query('select 1 from pg_database where datname = $1', [database])).rowCount).toBe(0);
      await admin.end();
      expect(await redis.get(`${neighbour}:ingest:meta`)).toBe('keep');
      expect(await resetDemo(settings, REDIS_URL)).toEqual({ droppedDatabase: false, deletedKeys: 0 });
    } finally {
      redis.disconnect();
      await deletePrefix(neighbour);
      await dropDatabase(database);
    }
  });

  it('rejects unknown arguments with exit 2 and its usage', async () => {
    const child = startProcess('src/demo/demo.ts', ['--frseh'], {});
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain("newspulse demo: Unknown option '--frseh'");
    expect(child.output()).toContain('usage: npm run demo [-- --fresh]');
  });
});

describe('`node src/demo/demo.ts --fresh --clean`', () => {
  const database = uniqueName('demo');
  const prefix = testPrefix('demo');
  let demo: RunningProcess;
  let stdout = '';
  let pool: pg.Pool;
  let env: Record<string, string>;
  let boardPort: number;
  let healthPort: number;
  let apiPort: number;

  beforeAll(async () => {
    [boardPort, healthPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    env = {
      // Only the server part is used: the demo puts its own database name in.
      DATABASE_URL: databaseUrl('postgres'),
      DEMO_DATABASE: database,
      DEMO_QUEUE_PREFIX: prefix,
      REDIS_URL,
      BOARD_PORT: String(boardPort),
      HEALTH_PORT: String(healthPort),
      API_PORT: String(apiPort),
      LOG_LEVEL: 'warn',
    };
    demo = startProcess('src/demo/demo.ts', ['--fresh', '--clean'], env);
    demo.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await demo.waitForLog(/newspulse demo is running/, 60_000);
    // The summary is written in one go; the last line ends it.
    await demo.waitForLog(/Ctrl-C stops the demo/, 5_000);
    pool = new pg.Pool({ connectionString: databaseUrl(database), max: 2 });
    pool.on('error', () => {});
  });

  afterAll(async () => {
    await demo?.stop('SIGKILL');
    await pool?.end().catch(() => {});
    await deletePrefix(prefix);
    await dropDatabase(database);
  });

  it('prints the board URL, the generated credentials, the health URL and the commands to try', () => {
    expect(stdout).toContain(`newspulse demo: --fresh: no database ${database} yet, deleted 0 Redis key(s) under ${prefix}:\n`);
    expect(stdout).toMatch(/newspulse demo is running: \d+ articles from 5 sources/);
    expect(stdout).toContain(`bull-board   http://127.0.0.1:${boardPort}/board/`);
    expect(stdout).toMatch(/user admin, password [\w-]{24}\n/);
    expect(stdout).toContain(`health       http://127.0.0.1:${healthPort}/readyz`);
    const envPrefix = `DATABASE_URL=${databaseUrl(database)} REDIS_URL=${REDIS_URL} QUEUE_PREFIX=${prefix}`;
    expect(stdout).toContain(`${envPrefix} npm run enqueue -- status`);
    expect(stdout).toContain(`${envPrefix} npm run enqueue -- fetch demo-rss --wait`);
    // The JSON logs stay off stdout.
    expect(stdout).not.toContain('"level"');
  });

  it('prints a table of entities with their latest hourly and daily sentiment', () => {
    expect(stdout).toMatch(/entity\s+articles\s+latest hour \(UTC\)\s+mean\s+n\s+day \(UTC\)\s+day mean\s+n/);
    for (const slug of ['tesla', 'apple', 'nvidia', 'microsoft', 'openai']) {
      expect(stdout).toMatch(new RegExp(`^\\s+${slug}\\s+\\d+\\s+\\d{4}-\\d{2}-\\d{2} \\d{2}:00\\s+[+-]\\d\\.\\d\\d\\s+\\d+\\s+\\d{4}-\\d{2}-\\d{2}\\s+[+-]\\d\\.\\d\\d\\s+\\d+$`, 'm'));
    }
  });

  it('stored articles from every source kind, matched to entities, with trends', async () => {
    const kinds = await pool.query(`select s.kind, count(*)::int as n from article a join source s on s.id = a.source_id group by 1 order by 1`);
    expect(kinds.rows.map((r) => r.kind)).toEqual(['feed', 'gdelt', 'google-trends', 'hn']);
    expect(kinds.rows.every((r) => r.n >= 4)).toBe(true);
    const sources = await pool.query(`select distinct source_id from article order by 1`);
    expect(sources.rows.map((r) => r.source_id)).toEqual(['demo-atom', 'demo-gdelt', 'demo-hn', 'demo-rss', 'demo-trends']);
    const matched = await pool.query(`select count(distinct entity_id)::int as entities, count(*)::int as links from article_entity`);
    expect(matched.rows[0].entities).toBeGreaterThanOrEqual(6);
    expect(matched.rows[0].links).toBeGreaterThanOrEqual(30);
    const sentiments = await pool.query(`select count(*) filter (where sentiment > 0.05)::int as pos, count(*) filter (where sentiment < -0.05)::int as neg from article`);
    expect(sentiments.rows[0].pos).toBeGreaterThanOrEqual(5);
    expect(sentiments.rows[0].neg).toBeGreaterThanOrEqual(5);
    const trends = await pool.query(`select count(*)::int as n, (select count(*)::int from trend_entity) as links from trend`);
    expect(trends.rows[0].n).toBeGreaterThanOrEqual(3);
    expect(trends.rows[0].links).toBeGreaterThanOrEqual(2);
  });

  it('has hourly and daily rollups for several entities, spread over several buckets', async () => {
    const rollups = await pool.query(
      `select granularity, count(distinct entity_id)::int as entities, count(distinct bucket_start)::int as buckets from sentiment_rollup group by 1 order by 1`,
    );
    const [dayRow, hourRow] = rollups.rows;
    expect(dayRow).toMatchObject({ granularity: 'day' });
    expect(hourRow).toMatchObject({ granularity: 'hour' });
    expect(dayRow.entities).toBeGreaterThanOrEqual(5);
    expect(hourRow.entities).toBeGreaterThanOrEqual(5);
    expect(dayRow.buckets).toBeGreaterThanOrEqual(2);
    expect(hourRow.buckets).toBeGreaterThanOrEqual(10);
  });

  it('recorded completed job runs for every source and a refresh', async () => {
    const runs = await pool.query(`select job_name, source_id, status from job_run where status = 'completed' group by 1, 2, 3 order by 1, 2`);
    expect(runs.rows.filter((r) => r.job_name === 'fetch').map((r) => r.source_id)).toEqual(['demo-atom', 'demo-gdelt', 'demo-hn', 'demo-rss', 'demo-trends']);
    expect(runs.rows.some((r) => r.job_name === 'refresh')).toBe(true);
    const failed = await pool.query(`select job_name, source_id, error from job_run where status = 'failed'`);
    expect(failed.rows).toEqual([]);
  });

  it('serves the board with the printed credentials (200) and refuses without them (401)', async () => {
    const password = /user admin, password ([\w-]+)/.exec(stdout)![1]!;
    const url = `http://127.0.0.1:${boardPort}/board/`;
    expect((await fetch(url)).status).toBe(401);
    const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
    expect((await fetch(url, { headers: auth })).status).toBe(200);
    const api = await fetch(`${url}api/queues?activeQueue=ingest&status=completed`, { headers: auth });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; jobs: { name: string }[]; counts: Record<string, number> }[] };
    const ingest = body.queues.find((q) => q.name === 'ingest')!;
    expect(ingest.counts.completed).toBeGreaterThanOrEqual(5);
    // The board titles jobs with their source and outcome ("fetch demo-rss · +12 articles").
    expect(ingest.jobs.some((j) => j.name.startsWith('fetch demo-'))).toBe(true);
  });

  it('prints the dashboard URL, which serves the dashboard and the API with the board credentials', async () => {
    const url = `http://127.0.0.1:${apiPort}/dashboard/`;
    expect(stdout).toContain(`dashboard    ${url}  (same user and password`);
    const password = /user admin, password ([\w-]+)/.exec(stdout)![1]!;
    const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
    expect((await fetch(url)).status).toBe(401);
    const page = await fetch(url, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>newspulse dashboard</title>');
    const entities = (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/entities`, { headers: auth })).json()) as { entities: { slug: string; latest_hour: unknown }[] };
    expect(entities.entities.filter((e) => e.latest_hour !== null).length).toBeGreaterThanOrEqual(5);
  });

  it('answers readiness on the printed health URL', async () => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(res.status).toBe(200);
  });

  it('the printed commands work against it', async () => {
    const cliEnv = { DATABASE_URL: databaseUrl(database), REDIS_URL, QUEUE_PREFIX: prefix };
    const status = await runCli(['status'], cliEnv);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/demo-rss\s+feed\s+every 30s/);
    const fetched = await runCli(['fetch', 'demo-rss', '--wait'], cliEnv);
    expect(fetched.stderr).toBe('');
    expect(fetched.code).toBe(0);
    // The sample server honours the worker's conditional GET.
    expect(fetched.stdout).toMatch(/fetch demo-rss: completed in [\d.]+s: .*not_modified=true/);
  });

  it('stops gracefully on Ctrl-C (SIGINT): exit 0, and --clean leaves no database and no Redis keys', async () => {
    await pool.end();
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(stdout).toContain('newspulse demo: stopped\n');
    expect(stdout).toMatch(new RegExp(`newspulse demo: --clean: dropped database ${database}, deleted [1-9]\\d* Redis key\\(s\\) under ${prefix}:`));
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
    await admin.connect();
    try {
      expect((await admin.query('select 1 from pg_database where datname = $1', [database])).rowCount).toBe(0);
    } finally {
      await admin.end();
    }
    const redis = new Redis(REDIS_URL);
    try {
      expect((await redis.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 100_000))[1]).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
