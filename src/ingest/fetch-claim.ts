import { heldSlot, slotCheckLua, slotTakeLua, type HeldSlot, type HostPoliteness } from './host-slots.ts';
import { NOW_MS, runMultiKeyScript, type RedisLike } from './redis-scripts.ts';
import { heldLease, LEASE_TTL_MS, leaseCheckLua, leaseTakeLua, type SourceLease } from './source-lease.ts';

/**
 * A fetch's claim in ONE round trip: the source's lease (with its fencing token) and a
 * politeness slot on its host, taken together or not at all. It is the lease script and the
 * slot script of source-lease.ts and host-slots.ts run back to back in one Lua call, so the
 * two keep exactly their guarantees (one holder per source, lapsing deadlines on Redis'
 * clock, per-host concurrency and minimum interval); the only difference is that a busy host
 * no longer burns a fencing token or holds the source while the job goes back to wait.
 *
 * A claim sent before its request is ready (beside the read of the source row, fetch.job.ts)
 * stamps the host's start `leadMs` ahead of Redis' clock, so a request sent within the lead
 * starts before its stamp and the next start still waits a full interval after it. Past the
 * lead, the slot's confirmStart moves the stamp to the real start, or defers the request.
 *
 * KEYS[1] the lease hash, KEYS[2] the host hash (both under the ingest queue's prefix: one
 * cluster slot). ARGV: lease ttl, host concurrency, host min interval, slot hold, holder
 * prefix (the slot's field is "<prefix>:<token>"), lead. Returns {token, 0, start} when granted,
 * {0, ms} when the source is leased, {-1, ms} when the host is at its limit.
 */
const CLAIM = `${NOW_MS}
${leaseCheckLua('KEYS[1]')}
if leaseWait > 0 then return {0, leaseWait} end
${slotCheckLua('KEYS[2]', 'ARGV[2]', 'ARGV[3]')}
if slotWait > 0 then return {-1, slotWait} end
${leaseTakeLua('KEYS[1]', 'ARGV[1]')}
local holder = ARGV[5] .. ':' .. fence
local start = now + tonumber(ARGV[6])
${slotTakeLua('KEYS[2]', 'holder', 'ARGV[4]', 'ARGV[3]', 'start')}
return {fence, 0, start}`;

export type ClaimAttempt =
  | { acquired: true; lease: SourceLease; slot: HeldSlot }
  | { acquired: false; busy: 'source'; heldForMs: number }
  | { acquired: false; busy: 'host'; retryInMs: number };

export interface ClaimKeys {
  lease: string;
  host: string;
}

export async function claimFetch(
  redis: RedisLike,
  keys: ClaimKeys,
  options: { politeness: HostPoliteness; slotHoldMs: number; holder: string; leadMs?: number; ttlMs?: number; onRenewError?: (err: unknown) => void },
): Promise<ClaimAttempt> {
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  const { concurrency, minIntervalMs } = options.politeness;
  // Never past the interval (0 when there is none): a lead widens the spacing after this claim by its length.
  const leadMs = Math.min(options.leadMs ?? 0, minIntervalMs);
  const coversUntil = leadMs > 0 ? performance.now() + leadMs : 0;
  const [granted, waitMs, stamp] = (await runMultiKeyScript(redis, CLAIM, [keys.lease, keys.host], ttlMs, concurrency, minIntervalMs, options.slotHoldMs, options.holder, leadMs)) as [number, number, number];
  if (granted === 0) return { acquired: false, busy: 'source', heldForMs: waitMs };
  if (granted < 0) return { acquired: false, busy: 'host', retryInMs: waitMs };
  return {
    acquired: true,
    lease: heldLease(redis, keys.lease, granted, { ttlMs, onRenewError: options.onRenewError }),
    slot: heldSlot(redis, keys.host, `${options.holder}:${granted}`, leadMs > 0 ? { stamp, coversUntil, minIntervalMs } : undefined),
  };
}
