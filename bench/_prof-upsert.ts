import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedis } from '../test/faults/support/redis.ts';
import { Teardown } from '../test/faults/support/teardown.ts';
const teardown = new Teardown();
try {
  const server = await startRedis(teardown);
  const N = Number(process.env.N ?? 10000);
  for (const round of [0, 1]) for (const auto of [false, true]) {
    const redis = new Redis(server.url, { maxRetriesPerRequest: null, enableAutoPipelining: auto });
    const q = new Queue('ingest', { connection: redis, prefix: `p${round}${auto}` });
    let next = 0;
    const t = performance.now();
    await Promise.all(Array.from({ length: 256 }, async () => { while (next < N) { const i = next++; await q.upsertJobScheduler(`fetch-s-${i}`, { every: 900000 }, { name: 'fetch', data: { sourceId: `s-${i}` } }); } }));
    const ms = performance.now() - t;
    const info = await redis.info('commandstats');
    console.log(`round ${round} auto=${auto}: ${N} upserts ${Math.round(ms)} ms = ${(ms / N * 1000).toFixed(0)} µs each`, /cmdstat_evalsha:[^\r\n]*/.exec(info)?.[0]);
    await q.close(); redis.disconnect();
  }
} finally { await teardown.releaseAll(); }
