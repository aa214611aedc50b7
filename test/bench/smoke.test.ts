import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../bench/modules.ts';
import { PG_ADMIN_URL, runNamespace } from '../support/env.ts';
import { workerRedis } from '../support/redis.ts';

/**
 * `npm run bench` at a token size (BENCH_SMOKE=1): every module runs to its end, exits 0 and
 * removes its databases and Redis keys. Benches are not run otherwise, and twice one broke
 * (a hang on an open connection, a seed missing a new not-null column) without anyone seeing.
 * The figures printed at this size mean nothing and are not checked.
 */
describe('bench smoke (npm run bench at a token size)', () => {
  it('runs every bench module to its end, and each cleans up after itself', { timeout: 600_000 }, async () => {
    const stem = `${runNamespace()}_bench`;
    const child = spawn(process.execPath, ['bench/run.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { ...process.env, BENCH_SMOKE: '1', BENCH_NAMESPACE: stem },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A hung module fails this test with its output rather than at the test's own timeout.
      timeout: 540_000,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => void (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    // On failure, what each failing module printed (a stack can be long: keep its end).
    const failed = [...output.matchAll(/^== bench\/(\S+)\n([\s\S]*?)^== bench\/\1: FAILED.*$/gm)];
    const tail = failed.length ? failed.map((m) => `${m[1]}:\n${m[2]!.slice(-3000)}`).join('\n') : output.slice(-3000);

    const finished = [...output.matchAll(/^== bench\/(\S+): done in /gm)].map((m) => m[1]);
    expect(finished, tail).toEqual([...MODULES]);
    expect(code, tail).toBe(0);

    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const redis = workerRedis();
    try {
      const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [stem]);
      expect(rows.map((r) => r.datname)).toEqual([]);
      expect(await redis.keys(`${stem}*`)).toEqual([]);
    } finally {
      await admin.end();
      redis.disconnect();
    }
  });
});
