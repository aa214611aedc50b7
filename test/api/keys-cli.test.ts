/** `npm run keys`: create (shown once), list (prefixes only), revoke; bad arguments exit 2. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function keys(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/keys.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('keys CLI', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase('keys_cli');
    env = { DATABASE_URL: db.url };
  });
  afterAll(() => db?.drop());

  it('creates a key shown once, lists it by prefix, revokes it', async () => {
    const created = await keys(['create', 'laptop'], env);
    expect(created.code).toBe(0);
    const key = /^\s+(npk_[\w-]{43})$/m.exec(created.stdout)![1]!;
    const { rows } = await db.pool.query('select name, prefix, hash, revoked_at from api_key');
    expect(rows).toEqual([{ name: 'laptop', prefix: key.slice(0, 12), hash: expect.stringMatching(/^[0-9a-f]{64}$/), revoked_at: null }]);

    const listed = await keys(['list'], env);
    expect(listed.stdout).toMatch(new RegExp(`^\\s+1  ${key.slice(0, 12)}…  \\S+  active  laptop$`, 'm'));
    expect(listed.stdout).not.toContain(key);

    const revoked = await keys(['revoke', key.slice(0, 12)], env);
    expect(revoked.stdout).toBe(`revoked key 1 "laptop" (${key.slice(0, 12)}…)\n`);
    expect((await keys(['list'], env)).stdout).toMatch(/revoked \S+ {2}laptop/);
    const again = await keys(['revoke', '1'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('keys: no active key with id or prefix "1"\n');
  });

  it('rejects bad arguments with exit 2 and its usage', async () => {
    const bad = await keys(['create'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: npm run keys -- <command>');
  });
});
