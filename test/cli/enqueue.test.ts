/**
 * The enqueue script end to end: a real worker process, real Postgres and Redis, a local HTTP
 * source, and the script run as a user runs it (a child process; stdout is not a TTY, so
 * progress comes as plain lines).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start as startFixtureServer, type FixtureServer } from '../sources/fixture-server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { generatedItems, rss } from '../support/feeds.ts';
import { freePort, runCli, startProcess, startTestWorker, type RunningProcess } from '../support/processes.ts';
import { deletePrefix } from '../support/redis.ts';
import { diffRollups, expectRollupsEqualOracle, rollupRows } from '../rollup/oracle.ts';

const NOW = new Date();
// Scheduled runs stay out of the way: these sources only run when enqueued by hand.
const YEARLY = { cron: '0 0 1 1 *' };
const JOBS = ['fetch', 'rollup', 'rebuild', 'rescore', 'prune', 'status'];
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
      ['status', ['status', '--json']],
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
      expect(result.stderr).toMatch(/^enqueue: unknown job "reticulate" \(jobs: fetch, rollup, rebuild, rescore, prune, status\)\n/);
    });

    it('unknown option: exit 2 naming the option', async () => {
      const result = await runCli(['rollup', '--fast'], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^enqueue: Unknown option '--fast'/);
      const misplaced = await runCli(['prune', '--from', '2026-01-01'], env);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toBe('enqueue: --from, --to and --entity belong to rebuild\n');
      const noSource = await runCli(['fetch'], env);
      expect(noSource.code).toBe(2);
      expect(noSource.stderr).toBe('enqueue: fetch needs a source id or --all (known sources: markets, tech)\n');
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
      expect(status.sources.map((s) => s.id)).toEqual(['markets', 'tech']);
      expect(status.sources.every((s) => s.last_success_at !== null)).toBe(true);
      expect(Object.keys(status.queues)).toEqual(['ingest', 'rollup', 'maintenance']);
      expect(status.queues.ingest!.failed).toBe(0);
      expect(status.rollup).toEqual({ dirty_marks: expect.any(Number), lag_seconds: expect.any(Number) });
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
  });
});
