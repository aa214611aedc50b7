/**
 * bull-board as an operator meets it: real fastify on a real port, real Redis queues under a
 * random prefix, HTTP from the outside. Auth covers pages, assets and API; read-only mode is
 * enforced by the server, not just hidden in the UI; an exposed board without a password
 * never starts.
 */
import { Writable } from 'node:stream';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardBinding, BoardConfigError, startBoard, type Board } from '../../src/board/server.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { PermanentError, toBullError } from '../../src/errors.ts';
import type { Logger } from '../../src/logger.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { REDIS_URL } from '../support/env.ts';
import { eventually, freePort, startProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

const USER = 'operator';
const PASSWORD = 'correct horse battery staple';

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
const GOOD = basic(USER, PASSWORD);

function boardConfig(prefix: string, env: Record<string, string> = {}): Config {
  return loadConfig({ REDIS_URL, QUEUE_PREFIX: prefix, BOARD_PORT: '0', BOARD_USER: USER, BOARD_PASSWORD: PASSWORD, ...env }, { readSources: false });
}

/** A pino logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    log: pino({ level: 'info' }, stream),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('bull-board server', () => {
  const prefix = testPrefix('board');
  let redis: Redis;
  let queues: Queues;
  const boards: Board[] = [];

  async function board(env: Record<string, string> = {}, log: Logger = pino({ level: 'silent' })): Promise<Board> {
    const started = await startBoard(boardConfig(prefix, env), queues, log);
    boards.push(started);
    return started;
  }

  beforeAll(async () => {
    redis = workerRedis();
    queues = createQueues(redis, prefix, pino({ level: 'silent' }));
  });

  afterAll(async () => {
    await Promise.all(boards.map((b) => b.close().catch(() => {})));
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
  });

  describe('with a password', () => {
    let url: string;
    beforeAll(async () => {
      ({ url } = await board());
    });

    it('answers 401 without credentials on the page and on the API, asking for basic auth', async () => {
      for (const path of ['', 'api/queues']) {
        const res = await fetch(`${url}/${path}`);
        expect(res.status, path).toBe(401);
        expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic realm="newspulse"/);
      }
    });

    it('answers 401 with a wrong password or a wrong user', async () => {
      expect((await fetch(`${url}/`, { headers: basic(USER, 'wrong') })).status).toBe(401);
      expect((await fetch(`${url}/`, { headers: basic('admin', PASSWORD) })).status).toBe(401);
      expect((await fetch(`${url}/api/queues`, { headers: basic(USER, `${PASSWORD} `) })).status).toBe(401);
    });

    it('serves the page with the right credentials, and its assets load from the same base path', async () => {
      const res = await fetch(`${url}/`, { headers: GOOD });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      const html = await res.text();
      expect(html).toContain('<base href="/board/"');
      const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThan(0);
      for (const asset of assets) {
        const assetUrl = new URL(asset, `${url}/`);
        expect(assetUrl.pathname.startsWith('/board/'), asset).toBe(true);
        const loaded = await fetch(assetUrl, { headers: GOOD });
        expect(loaded.status, asset).toBe(200);
        await loaded.arrayBuffer();
        // Assets are behind the same auth as the page.
        expect((await fetch(assetUrl)).status, asset).toBe(401);
      }
    });

    it('lists every queue with its display name and description (API JSON)', async () => {
      const res = await fetch(`${url}/api/queues`, { headers: GOOD });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { queues: { name: string; displayName: string; description: string; readOnlyMode: boolean; counts: Record<string, number> }[] };
      expect(body.queues.map((q) => [q.name, q.displayName])).toEqual([
        ['ingest', 'Ingest'],
        ['rollup', 'Rollups'],
        ['maintenance', 'Maintenance'],
      ]);
      expect(body.queues.every((q) => q.description.length > 10 && q.readOnlyMode === false)).toBe(true);
    });

    it('titles jobs by source and outcome, shows readable results, metrics on, and failed jobs show the cause', async () => {
      const results: Record<string, unknown> = {
        quiet: { fetched: 0, inserted: 0, not_modified: true },
        busy: { format: 'rss2', fetched: 12, inserted: 12, not_modified: false },
      };
      const worker = new Worker(
        'ingest',
        async (job) => {
          const { sourceId } = job.data as { sourceId: string };
          if (sourceId === 'broken') throw toBullError(new PermanentError('fetch broken: HTTP 404 Not Found from https://example.org/feed.xml', { cause: new Error('socket detail') }));
          return results[sourceId];
        },
        { connection: workerRedis(), prefix },
      );
      try {
        const jobs = await Promise.all(['quiet', 'busy', 'broken'].map((sourceId) => queues.ingest.add('fetch', { sourceId }, { attempts: 1 })));
        await eventually(async () => (await Promise.all(jobs.map((j) => j.getState()))).every((s) => s === 'completed' || s === 'failed'), 20_000, 'jobs finished');
      } finally {
        await worker.close();
      }
      type BoardJob = { name: string; returnValue: unknown; failedReason?: string; stacktrace: string[] };
      const listed = async (status: string) => {
        const res = await fetch(`${url}/api/queues?activeQueue=ingest&status=${status}&page=1`, { headers: GOOD });
        const body = (await res.json()) as { queues: { name: string; jobs: BoardJob[] }[] };
        return body.queues.find((q) => q.name === 'ingest')!.jobs;
      };
      const completed = await listed('completed');
      expect(completed.map((j) => j.name).sort()).toEqual(['fetch busy · +12 articles', 'fetch quiet · 304 not modified']);
      const [failed] = await listed('failed');
      expect(failed!.name).toBe('fetch broken');
      expect(failed!.failedReason).toBe('fetch broken: HTTP 404 Not Found from https://example.org/feed.xml');
      expect(failed!.stacktrace).toEqual(['PermanentError: fetch broken: HTTP 404 Not Found from https://example.org/feed.xml\n  caused by: Error: socket detail']);
      const page = await (await fetch(`${url}/`, { headers: GOOD })).text();
      expect(page).toContain('"showMetrics":true');
    });

    it('allows writes when not read-only', async () => {
      const clean = await fetch(`${url}/api/queues/ingest/clean/completed`, { method: 'PUT', headers: GOOD });
      expect(clean.status).toBe(200);
      const add = await fetch(`${url}/api/queues/maintenance/add`, {
        method: 'POST',
        headers: { ...GOOD, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'reap', data: {} }),
      });
      expect(add.status).toBe(200);
      expect(await queues.maintenance.getJobCounts('waiting')).toEqual({ waiting: 1 });
    });

    it('redirects / to the board', async () => {
      const res = await fetch(url.replace(/\/board$/, '/'), { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/board');
    });
  });

  describe('BOARD_READ_ONLY=true', () => {
    let url: string;
    beforeAll(async () => {
      ({ url } = await board({ BOARD_READ_ONLY: 'true' }));
    });

    it('answers 405 on write endpoints and changes nothing', async () => {
      const before = await queues.maintenance.getJobCounts('waiting');
      const writes: [string, string, string?][] = [
        ['PUT', '/api/queues/ingest/clean/completed'],
        ['PUT', '/api/queues/ingest/retry/failed'],
        ['PUT', '/api/queues/ingest/pause'],
        ['PUT', '/api/queues/ingest/empty'],
        ['POST', '/api/queues/maintenance/add', JSON.stringify({ name: 'reap', data: {} })],
      ];
      for (const [method, path, body] of writes) {
        const res = await fetch(`${url}${path}`, { method, headers: { ...GOOD, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
        expect(res.status, `${method} ${path}`).toBe(405);
      }
      expect(await queues.maintenance.getJobCounts('waiting')).toEqual(before);
      expect(await queues.ingest.isPaused()).toBe(false);
    });

    it('still reads, and says it is read-only', async () => {
      const res = await fetch(`${url}/api/queues`, { headers: GOOD });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { queues: { readOnlyMode: boolean }[] };
      expect(body.queues.map((q) => q.readOnlyMode)).toEqual([true, true, true]);
    });
  });

  describe('binding', () => {
    it('refuses a non-loopback address without a password, with a message that says what to do', () => {
      const config = boardConfig('x', { BOARD_PASSWORD: '', BOARD_HOST: '0.0.0.0' });
      expect(() => boardBinding(config.board)).toThrow(BoardConfigError);
      expect(() => boardBinding(config.board)).toThrow('board: refusing to listen on 0.0.0.0 without a password; set BOARD_PASSWORD (and BOARD_USER) or BOARD_HOST=127.0.0.1');
      expect(boardBinding(boardConfig('x', { BOARD_HOST: '0.0.0.0' }).board)).toEqual({ host: '0.0.0.0', auth: true });
      for (const host of ['127.0.0.1', '::1', 'localhost']) {
        expect(boardBinding(boardConfig('x', { BOARD_PASSWORD: '', BOARD_HOST: host }).board)).toEqual({ host, auth: false });
      }
    });

    it('starts on loopback without a password, open, and warns in the log', async () => {
      const { log, lines } = capturingLogger();
      const { url } = await board({ BOARD_PASSWORD: '' }, log);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/board$/);
      expect((await fetch(`${url}/api/queues`)).status).toBe(200);
      const warning = lines().find((l) => l.level === 40);
      expect(warning?.msg).toMatch(/loopback only WITHOUT auth: set BOARD_PASSWORD/);
      expect(warning?.url).toBe(url);
    });

    it('closes cleanly: the port stops answering', async () => {
      const started = await startBoard(boardConfig(prefix), queues, pino({ level: 'silent' }));
      expect((await fetch(`${started.url}/`, { headers: GOOD })).status).toBe(200);
      await started.close();
      await expect(fetch(`${started.url}/`, { headers: GOOD })).rejects.toThrow();
    });
  });

  describe('`node src/main.ts board` process', () => {
    it('exits non-zero with the clear message when asked to bind 0.0.0.0 without a password', async () => {
      const child = startProcess('src/main.ts', ['board'], { REDIS_URL, QUEUE_PREFIX: prefix, BOARD_HOST: '0.0.0.0', BOARD_PORT: String(await freePort()) });
      const code = await child.exited;
      expect(code).not.toBe(0);
      expect(child.output()).toContain('board: refusing to listen on 0.0.0.0 without a password');
    });

    it('serves with auth and exits 0 on SIGTERM', async () => {
      const port = await freePort();
      const child = startProcess('src/main.ts', ['board'], { REDIS_URL, QUEUE_PREFIX: prefix, BOARD_PORT: String(port), BOARD_USER: USER, BOARD_PASSWORD: PASSWORD });
      try {
        await child.waitForLog(/bull-board listening \(basic auth\)/);
        expect((await fetch(`http://127.0.0.1:${port}/board/`)).status).toBe(401);
        expect((await fetch(`http://127.0.0.1:${port}/board/`, { headers: GOOD })).status).toBe(200);
        expect(child.output()).not.toContain(PASSWORD);
      } finally {
        child.child.kill('SIGTERM');
      }
      expect(await child.exited).toBe(0);
      expect(child.output()).toContain('"msg":"shutdown complete"');
    });
  });
});
