/**
 * Another worker process for fetch-claim.test.ts: claims one source's lease and a slot on its
 * host with the same script the fetch job uses, prints the outcome as one JSON line, and then
 * either frees both (`release`) or holds them until it is killed (`hold`).
 * Args: <redis url> <lease key> <host key> <holder> <concurrency> <min interval ms> <ttl ms> <release|hold>
 */
import { Redis } from 'ioredis';
import { claimFetch } from '../../../src/ingest/fetch-claim.ts';

const [url, leaseKey, hostKey, holder, concurrency, minIntervalMs, ttlMs, then] = process.argv.slice(2);
if (!url || !leaseKey || !hostKey || !holder || !concurrency || !minIntervalMs || !ttlMs || (then !== 'release' && then !== 'hold')) {
  throw new Error('usage: claim-child.ts <redis url> <lease key> <host key> <holder> <concurrency> <min interval ms> <ttl ms> <release|hold>');
}
const redis = new Redis(url, { maxRetriesPerRequest: null });
const claim = await claimFetch(redis, { lease: leaseKey, host: hostKey }, {
  politeness: { concurrency: Number(concurrency), minIntervalMs: Number(minIntervalMs) },
  slotHoldMs: Number(ttlMs),
  ttlMs: Number(ttlMs),
  holder,
});
console.log(JSON.stringify(claim.acquired ? { acquired: true, token: claim.lease.token } : claim));
if (claim.acquired && then === 'release') {
  await claim.lease.release({ slot: claim.slot });
  console.log(JSON.stringify({ released: true }));
}
if (then === 'release' || !claim.acquired) redis.disconnect();
// `hold`: the lease's renewal timer is unref'd; this keeps the process (and the claim) alive until killed.
else setInterval(() => undefined, 60_000);
