import { NOW_MS, runScript, type RedisLike } from './redis-scripts.ts';

/**
 * Politeness per origin, shared by every worker: at most `concurrency` requests to one host
 * at a time, and request starts at least `minIntervalMs` apart. One hash per host: `last`
 * (the last start, on Redis' clock) and one field per request in flight whose value is its
 * deadline, so a killed worker's slot frees itself once that deadline passes. The key expires
 * when a host goes quiet.
 */

// Returns 0 when the slot was taken, else how long to wait (ms) before asking again.
const ACQUIRE = `${NOW_MS}
local live, earliest = 0, nil
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local f, v = fields[i], tonumber(fields[i + 1])
  if f ~= 'last' then
    if v <= now then redis.call('HDEL', KEYS[1], f)
    else
      live = live + 1
      if earliest == nil or v < earliest then earliest = v end
    end
  end
end
if live >= tonumber(ARGV[1]) then return math.max(1, earliest - now) end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local interval = tonumber(ARGV[2])
if now - last < interval then return last + interval - now end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'last', now, ARGV[4], now + ttl)
redis.call('PEXPIRE', KEYS[1], math.max(ttl, interval) * 2)
return 0`;

const RELEASE = `return redis.call('HDEL', KEYS[1], ARGV[1])`;

export interface HostPoliteness {
  /** Requests in flight to one host, across all workers. */
  concurrency: number;
  /** Least time between two request starts to one host (0: no spacing). */
  minIntervalMs: number;
}

export type SlotAttempt = { acquired: true; release(): Promise<void> } | { acquired: false; retryInMs: number };

/**
 * Takes a slot for one request to a host, held at most `holdMs` (the HTTP deadline plus a
 * margin: the slot covers the request only, not parsing or storing).
 */
export async function acquireHostSlot(redis: RedisLike, key: string, limits: HostPoliteness, holder: string, holdMs: number): Promise<SlotAttempt> {
  const wait = Number(await runScript(redis, ACQUIRE, key, limits.concurrency, limits.minIntervalMs, holdMs, holder));
  if (wait > 0) return { acquired: false, retryInMs: wait };
  return {
    acquired: true,
    release: async () => {
      await runScript(redis, RELEASE, key, holder);
    },
  };
}

/**
 * When a job that found its host busy asks again: no sooner than the host can take it, no
 * later than a few intervals (slots usually free long before their deadline), spread by
 * jitter so jobs waiting on one host do not all come back at the same instant.
 */
export function retryDelayMs(retryInMs: number, limits: HostPoliteness): number {
  const spread = Math.max(limits.minIntervalMs, 250);
  return Math.round(Math.min(retryInMs, spread * 4) + Math.random() * spread);
}
