/**
 * A real local Redis Cluster for tests: N masters (no replicas) on free loopback ports, each a
 * redis-server with `--cluster-enabled yes` in its own temp dir, joined by
 * `redis-cli --cluster create`. Nodes can be stopped and started one by one (AOF on, so a
 * restarted master keeps its keys). Everything is released by the given Teardown.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { startRedis, type PrivateRedis } from '../faults/support/redis.ts';
import { sleep, type Teardown } from '../faults/support/teardown.ts';

export const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';

export interface PrivateRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`: the form REDIS_URL accepts. */
  url: string;
  nodes: PrivateRedis[];
  /** Waits until every running node says cluster_state:ok. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** The node that serves a key's slot. */
  nodeFor(key: string): Promise<PrivateRedis>;
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

async function nodeCommand<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export async function startRedisCluster(teardown: Teardown, options: { masters?: number } = {}): Promise<PrivateRedisCluster> {
  const masters = options.masters ?? 3;
  const nodes = await Promise.all(
    Array.from({ length: masters }, () =>
      startRedis(teardown, {
        persist: true,
        // A short node timeout: a stopped master is noticed (and its return accepted) within seconds.
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
      }),
    ),
  );
  const created = await run(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  if (created.code !== 0) throw new Error(`redis-cli --cluster create failed (${created.code}):\n${created.output.slice(-3000)}`);

  const cluster: PrivateRedisCluster = {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    async waitOk(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          nodes.filter((n) => n.running()).map((n) => nodeCommand(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>).then((info) => /cluster_state:ok/.test(info), () => false)),
        );
        if (states.length === nodes.length && states.every(Boolean)) return;
        if (Date.now() > deadline) throw new Error(`redis cluster not ok within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    async nodeFor(key) {
      const slot = Number(await nodeCommand(nodes[0]!.port, (r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>));
      const slots = (await nodeCommand(nodes[0]!.port, (r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const owner = slots.find(([from, to]) => slot >= from && slot <= to);
      const node = nodes.find((n) => n.port === Number(owner?.[2][1]));
      if (!node) throw new Error(`no node serves slot ${slot} of ${key}`);
      return node;
    },
  };
  await cluster.waitOk();
  return cluster;
}
