/**
 * newspulse on a real Redis Cluster: three masters on loopback ports (test/support/redis-cluster.ts),
 * REDIS_URL=redis+cluster://…, the plain QUEUE_PREFIX that the config turns into a {hash tag},
 * split per queue ({prefix:ingest}, {prefix:rollup}) so queues may live on different masters.
 * Two workers, their schedulers, the CLI and the board all run against it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuePrefix, redisKey } from '../../src/queues/keys.ts';
import { effectivePrefix, parseRedisTarget } from '../../src/queues/redis-target.ts';
import { eventually, freePort, runCli } from '../support/processes.ts';
import { startFeedServer, type FeedServer } from '../faults/support/feed-server.ts';
import { growingFeed } from '../faults/support/feeds.ts';
import { startStack, type Stack, type WorkerProcess } from '../faults/support/stack.ts';
import { startNode } from '../faults/support/worker.ts';

const ORIGIN = new Date();
const SOURCES = ['c-alpha', 'c-beta', 'c-gamma'];
const EXTRA_ENV = { FETCH_ALLOW_PRIVATE: 'true' };

async function keysOn(port: number, pattern: string): Promise<string[]> {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    r.disconnect();
  }
}

describe('Redis Cluster', () => {
  let stack: Stack;
  let server: FeedServer;
  const workers: WorkerProcess[] = [];
  const feeds = new Map(SOURCES.map((id) => [id, growingFeed(id, ORIGIN)]));

  beforeAll(async () => {
    stack = await startStack('cluster', { redisCluster: true });
    server = await startFeedServer(stack.teardown);
    for (const [id, feed] of feeds) server.route(`/${id}.xml`, feed.handler);
    stack.writeSources({ sources: SOURCES.map((id) => ({ id, kind: 'feed', url: server.url(`/${id}.xml`), every: '1s' })) });
  }, 120_000);
  afterAll(() => stack?.teardown.releaseAll(), 60_000);

  it('gives each queue its own slot: with the default prefix, fetches and rollups live on different masters', async () => {
    // Deterministic: redis-cli --cluster create splits the slots evenly over the three masters,
    // and {newspulse:ingest} / {newspulse:rollup} hash to slots 7829 and 1870.
    const prefix = effectivePrefix('newspulse', parseRedisTarget(stack.redisCluster!.url));
    expect(prefix).toBe('{newspulse}');
    const ingest = await stack.redisCluster!.nodeFor(`${queuePrefix(prefix, 'ingest')}:ingest:wait`);
    const rollup = await stack.redisCluster!.nodeFor(`${queuePrefix(prefix, 'rollup')}:rollup:wait`);
    expect(queuePrefix(prefix, 'ingest')).toBe('{newspulse:ingest}');
    expect(ingest.port).not.toBe(rollup.port);
    // A prefix whose tag is only part of it is kept: every queue in one slot, as before.
    expect(queuePrefix('np{newspulse}', 'ingest')).toBe('np{newspulse}');
  });

  it("keeps each queue's keys (and its scheduler fingerprints) on its own slot's master; two workers elect one scheduler sync and ingest", async () => {
    expect(stack.prefix).toMatch(/^\{npf_cluster_[0-9a-f]{8}\}$/);
    workers.push(await stack.startWorker('cluster-w1', EXTRA_ENV), await stack.startWorker('cluster-w2', EXTRA_ENV));
    const synced = workers.map((w) => w.count(/"msg":"job schedulers synced"/));
    const skipped = workers.map((w) => w.count(/"msg":"job schedulers (up to date|synced by another process)"/));
    expect(synced.reduce((a, b) => a + b)).toBe(1);
    expect(skipped.reduce((a, b) => a + b)).toBe(1);

    const schedulers = (await stack.queues.ingest.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort();
    expect(schedulers).toEqual(SOURCES.map((id) => `fetch-${id}`));
    await eventually(async () => SOURCES.every((id) => server.stats(`/${id}.xml`).requests >= 3), 60_000, 'three scheduled fetches of every source');

    const nodes = stack.redisCluster!.nodes;
    const escape = (p: string) => p.replace(/[{}*?[\]]/g, '\\$&');
    const base = stack.prefix.slice(1, -1);
    let total = 0;
    for (const queue of ['ingest', 'rollup', 'maintenance']) {
      const qp = queuePrefix(stack.prefix, queue);
      expect(qp).toBe(`{${base}:${queue}}`);
      const owner = await stack.redisCluster!.nodeFor(`${qp}:x`);
      const perNode = await Promise.all(nodes.map((n) => keysOn(n.port, `${escape(qp)}:*`)));
      const onOwner = perNode[nodes.indexOf(owner)]!;
      // Every key of the queue is on the master of its tag's slot, and nowhere else.
      expect(onOwner.length).toBeGreaterThan(0);
      expect(perNode.flat().length).toBe(onOwner.length);
      expect(onOwner).toContain(`${qp}:${queue}:np:schedulers`);
      total += onOwner.length;
    }
    // The few keys outside any queue (the schedules hash and lock, the config version) sit under the plain tag.
    const global = (await Promise.all(nodes.map((n) => keysOn(n.port, `${escape(stack.prefix)}:*`)))).flat();
    expect(global).toContain(redisKey(stack.prefix, 'schedules', 'hash'));
    // No BullMQ key is left under the plain tag: every queue's keys moved to its own.
    expect(global.filter((k) => /^\{[^}]+\}:(ingest|rollup|maintenance):/.test(k))).toEqual([]);
    expect(total).toBeGreaterThan(0);
  }, 180_000);

  it('the CLI enqueues, follows, reports status and reloads over the cluster URL', async () => {
    const env = { ...(await stack.env(EXTRA_ENV)) };
    const status = await runCli(['status', '--json'], env);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { summary: { enabled: number; fetch_schedulers: number }; sources: { id: string; next_run: string | null }[] };
    expect(parsed.summary).toMatchObject({ enabled: 3, fetch_schedulers: 3 });
    expect(parsed.sources.map((s) => s.id)).toEqual(SOURCES);
    expect(parsed.sources.every((s) => s.next_run !== null)).toBe(true);

    const fetched = await runCli(['fetch', 'c-beta', '--wait'], env);
    expect(fetched.stderr).toBe('');
    expect(fetched.code).toBe(0);

    const reload = await runCli(['reload'], env);
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/0 scheduler\(s\) upserted, 0 removed, 7 unchanged/);
    // Every worker hears about the reload through the config version key on the cluster.
    for (const w of workers) await w.waitForLog(/"msg":"entity matcher reloaded"/, 30_000);
  }, 120_000);

  it('the board lists the queues from the cluster', async () => {
    const port = await freePort();
    const board = startNode(stack.teardown, 'cluster-board', ['src/main.ts', 'board'], await stack.env({ BOARD_PORT: String(port), BOARD_PASSWORD: 'cluster-pass' }));
    await board.waitForLog(/bull-board listening/, 60_000);
    const res = await fetch(`http://127.0.0.1:${port}/board/api/queues`, { headers: { authorization: `Basic ${Buffer.from('admin:cluster-pass').toString('base64')}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['ingest', 'maintenance', 'rollup']);
    expect(body.queues.find((q) => q.name === 'ingest')!.counts.completed).toBeGreaterThan(0);
    expect(await board.kill('SIGTERM')).toBe(0);
  }, 120_000);

  it('stores every served item exactly once', async () => {
    for (const feed of feeds.values()) feed.freeze();
    const frozen = SOURCES.map((id) => server.stats(`/${id}.xml`).requests);
    await eventually(async () => SOURCES.every((id, i) => server.stats(`/${id}.xml`).requests >= frozen[i]! + 2), 60_000, 'fetches after freezing');
    await stack.waitDrained(60_000, ['ingest']);
    const served = SOURCES.reduce((s, id) => s + feeds.get(id)!.servedUpTo(), 0);
    expect(await stack.count('select count(*) as n from article')).toBe(served);
    expect(await stack.count('select count(distinct url_key) as n from article')).toBe(served);
    expect(await Promise.all(workers.map((w) => w.kill('SIGTERM')))).toEqual([0, 0]);
  }, 120_000);
});
