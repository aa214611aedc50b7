/**
 * The enqueue script end to end: a real worker process, real Postgres and Redis, a local HTTP
 * source, and the script run as a user runs it (a child process; stdout is not a TTY, so
 * progress comes as plain lines).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start as startFixtureServer, type FixtureServer } from '../sources/fixture-server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { generatedItems, rss } from '../support/feeds.ts';
import { freePort, runCli, startTestWorker, writeSourcesFile, type RunningProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';
import { diffRollups, expectRollupsEqualOracle, rollupRows } from '../rollup/oracle.ts';

const NOW = new Date();
// Scheduled runs stay out of the way: these sources only run when enqueued by hand.
const YEARLY = { cron: '0 0 1 1 *' };
const JOBS = ['fetch', 'rollup', 'rebuild', 'rescore', 'prune', 'status', 'reload'];
/**
 * runCli with a ceiling: a script that never exits is killed after `limitMs` and reported as
 * `hung`, so a regression fails with its output instead of timing the whole test out.
 */
function runCliBounded(args: string[], env: Record<string, string>, limitMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/enqueue.ts', ...args], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

const day = (offsetDays: number) => new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth(), NOW.getUTCDate() + offsetDays)).toISOString().slice(0, 10);

describe('enqueue script against a worker process', () => {
  let db: TestDatabase;
  let server: FixtureServer;
  let worker: RunningProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    server = await startFixtureServer({
      routes: {
        '/markets.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(generatedItems(12, NOW, { prefix: 'markets', stepMinutes: 50 })) },
        '/tech.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(generatedItems(6, NOW, { prefix: 'tech', host: 'tech.example.org', stepMinutes: 95 })) },
        // SSRF: an allowed feed (127.0.0.1/32 is allowed in tests) redirecting to cloud metadata.
        '/to-metadata.xml': { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' }, body: '' },
        '/private.xml': { status: 404, body: 'not here' },
      },
    });
    ({ worker, env } = await startTestWorker(db.url, 'cli', {
      entities: [
        { slug: 'tesla', name: 'Tesla' },
        { slug: 'apple', name: 'Apple' },
        { slug: 'nvidia', name: 'Nvidia' },
        { slug: 'openai', name: 'OpenAI' },
      ],
      sources: [
        { id: 'markets', kind: 'feed', url: server.url('/markets.xml'), ...YEARLY },
        { id: 'tech', kind: 'feed', url: server.url('/tech.xml'), ...YEARLY },
        // Disabled: only fetched by hand, so --all and the scheduler leave them alone.
        { id: 'to-metadata', kind: 'feed', url: server.url('/to-metadata.xml'), ...YEARLY, enabled: false },
        { id: 'with-secrets', kind: 'feed', url: server.url('/private.xml?api_key=k123').replace('http://', 'http://reader:hunter2@'), ...YEARLY, enabled: false },
      ],
    }));
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await server?.close();
    if (env?.QUEUE_PREFIX) await deletePrefix(env.QUEUE_PREFIX);
    await db?.drop();
  });

  describe('help and bad input (nothing needs to be running)', () => {
    it('--help lists every job and option with examples, exit 0', async () => {
      const result = await runCli(['--help'], env);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      for (const word of [...JOBS, '--all', '--from', '--to', '--entity', '--wait', '--json', '--help', 'examples:', 'exit codes:']) {
        expect(result.stdout, word).toContain(word);
      }
    });

    it.each([
      ['fetch', ['fetch <sourceId...>', '--all']],
      ['rollup', ['rollup', 'dirty']],
      ['rebuild', ['--from <date>', '--to <date>', '--entity <slug>', 'retention']],
      ['rescore', ['rescore [--from <date>] [--to <date>]', 'Resumable']],
      ['prune', ['prune', 'ARTICLE_RETENTION_DAYS']],
      ['status', ['status', '--json', '--failing', '--source PATTERN', '--limit N']],
      ['reload', ['reload', 'SOURCES_FILE', 'refused']],
    ])('%s --help explains the job and its options, exit 0', async (job, words) => {
      const result = await runCli([job, '--help'], env);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^usage: npm run enqueue -- ${job}`));
      expect(result.stdout).toContain('[--wait] [--json]');
      expect(result.stdout).toContain(`examples:\n  npm run enqueue -- ${job}`);
      for (const word of words) expect(result.stdout, word).toContain(word);
    });

    it('no job at all: usage on stderr, exit 2', async () => {
      const result = await runCli([], env);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^usage: npm run enqueue -- <job> \[options\]/);
    });

    it('unknown job: exit 2 naming the job and listing the real ones', async () => {
      const result = await runCli(['reticulate', '--wait'], env);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^enqueue: unknown job "reticulate" \(jobs: fetch, rollup, rebuild, rescore, prune, status, reload\)\n/);
    });

    it('unknown option: exit 2 naming the option and the nearest real one', async () => {
      const result = await runCli(['rollup', '--fast'], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^enqueue: unknown option --fast \(options: --wait, --json, --all, --from, --to, --entity, --failing, --source, --limit, --help\)\n/);
      const typo = await runCli(['rollup', '--wiat'], env);
      expect(typo.code).toBe(2);
      expect(typo.stderr).toMatch(/^enqueue: unknown option --wiat; did you mean --wait\? \(options: /);
      const missing = await runCli(['rebuild', '--from'], env);
      expect(missing.stderr).toMatch(/^enqueue: --from needs a value, e\.g\. --from 2026-11-01\n/);
      const backwards = await runCli(['rebuild', '--from', '2026-11-22', '--to', '2026-11-01'], env);
      expect(backwards.code).toBe(2);
      expect(backwards.stderr).toBe('enqueue: rebuild: --from 2026-11-22 is not before --to 2026-11-01; the range is [from, to), so --to must be later\n');
      const misplaced = await runCli(['prune', '--from', '2026-01-01'], env);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toBe('enqueue: --from, --to and --entity belong to rebuild\n');
      const noSource = await runCli(['fetch'], env);
      expect(noSource.code).toBe(2);
      expect(noSource.stderr).toBe('enqueue: fetch needs a source id or --all (known sources: markets, tech, to-metadata, with-secrets)\n');
    });

    it('a source in SOURCES_FILE that the worker has not synced: says a restart is needed', async () => {
      const sourcesFile = writeSourcesFile({ entities: [], sources: [{ id: 'newcomer', kind: 'feed', url: server.url('/tech.xml'), ...YEARLY }] });
      const result = await runCli(['fetch', 'newcomer'], { ...env, SOURCES_FILE: sourcesFile });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`enqueue: source newcomer is in ${sourcesFile} but not in the database yet: the worker syncs that file when it starts, so restart (or reload) the worker, then retry\n`);
      const unknown = await runCli(['fetch', 'nowhere'], { ...env, SOURCES_FILE: sourcesFile });
      expect(unknown.stderr).toBe('enqueue: unknown source nowhere (known sources: markets, tech, to-metadata, with-secrets)\n');
    });
  });

  describe('each job end to end', () => {
    it('fetch --all --wait fetches every enabled source and prints one summary line each', async () => {
      const result = await runCli(['fetch', '--all', '--wait'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^fetch markets: completed in [\d.]+s: .*\binserted=12\b/m);
      expect(result.stdout).toMatch(/^fetch tech: completed in [\d.]+s: .*\binserted=6\b/m);
      const runs = await db.pool.query(`select source_id, status from job_run where job_name = 'fetch' order by source_id`);
      expect(runs.rows).toEqual([
        { source_id: 'markets', status: 'completed' },
        { source_id: 'tech', status: 'completed' },
      ]);
    });

    it('rollup --wait refreshes the dirty buckets: exit 0 and a summary line', async () => {
      const result = await runCli(['rollup', '--wait'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^refresh: enqueued as rollup\/\S+\n/);
      expect(result.stdout).toMatch(/^refresh: completed in [\d.]+s: \S+=/m);
      // Whether this refresh or the debounced one got there first, nothing is left dirty.
      expect((await db.pool.query('select count(*)::int as n from rollup_dirty')).rows[0].n).toBe(0);
      const rollups = await db.pool.query(`select granularity, count(*)::int as n from sentiment_rollup group by 1 order by 1`);
      expect(rollups.rows.map((r) => r.granularity)).toEqual(['day', 'hour']);
    });

    it('rebuild --from --to --wait prints progress lines (not a bar: stdout is no TTY), then the summary', async () => {
      const before = await rollupRows(db.pool);
      const result = await runCli(['rebuild', '--from', day(-85), '--to', day(1), '--wait'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const label = `rebuild from=${day(-85)} to=${day(1)}`;
      expect(result.stdout).toMatch(new RegExp(`^${label}: progress \\d+% \\(\\d+/\\d+\\)$`, 'm'));
      expect(result.stdout).toMatch(new RegExp(`^${label}: completed in [\\d.]+s: \\S+=`, 'm'));
      expect(result.stdout).not.toContain('\r');
      expect(result.stdout).not.toContain('[#');
      // Rebuilding what refresh already made exact changes nothing, to the rollups' 1e-9: the
      // rebuild may add a day's hourly sums in another order, which can move the last bit.
      expect(diffRollups(await rollupRows(db.pool), before)).toEqual([]);
      await expectRollupsEqualOracle(db.pool, 'after rebuild');
    });

    it('rebuild --entity limits the rebuild and says which entity', async () => {
      const result = await runCli(['rebuild', '--from', day(-2), '--to', day(1), '--entity', 'tesla', '--wait', '--json'], env);
      expect(result.code).toBe(0);
      const outcome = JSON.parse(result.stdout.trim()) as { name: string; state: string; data: unknown; result: Record<string, unknown> };
      expect(outcome).toMatchObject({ name: 'rebuild', state: 'completed', data: { from: day(-2), to: day(1), entity: 'tesla' } });
      expect(outcome.result.entity).toBe('tesla');
    });

    it('prune --wait: exit 0 and a summary line', async () => {
      const result = await runCli(['prune', '--wait'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^prune: completed in [\d.]+s: \S+=/m);
      // Nothing is older than the retention window here: every article stays.
      expect((await db.pool.query('select count(*)::int as n from article')).rows[0].n).toBe(18);
    });

    it('--json --wait prints exactly one JSON object per job: id, queue, name, data, state, attempts, result', async () => {
      const result = await runCli(['fetch', 'markets', 'tech', '--wait', '--json'], env);
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      const outcomes = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const [i, sourceId] of ['markets', 'tech'].entries()) {
        expect(Object.keys(outcomes[i]!).sort()).toEqual(['attempts', 'data', 'id', 'name', 'queue', 'result', 'state']);
        expect(outcomes[i]).toMatchObject({ queue: 'ingest', name: 'fetch', data: { sourceId }, state: 'completed', attempts: 1, result: { inserted: 0 } });
        expect(typeof outcomes[i]!.id).toBe('string');
      }
    });

    it('--json without --wait prints the enqueued job', async () => {
      const result = await runCli(['rollup', '--json'], env);
      expect(result.code).toBe(0);
      const enqueued = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
      expect(Object.keys(enqueued).sort()).toEqual(['data', 'id', 'name', 'queue', 'state']);
      expect(enqueued).toMatchObject({ queue: 'rollup', name: 'refresh', data: {} });
      expect(['waiting', 'active', 'completed', 'prioritized']).toContain(enqueued.state);
    });

    it('status --json has sources, queues and rollup lag', async () => {
      const result = await runCli(['status', '--json'], env);
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as { sources: { id: string; last_success_at: string | null }[]; queues: Record<string, Record<string, number>>; rollup: { dirty_marks: number; lag_seconds: number } };
      expect(status.sources.map((s) => s.id)).toEqual(['markets', 'tech', 'to-metadata', 'with-secrets']);
      expect(status.sources.filter((s) => s.id === 'markets' || s.id === 'tech').every((s) => s.last_success_at !== null)).toBe(true);
      expect(Object.keys(status.queues)).toEqual(['ingest', 'rollup', 'maintenance']);
      expect(status.queues.ingest!.failed).toBe(0);
      expect(status.rollup).toEqual({ dirty_marks: expect.any(Number), lag_seconds: expect.any(Number) });
    });
  });

  describe('fetch safety: SSRF refusal and credentials are recorded clearly, secrets never shown', () => {
    it('a redirect to 169.254.169.254 fails permanently with the refusal recorded on the source', async () => {
      const result = await runCli(['fetch', 'to-metadata', '--wait'], env);
      expect(result.code).toBe(1);
      const refusal = `fetch to-metadata: refusing to connect to 169.254.169.254: link-local, cloud metadata address (set FETCH_ALLOW_PRIVATE to allow it, e.g. FETCH_ALLOW_PRIVATE=169.254.169.254/32) from ${server.url('/to-metadata.xml')}`;
      expect(result.stdout).toContain(`fetch to-metadata: FAILED after 1 attempt(s): ${refusal}`);
      const row = await db.pool.query(`select last_error, consecutive_failures from source where id = 'to-metadata'`);
      expect(row.rows).toEqual([{ last_error: refusal, consecutive_failures: 1 }]);
    });

    it('userinfo goes out as Basic auth; user, password and api_key appear nowhere', async () => {
      const result = await runCli(['fetch', 'with-secrets', '--wait'], env);
      expect(result.code).toBe(1);
      const request = server.requests.find((r) => r.path === '/private.xml');
      expect(request?.headers.authorization).toBe(`Basic ${Buffer.from('reader:hunter2').toString('base64')}`);
      const recorded = (await db.pool.query(`select last_error from source where id = 'with-secrets'`)).rows[0].last_error as string;
      expect(recorded).toBe(`fetch with-secrets: HTTP 404 Not Found from ${server.url('/private.xml')}?api_key=REDACTED`);
      const status = await runCli(['status', '--json'], env);
      const runs = await db.pool.query(`select error from job_run where source_id = 'with-secrets'`);
      for (const text of [result.stdout, result.stderr, status.stdout, JSON.stringify(runs.rows), worker.output()]) {
        for (const secret of ['hunter2', 'k123']) expect(text).not.toContain(secret);
      }
    });
  });

  describe('unreachable services: exit 3 with a clear message, never a hang', () => {
    it('Redis unreachable', async () => {
      const closedPort = await freePort();
      const result = await runCliBounded(['rollup', '--wait'], { ...env, REDIS_URL: `redis://127.0.0.1:${closedPort}` });
      expect(result.hung, `still running after 15 s; output so far: ${result.stderr}`).toBe(false);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(new RegExp(`^enqueue: cannot reach Redis at redis://127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
    });

    it('Postgres unreachable', async () => {
      const closedPort = await freePort();
      const result = await runCliBounded(['status'], { ...env, DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${closedPort}/newspulse` });
      expect(result.hung, `still running after 15 s; output so far: ${result.stderr}`).toBe(false);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(new RegExp(`^enqueue: cannot reach Postgres at postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}/newspulse: `));
      expect(result.stderr).not.toContain('secret');
    });

    it.each(['Postgres', 'Redis'])('%s on a port that accepts but never answers: exit 3 within seconds', async (which) => {
      const sockets: Socket[] = [];
      const silent: Server = createServer((socket) => void sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      try {
        const target: Record<string, string> = which === 'Postgres' ? { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` } : { REDIS_URL: `redis://127.0.0.1:${port}` };
        const result = await runCliBounded(['status'], { ...env, ...target }, 30_000);
        expect(result.hung, `still running after 30 s; output so far: ${result.stderr}`).toBe(false);
        expect(result.code).toBe(3);
        expect(result.stderr).toMatch(new RegExp(`^enqueue: cannot reach ${which} at ${which === 'Postgres' ? 'postgres' : 'redis'}://`));
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  });

  describe('setup mistakes are named', () => {
    it('an unmigrated database: run `npm run migrate`, exit 2', async () => {
      const empty = await createTestDatabase('cli_empty', { migrate: false });
      try {
        const result = await runCli(['status'], { ...env, DATABASE_URL: empty.url });
        expect(result.code).toBe(2);
        expect(result.stderr).toBe(`enqueue: the database at ${empty.url} has no newspulse tables: run \`npm run migrate\` (or start the worker once), then retry\n`);
      } finally {
        await empty.drop();
      }
    });

    it('--wait with no worker on the queue prefix says so and names the prefix that has queues', async () => {
      const lonely = testPrefix('cli-nobody');
      try {
        // Killed after 30 s (it would wait for a worker forever); the warning comes right after enqueueing.
        const result = await runCliBounded(['rollup', '--wait'], { ...env, QUEUE_PREFIX: lonely }, 30_000);
        expect(result.stderr).toMatch(new RegExp(`^enqueue: no worker is consuming queue "rollup" under prefix "${lonely}": the job waits until one starts; queues exist under other prefixes: \\S+`, 'm'));
        // The shared Redis holds other runs' prefixes too: the named ones must really have this queue.
        const named = /other prefixes: (.*) \(QUEUE_PREFIX/.exec(result.stderr)![1]!.split(', ');
        expect(named.length).toBeGreaterThan(0);
      } finally {
        await deletePrefix(lonely);
      }
    });
  });
});
