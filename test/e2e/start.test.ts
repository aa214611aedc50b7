/**
 * `npm start` as a newcomer runs it: the shipped config, a database that does not exist
 * yet, then Ctrl-C.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { QUEUE_NAMES } from '../../src/queues/catalogue.ts';
import { MAINTENANCE_SCHEDULES } from '../../src/queues/schedules.ts';
import { dropDatabase, uniqueName } from '../support/db.ts';
import { databaseUrl, REDIS_URL } from '../support/env.ts';
import { freePort, startProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';

describe('npm start', () => {
  const dbName = uniqueName('start');
  const prefix = testPrefix('start');
  afterAll(async () => {
    await deletePrefix(prefix);
    await dropDatabase(dbName);
  });

  it('creates and migrates the database, syncs the shipped config, schedules every enabled source, is ready, and stops on Ctrl-C', async () => {
    const healthPort = await freePort();
    const boardPort = await freePort();
    const proc = startProcess('src/main.ts', ['start'], {
      DATABASE_URL: databaseUrl(dbName),
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      HEALTH_PORT: String(healthPort),
      BOARD_PORT: String(boardPort),
      API_PORT: String(await freePort()),
    });
    try {
      await proc.waitForLog(/"msg":"worker ready"/, 60_000);
      expect(proc.output()).toContain('"msg":"migrations applied"');
      const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      expect(ready.status).toBe(200);
      const board = await fetch(`http://127.0.0.1:${boardPort}/board/`);
      expect(board.status).toBe(200);

      const shipped = loadConfig({ SOURCES_FILE: 'config/sources.json' });
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      try {
        const ids: string[] = [];
        for (const name of QUEUE_NAMES) {
          const queue = new Queue(name, { connection: redis, prefix });
          ids.push(...(await queue.getJobSchedulers(0, 1000)).map((s) => s.id ?? s.key));
          await queue.close();
        }
        const expected = [...shipped.sources.filter((s) => s.enabled).map((s) => `fetch-${s.id}`), ...MAINTENANCE_SCHEDULES.map((m) => m.id)];
        expect(ids.sort()).toEqual(expected.sort());
      } finally {
        redis.disconnect();
      }

      proc.child.kill('SIGINT');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('"msg":"shutdown complete"');
    } finally {
      await proc.stop('SIGKILL');
    }
  });
});
