/**
 * The health server on its own: it answers from the first moment ("starting"), /readyz runs the
 * checks once start finished, /livez (and /healthz) follow the liveness signal, and main.ts
 * --help lists every environment variable the config reads.
 */
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../src/config.ts';
import { startHealthServer, type HealthServer } from '../../src/health.ts';

const log = pino({ level: 'silent' });
let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${server!.port}${path}`);
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type') === 'application/json' ? JSON.parse(text) : text };
}

describe('health server', () => {
  it('answers while starting: live, not ready, no metrics yet', async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', log });
    expect(await get('/livez')).toEqual({ status: 200, body: { status: 'starting' } });
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'starting' } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { status: 'starting' } });
    expect(await get('/metrics')).toEqual({ status: 503, body: { error: 'starting' } });
  });

  it('once started, /readyz runs the checks and /livez turns 503 while the workers are stalled', async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', log });
    let stall: { since: Date; reason: string } | null = null;
    let postgresUp = true;
    server.started({
      checks: [
        { name: 'postgres', check: async () => void (postgresUp || (await Promise.reject(new Error('ECONNREFUSED')))) },
        { name: 'workers', check: async () => undefined },
      ],
      liveness: { stalled: () => stall },
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'up 1\n' }),
    });
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready', checks: { postgres: { ok: true }, workers: { ok: true } } } });
    expect(await get('/livez')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/metrics')).toEqual({ status: 200, body: 'up 1\n' });

    // An outage is readiness' business: liveness stays green (a restart would not help).
    postgresUp = false;
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/livez')).status).toBe(200);

    stall = { since: new Date('2026-12-02T01:00:00Z'), reason: 'not consuming: ingest: oldest waiting job has waited 75s with free worker slots' };
    const stalled = { status: 503, body: { status: 'stalled', since: '2026-12-02T01:00:00.000Z', reason: stall.reason } };
    expect(await get('/livez')).toEqual(stalled);
    expect(await get('/healthz')).toEqual(stalled);
    stall = null;
    expect((await get('/livez')).status).toBe(200);
  });

  it('lists its paths on a 404', async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', log });
    expect(await get('/nope')).toEqual({ status: 404, body: { error: 'not found', paths: ['/livez', '/healthz', '/readyz', '/metrics'] } });
  });
});

describe('node src/main.ts --help', () => {
  it('prints the commands and every environment variable, exit 0, without reading any config', () => {
    const result = spawnSync(process.execPath, ['src/main.ts', '--help'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'not a url' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    for (const word of ['start', 'worker', 'board', 'migrate', 'npm run enqueue -- --help', ...ENV_VARIABLES]) expect(result.stdout, word).toContain(word);
  });
});
