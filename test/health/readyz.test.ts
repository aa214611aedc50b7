import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { eventually, freePort, startProcess, writeSourcesFile, type RunningProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

type Readiness = { status: number; body: { status: string; checks: Record<string, { ok: boolean; error?: string }> } };

describe('/readyz follows Postgres and Redis', () => {
  let db: TestDatabase;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let worker: RunningProcess;
  let prefix: string;
  let healthPort: number;

  const readiness = async (): Promise<Readiness> => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    return { status: res.status, body: (await res.json()) as Readiness['body'] };
  };

  beforeAll(async () => {
    db = await createTestDatabase('readyz');
    pgProxy = await startTcpProxy('127.0.0.1', 5432);
    redisProxy = await startTcpProxy('127.0.0.1', 6379);
    prefix = testPrefix('readyz');
    healthPort = await freePort();
    const url = new URL(db.url);
    url.port = String(pgProxy.port);
    worker = startProcess('src/main.ts', ['worker'], {
      DATABASE_URL: url.toString(),
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      QUEUE_PREFIX: prefix,
      SOURCES_FILE: writeSourcesFile({ entities: [], sources: [] }),
      HEALTH_PORT: String(healthPort),
    });
    await worker.waitForLog(/"msg":"worker ready"/);
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await pgProxy?.close();
    await redisProxy?.close();
    await deletePrefix(prefix);
    await db?.drop();
  });

  it('is green, red while Redis is unreachable, and green again after', async () => {
    expect((await readiness()).status).toBe(200);
    await redisProxy.cut();
    const red = await eventually(async () => {
      const r = await readiness();
      return r.status === 503 ? r : null;
    }, 20_000, 'readyz red');
    expect(red.body.checks.redis?.ok).toBe(false);
    expect(red.body.checks.postgres?.ok).toBe(true);
    await redisProxy.restore();
    await eventually(async () => (await readiness()).status === 200, 30_000, 'readyz green after Redis returns');
    expect(worker.child.exitCode).toBeNull();
  });

  it('is red while Postgres is unreachable, and green again after', async () => {
    await pgProxy.cut();
    const red = await eventually(async () => {
      const r = await readiness();
      return r.status === 503 ? r : null;
    }, 20_000, 'readyz red');
    expect(red.body.checks.postgres?.ok).toBe(false);
    expect(red.body.checks.postgres?.error).toBeTruthy();
    await pgProxy.restore();
    await eventually(async () => (await readiness()).status === 200, 30_000, 'readyz green after Postgres returns');
    expect(worker.child.exitCode).toBeNull();
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('# TYPE newspulse_jobs_total counter');
    expect(body).toMatch(/newspulse_queue_jobs\{queue="ingest",state="waiting"\} \d+/);
    expect(body).toMatch(/newspulse_rollup_lag_seconds \d/);
    expect(body).toMatch(/^process_resident_memory_bytes \d/m);
  });
});
