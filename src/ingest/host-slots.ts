import { NOW_MS, runScript, type RedisLike } from './redis-scripts.ts';

/**
 * Politeness per origin, shared by every worker: at most `concurrency` requests to one host
 * at a time, and request starts at least `minIntervalMs` apart. One hash per host: `last`
 * (the last start, on Redis' clock) and one field per request in flight whose value is its
 * deadline, so a killed worker's slot frees itself once that deadline passes. The key expires
 * when a host goes quiet.
 */

/**
 * Lua that sets `slotWait` to 0 when `key` has a slot free now (at most `concurrency` live
 * holders, the last start at least `interval` ms ago), else to the ms to wait before asking
 * again; lapsed holders are dropped on the way. Needs `now` (NOW_MS). Shared by the one-key
 * script below and the fetch claim (lease + slot in one script, see fetch-claim.ts).
 */
export function slotCheckLua(key: string, concurrency: string, interval: string): string {
  return `local slotWait = 0
local live, earliest = 0, nil
local fields = redis.call('HGETALL', ${key})
for i = 1, #fields, 2 do
  local f, v = fields[i], tonumber(fields[i + 1])
  if f ~= 'last' then
    if v <= now then redis.call('HDEL', ${key}, f)
    else
      live = live + 1
      if earliest == nil or v < earliest then earliest = v end
    end
  end
end
if live >= tonumber(${concurrency}) then slotWait = math.max(1, earliest - now)
else
  local last = tonumber(redis.call('HGET', ${key}, 'last') or '0')
  if now - last < tonumber(${interval}) then slotWait = last + tonumber(${interval}) - now end
end`;
}

/**
 * Lua that takes the slot `slotCheckLua` found free: `holder` until now + `ttl`, the host's
 * last start stamped at `start` (now, or later for a claim sent before its request is ready).
 */
export function slotTakeLua(key: string, holder: string, ttl: string, interval: string, start = 'now'): string {
  return `redis.call('HSET', ${key}, 'last', ${start}, ${holder}, now + tonumber(${ttl}))
redis.call('PEXPIRE', ${key}, math.max(tonumber(${ttl}), tonumber(${interval})) * 2)`;
}

// Returns 0 when the slot was taken, else how long to wait (ms) before asking again.
const ACQUIRE = `${NOW_MS}
${slotCheckLua('KEYS[1]', 'ARGV[1]', 'ARGV[2]')}
if slotWait > 0 then return slotWait end
${slotTakeLua('KEYS[1]', 'ARGV[4]', 'ARGV[3]', 'ARGV[2]')}
return 0`;

const RELEASE = `return redis.call('HDEL', KEYS[1], ARGV[1])`;

// Moves the start stamped ahead by ARGV[1]'s claim (ARGV[2]) to now, when that claim still
// holds its slot and no request was stamped after it; else returns the ms to wait.
const RESTAMP = `${NOW_MS}
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if last == tonumber(ARGV[2]) and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last', math.max(now, last))
  return 0
end
return math.max(1, last + tonumber(ARGV[3]) - now)`;

export interface HostPoliteness {
  /** Requests in flight to one host, across all workers. */
  concurrency: number;
  /** Least time between two request starts to one host (0: no spacing). */
  minIntervalMs: number;
}

/** A slot held for one request. */
export interface HeldSlot {
  /** The host's hash and this request's field in it. */
  readonly key: string;
  readonly holder: string;
  /** Frees the slot; later calls do nothing. */
  release(): Promise<void>;
  /**
   * Marks the slot freed without a command, for a caller that frees it in its own script
   * (the fetch lease's release): true when it was still held and is now the caller's to free.
   */
  handOver(): boolean;
  /**
   * Called just before the request: 0 when the host's recorded start still covers a request
   * sent now, else the ms to wait (the slot is still held; free it with the lease). Only a
   * slot stamped ahead (see `StampedAhead`) ever sends a command here.
   */
  confirmStart(): Promise<number>;
}

/**
 * A slot whose start was stamped `stamp` (Redis ms), ahead of the claim by a lead that lasts
 * until `coversUntil` (performance.now() ms): a request sent by then starts before its stamp.
 */
export interface StampedAhead {
  stamp: number;
  coversUntil: number;
  minIntervalMs: number;
}

export type SlotAttempt = ({ acquired: true } & HeldSlot) | { acquired: false; retryInMs: number };

/** The slot `holder` holds on `key`, freed once whichever way it is freed first. */
export function heldSlot(redis: RedisLike, key: string, holder: string, ahead?: StampedAhead): HeldSlot {
  let held = true;
  return {
    key,
    holder,
    async release() {
      if (!held) return;
      held = false;
      await runScript(redis, RELEASE, key, holder);
    },
    handOver() {
      const was = held;
      held = false;
      return was;
    },
    async confirmStart() {
      if (!ahead || performance.now() <= ahead.coversUntil) return 0;
      return Number(await runScript(redis, RESTAMP, key, holder, ahead.stamp, ahead.minIntervalMs));
    },
  };
}

/**
 * Takes a slot for one request to a host, held at most `holdMs` (the HTTP deadline plus a
 * margin: the slot covers the request only, not parsing or storing).
 */
export async function acquireHostSlot(redis: RedisLike, key: string, limits: HostPoliteness, holder: string, holdMs: number): Promise<SlotAttempt> {
  const wait = Number(await runScript(redis, ACQUIRE, key, limits.concurrency, limits.minIntervalMs, holdMs, holder));
  if (wait > 0) return { acquired: false, retryInMs: wait };
  return { acquired: true, ...heldSlot(redis, key, holder) };
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
