import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, isCluster } from '../../src/queues/connection.ts';

describe('createRedis', () => {
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers: the case the TCP connect timeout alone misses.
    server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a producer fails (instead of hanging) on a port that accepts but never answers', async () => {
    const client = createRedis(`redis://127.0.0.1:${port}`, 'producer', { lazyConnect: true });
    const errors: string[] = [];
    client.on('error', (e: Error) => errors.push(e.message));
    await expect(client.connect()).rejects.toThrow();
    expect(errors).toContain('Command timed out');
    client.disconnect();
  }, 30_000);

  it('makes a Cluster client for the cluster URL form and a plain one otherwise', async () => {
    const cluster = createRedis('redis+cluster://127.0.0.1:1,127.0.0.1:2', 'worker', { lazyConnect: true });
    const single = createRedis('redis://127.0.0.1:1', 'worker', { lazyConnect: true });
    expect([isCluster(cluster), isCluster(single)]).toEqual([true, false]);
    await Promise.all([closeRedis(cluster), closeRedis(single)]);
  });
});
