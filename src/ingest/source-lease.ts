import { TransientError } from '../errors.ts';
import type { HeldSlot } from './host-slots.ts';
import { NOW_MS, runScript, runMultiKeyScript, type RedisLike } from './redis-scripts.ts';

/**
 * At most one fetch of a source at a time, across every worker, with no database
 * connection held while fetching: a lease in Redis (one hash per source) that expires unless
 * renewed, so a killed worker's lease frees itself, plus a fencing token that grows with
 * every grant. The commit writes the token into `source.fence` only if it is larger than the
 * one stored (see recordSuccess/recordFailure): a holder that lost its lease while paused
 * (GC, a frozen VM) and wakes up after a newer holder committed writes nothing.
 *
 * The hash holds `fence` (the last token granted; never expires), `holder` (the token of the
 * current holder) and `until` (its deadline on Redis' clock).
 */

/** Lease lifetime; renewed every third of it while the fetch runs. */
export const LEASE_TTL_MS = 30_000;

/**
 * Lua that sets `leaseWait` to 0 when the lease hash `key` is free, else to the ms its holder
 * has left. Needs `now` (NOW_MS). Shared with the fetch claim (see fetch-claim.ts).
 */
export function leaseCheckLua(key: string): string {
  return `local leaseWait = 0
if redis.call('HGET', ${key}, 'holder') then
  local untilMs = tonumber(redis.call('HGET', ${key}, 'until') or '0')
  if untilMs > now then leaseWait = untilMs - now end
end`;
}

/** Lua that grants the lease `leaseCheckLua` found free until now + `ttl`: sets `fence`, the new token. */
export function leaseTakeLua(key: string, ttl: string): string {
  return `local fence = tonumber(redis.call('HGET', ${key}, 'fence') or '0') + 1
redis.call('HSET', ${key}, 'fence', fence, 'holder', fence, 'until', now + tonumber(${ttl}))`;
}

const ACQUIRE = `${NOW_MS}
${leaseCheckLua('KEYS[1]')}
if leaseWait > 0 then return {0, leaseWait} end
${leaseTakeLua('KEYS[1]', 'ARGV[1]')}
return {fence, 0}`;

const RENEW = `${NOW_MS}
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'until', now + tonumber(ARGV[2]))
return 1`;

// Redis lost its counter (restart without persistence): move it past the database's fence.
const RESEED = `if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
local fence = math.max(tonumber(redis.call('HGET', KEYS[1], 'fence') or '0'), tonumber(ARGV[2])) + 1
redis.call('HSET', KEYS[1], 'fence', fence, 'holder', fence)
return fence`;

const RELEASE = `if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
if ARGV[2] == 'forget' then redis.call('DEL', KEYS[1]) else redis.call('HDEL', KEYS[1], 'holder', 'until') end
return 1`;

// The same, freeing a host slot (KEYS[2], field ARGV[3]) in the same round trip.
const RELEASE_WITH_SLOT = `redis.call('HDEL', KEYS[2], ARGV[3])
${RELEASE}`;

export interface SourceLease {
  /** The fencing token to commit with. */
  readonly token: number;
  /** Aborted when a renewal finds the lease taken by someone else. */
  readonly lost: AbortSignal;
  /**
   * Makes the token larger than `dbFence` when it is not (Redis forgot its counter): without
   * this every commit would be refused as stale.
   */
  ensureAbove(dbFence: number): Promise<void>;
  /**
   * Frees the lease (a no-op if it was lost). `forget` deletes the key (a source with no row).
   * `slot`, when still held, is freed by the same script: one round trip for both.
   */
  release(options?: { forget?: boolean; slot?: HeldSlot }): Promise<void>;
}

export type LeaseAttempt = { acquired: true; lease: SourceLease } | { acquired: false; heldForMs: number };

export async function acquireSourceLease(
  redis: RedisLike,
  key: string,
  options: { ttlMs?: number; onRenewError?: (err: unknown) => void } = {},
): Promise<LeaseAttempt> {
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  const [granted, heldForMs] = (await runScript(redis, ACQUIRE, key, ttlMs)) as [number, number];
  if (granted === 0) return { acquired: false, heldForMs };
  return { acquired: true, lease: heldLease(redis, key, granted, { ttlMs, onRenewError: options.onRenewError }) };
}

/**
 * The lease on `key` granted with `granted` (by ACQUIRE or by a script that takes it together
 * with something else, see fetch-claim.ts): renewed every third of its lifetime until released.
 */
export function heldLease(redis: RedisLike, key: string, granted: number, options: { ttlMs?: number; onRenewError?: ((err: unknown) => void) | undefined }): SourceLease {
  const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  let token = granted;
  const lost = new AbortController();
  const renew = setInterval(() => {
    runScript(redis, RENEW, key, token, ttlMs).then(
      (ok) => {
        if (ok === 0 && !lost.signal.aborted) lost.abort(new TransientError(`fetch lease ${key}: lost to another worker (this one stalled past ${ttlMs} ms)`));
      },
      (err: unknown) => options.onRenewError?.(err),
    );
  }, Math.max(10, Math.floor(ttlMs / 3)));
  renew.unref();
  return {
    get token() {
      return token;
    },
    lost: lost.signal,
    async ensureAbove(dbFence) {
      if (token > dbFence) return;
      const next = Number(await runScript(redis, RESEED, key, token, dbFence));
      if (next === 0) throw new TransientError(`fetch lease ${key}: lost before it could be reseeded`);
      token = next;
    },
    async release({ forget = false, slot } = {}) {
      clearInterval(renew);
      const mode = forget ? 'forget' : 'keep';
      if (slot?.handOver()) await runMultiKeyScript(redis, RELEASE_WITH_SLOT, [key, slot.key], token, mode, slot.holder);
      else await runScript(redis, RELEASE, key, token, mode);
    },
  };
}
