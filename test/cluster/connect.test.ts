/**
 * The root of issue 9's consumption wedge, on a real 3-master cluster: while a master is down
 * the others answer CLUSTER INFO with cluster_state:fail. A cluster client whose ready check
 * fails reconnects from inside connect() and the promise that connect() returned never settles;
 * BullMQ awaits that promise when it resets a Worker's blocking connection, so the Worker never
 * fetched again. Worker clients (connection.ts) connect without the ready check: connect()
 * settles on the slots refresh even on a failed cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, isCluster, type RedisClient } from '../../src/queues/connection.ts';
import { startRedisCluster, type PrivateRedisCluster } from '../support/redis-cluster.ts';
import { eventually } from '../support/processes.ts';
import { Teardown, withTimeout } from '../faults/support/teardown.ts';
import { Redis } from 'ioredis';

describe('worker cluster clients on a failed cluster', () => {
  const teardown = new Teardown();
  let cluster: PrivateRedisCluster;
  const clients: RedisClient[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster(teardown);
    await cluster.nodes[2]!.stop('SIGTERM');
    // The remaining masters mark it failed after the node timeout (2 s here).
    await eventually(
      async () => {
        const r = new Redis({ port: cluster.nodes[0]!.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
        try {
          return /cluster_state:fail/.test((await r.call('CLUSTER', 'INFO')) as string);
        } finally {
          r.disconnect();
        }
      },
      30_000,
      'cluster_state:fail',
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => closeRedis(c)));
    await teardown.releaseAll();
  });

  it('connect() settles (a hung one is what wedged the Worker)', async () => {
    const client = createRedis(cluster.url, 'worker', { lazyConnect: true });
    client.on('error', () => undefined);
    clients.push(client);
    expect(isCluster(client)).toBe(true);
    // Bounded only so that a regression fails here instead of hanging the suite.
    await withTimeout(client.connect(), 20_000, 'worker cluster client connect() on a failed cluster');
    expect(client.status).toBe('ready');
  });
});
