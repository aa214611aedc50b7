import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { claimFetch, type ClaimAttempt } from '../../src/ingest/fetch-claim.ts';
import { acquireHostSlot } from '../../src/ingest/host-slots.ts';
import { runScript } from '../../src/ingest/redis-scripts.ts';
import { acquireSourceLease } from '../../src/ingest/source-lease.ts';
import { REDIS_URL } from '../support/env.ts';
import { eventually } from '../support/processes.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

/**
 * The fetch claim: a source's lease and a slot on its host in one script, freed in one. What
 * it must keep from the two scripts it combines: one holder per source with a growing fencing
 * token, per-host concurrency and minimum interval, across processes, and claims that lapse by
 * themselves when their process is killed.
 */
describe('fetch claim: lease + host slot in one script (Redis)', () => {
  let redis: Redis;
  let other: Redis;
  const prefix = testPrefix('claim');
  const keys = (source: string, host = 'feeds.example') => ({ lease: `${prefix}:fetch-lease:${source}`, host: `${prefix}:host:${host}` });
  const open = { concurrency: 64, minIntervalMs: 0 };
  const children: ReturnType<typeof spawn>[] = [];

  beforeAll(() => {
    redis = workerRedis();
    other = workerRedis();
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  afterAll(async () => {
    redis?.disconnect();
    other?.disconnect();
    await deletePrefix(prefix);
  });

  const claim = (client: Redis, source: string, options: { politeness?: typeof open; host?: string; ttlMs?: number; holder?: string } = {}) =>
    claimFetch(client, keys(source, options.host), {
      politeness: options.politeness ?? open,
      slotHoldMs: options.ttlMs ?? 30_000,
      ttlMs: options.ttlMs ?? 30_000,
      holder: options.holder ?? 'job',
    });
  const granted = (attempt: ClaimAttempt) => {
    if (!attempt.acquired) throw new Error(`expected a grant, got ${JSON.stringify(attempt)}`);
    return attempt;
  };

  /** Runs test/ingest/support/claim-child.ts; resolves with its first JSON line. */
  function child(source: string, options: { politeness: typeof open; ttlMs: number; after: 'release' | 'hold'; host?: string }) {
    const k = keys(source, options.host);
    const proc = spawn(
      process.execPath,
      [new URL('./support/claim-child.ts', import.meta.url).pathname, REDIS_URL, k.lease, k.host, `child-${source}`, String(options.politeness.concurrency), String(options.politeness.minIntervalMs), String(options.ttlMs), options.after],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(proc);
    let out = '';
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const lines = new Promise<Record<string, unknown>[]>((resolve, reject) => {
      proc.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const complete = out.split('\n').filter(Boolean);
        if (complete.length >= (options.after === 'release' ? 2 : 1)) resolve(complete.map((l) => JSON.parse(l) as Record<string, unknown>));
      });
      proc.once('exit', (code) => reject(new Error(`claim-child exited ${code} before reporting: ${out}${err}`)));
    });
    return { proc, lines };
  }

  it('two workers racing for one source: exactly one is granted, with the next fencing token; the other is told the source is busy', async () => {
    const attempts = await Promise.all([claim(redis, 'race'), claim(other, 'race')]);
    const winners = attempts.filter((a) => a.acquired);
    expect(winners).toHaveLength(1);
    expect(attempts.find((a) => !a.acquired)).toMatchObject({ acquired: false, busy: 'source' });
    const winner = granted(winners[0]!);
    expect(winner.lease.token).toBe(1);
    // The loser took nothing: the host has one holder, the winner's.
    expect(Object.keys(await redis.hgetall(keys('race').host)).filter((f) => f !== 'last')).toEqual([`job:1`]);
    await winner.lease.release({ slot: winner.slot });
    expect(await redis.hgetall(keys('race').lease)).toEqual({ fence: '1' });
    expect(Object.keys(await redis.hgetall(keys('race').host))).toEqual(['last']);
    const next = granted(await claim(other, 'race'));
    expect(next.lease.token).toBe(2);
    await next.lease.release({ slot: next.slot });
  });

  it('interoperates with the one-key scripts: a lease or slot taken alone blocks the claim, and the claim blocks them', async () => {
    const alone = await acquireSourceLease(redis, keys('mixed').lease);
    if (!alone.acquired) throw new Error('lease not granted');
    expect(await claim(other, 'mixed')).toMatchObject({ acquired: false, busy: 'source' });
    await alone.lease.release();
    const both = granted(await claim(other, 'mixed', { politeness: { concurrency: 1, minIntervalMs: 0 }, host: 'mixed.example' }));
    expect(both.lease.token).toBe(2);
    expect(await acquireHostSlot(redis, keys('mixed', 'mixed.example').host, { concurrency: 1, minIntervalMs: 0 }, 'x', 30_000)).toMatchObject({ acquired: false });
    expect(await acquireSourceLease(redis, keys('mixed').lease)).toMatchObject({ acquired: false });
    await both.lease.release({ slot: both.slot });
    const slot = await acquireHostSlot(redis, keys('mixed', 'mixed.example').host, { concurrency: 1, minIntervalMs: 0 }, 'x', 30_000);
    expect(slot.acquired).toBe(true);
    if (slot.acquired) await slot.release();
  });

  it('the host limit holds across two processes: a busy host refuses the claim without taking the lease or a token', async () => {
    const limits = { concurrency: 1, minIntervalMs: 0 };
    const held = child('proc-a', { politeness: limits, ttlMs: 30_000, after: 'hold', host: 'shared.example' });
    expect((await held.lines)[0]).toEqual({ acquired: true, token: 1 });
    const refused = await claim(redis, 'proc-b', { politeness: limits, host: 'shared.example' });
    expect(refused).toMatchObject({ acquired: false, busy: 'host' });
    expect(refused.acquired === false && refused.busy === 'host' && refused.retryInMs > 0).toBe(true);
    // No token burnt and no lease left behind on the source that did not get its slot.
    expect(await redis.exists(keys('proc-b').lease)).toBe(0);
    held.proc.kill('SIGKILL');
  });

  it('the minimum interval holds across processes: after another process started and freed its request, the host waits', async () => {
    const limits = { concurrency: 4, minIntervalMs: 60_000 };
    const done = child('interval-a', { politeness: limits, ttlMs: 30_000, after: 'release', host: 'interval.example' });
    expect(await done.lines).toEqual([{ acquired: true, token: 1 }, { released: true }]);
    const refused = await claim(redis, 'interval-b', { politeness: limits, host: 'interval.example' });
    expect(refused.acquired === false && refused.busy === 'host' && refused.retryInMs > 30_000).toBe(true);
    expect(await redis.exists(keys('interval-b').lease)).toBe(0);
  });

  it('kill -9 right after the claim: both the lease and the slot lapse by themselves, and the next holder gets a larger token', async () => {
    const limits = { concurrency: 1, minIntervalMs: 0 };
    const killed = child('killed', { politeness: limits, ttlMs: 1_500, after: 'hold', host: 'killed.example' });
    expect((await killed.lines)[0]).toEqual({ acquired: true, token: 1 });
    killed.proc.kill('SIGKILL');
    await new Promise((resolve) => killed.proc.once('exit', resolve));
    // Still held right after the kill (nothing freed it) ...
    expect(await claim(redis, 'killed', { politeness: limits, host: 'killed.example' })).toMatchObject({ acquired: false, busy: 'source' });
    expect(await claim(redis, 'killed-neighbour', { politeness: limits, host: 'killed.example' })).toMatchObject({ acquired: false, busy: 'host' });
    // ... until its deadline passes on Redis' clock: then the source and the host are free again.
    const next = await eventually(async () => {
      const attempt = await claim(redis, 'killed', { politeness: limits, host: 'killed.example' });
      return attempt.acquired ? attempt : null;
    }, 20_000, 'the killed claim to lapse');
    expect(next.lease.token).toBe(2);
    await next.lease.release({ slot: next.slot });
  });

  it('a slot freed on its own is not freed again by the lease release, and the release frees only its own holder', async () => {
    const limits = { concurrency: 2, minIntervalMs: 0 };
    const first = granted(await claim(redis, 'own-a', { politeness: limits, host: 'own.example', holder: 'a' }));
    const second = granted(await claim(other, 'own-b', { politeness: limits, host: 'own.example', holder: 'b' }));
    await first.slot.release();
    await first.lease.release({ slot: first.slot });
    expect(Object.keys(await redis.hgetall(keys('own-a', 'own.example').host)).sort()).toEqual(['b:1', 'last']);
    await second.lease.release({ slot: second.slot });
    expect(Object.keys(await redis.hgetall(keys('own-b', 'own.example').host))).toEqual(['last']);
  });

  it('scripts go by their digest; one Redis has not seen yet is sent whole once, then by digest', async () => {
    // A script text no earlier run can have cached on this server.
    const script = `return tonumber(ARGV[1]) + 1 -- ${prefix}`;
    const sha = createHash('sha1').update(script).digest('hex');
    // Commands as this client sends them (other clients share the server's counters).
    const sent: string[] = [];
    const spy = (name: 'eval' | 'evalsha') => {
      const real = redis[name].bind(redis) as (...args: unknown[]) => Promise<unknown>;
      return ((...args: unknown[]) => {
        sent.push(name);
        return real(...args);
      }) as never;
    };
    const { eval: realEval, evalsha: realEvalsha } = redis;
    redis.eval = spy('eval');
    redis.evalsha = spy('evalsha');
    try {
      expect(await redis.script('EXISTS', sha)).toEqual([0]);
      expect(await runScript(redis, script, `${prefix}:digest`, 41)).toBe(42);
      expect(sent).toEqual(['evalsha', 'eval']);
      expect(await redis.script('EXISTS', sha)).toEqual([1]);
      expect(await runScript(redis, script, `${prefix}:digest`, 1)).toBe(2);
      expect(sent).toEqual(['evalsha', 'eval', 'evalsha']);
    } finally {
      redis.eval = realEval;
      redis.evalsha = realEvalsha;
    }
  });

  describe('a claim sent before its request is ready (lead)', () => {
    const spaced = { concurrency: 4, minIntervalMs: 60_000 };
    const redisNow = async () => {
      const [s, us] = await redis.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };
    const lastOf = async (host: string) => Number(await redis.hget(keys('x', host).host, 'last'));
    const leadClaim = (source: string, host: string, leadMs: number, politeness = spaced) =>
      claimFetch(redis, keys(source, host), { politeness, slotHoldMs: 30_000, ttlMs: 30_000, holder: 'job', leadMs });
    const pastLead = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms + 20));

    it("stamps the host's start ahead by the lead, so the next start waits a full interval after the stamp", async () => {
      const claimed = granted(await leadClaim('lead-a', 'lead.example', 10_000));
      // Redis' clock has moved far less than the 10 s lead since the claim.
      const stamp = await lastOf('lead.example');
      expect(stamp).toBeGreaterThan(await redisNow());
      const refused = await claim(other, 'lead-b', { politeness: spaced, host: 'lead.example' });
      expect(refused.acquired === false && refused.busy === 'host' && refused.retryInMs > spaced.minIntervalMs).toBe(true);
      // Within its lead the slot needs no command to confirm its start.
      expect(await claimed.slot.confirmStart()).toBe(0);
      expect(await lastOf('lead.example')).toBe(stamp);
      await claimed.lease.release({ slot: claimed.slot });
    });

    it('past the lead, confirming the start moves the stamp to the real start', async () => {
      const claimed = granted(await leadClaim('late-a', 'late.example', 1));
      const stamp = await lastOf('late.example');
      await pastLead(1);
      expect(await claimed.slot.confirmStart()).toBe(0);
      const restamped = await lastOf('late.example');
      expect(restamped).toBeGreaterThan(stamp);
      expect(restamped).toBeLessThanOrEqual(await redisNow());
      await claimed.lease.release({ slot: claimed.slot });
    });

    it('past the lead, a start stamped by another claim since makes the request wait, and the stamp stays', async () => {
      const claimed = granted(await leadClaim('raced-a', 'raced.example', 1));
      await pastLead(1);
      // As if another process had been granted a start on the host after this claim's.
      const theirs = (await lastOf('raced.example')) + 5;
      await redis.hset(keys('x', 'raced.example').host, 'last', theirs);
      const wait = await claimed.slot.confirmStart();
      expect(wait).toBeGreaterThan(spaced.minIntervalMs - 1_000);
      expect(await lastOf('raced.example')).toBe(theirs);
      await claimed.lease.release({ slot: claimed.slot });
    });

    it('with no interval between starts there is nothing to stamp ahead: the lead is ignored', async () => {
      const claimed = granted(await leadClaim('free-a', 'free.example', 10_000, open));
      expect(await lastOf('free.example')).toBeLessThanOrEqual(await redisNow());
      await pastLead(1);
      const stamp = await lastOf('free.example');
      expect(await claimed.slot.confirmStart()).toBe(0);
      expect(await lastOf('free.example')).toBe(stamp);
      await claimed.lease.release({ slot: claimed.slot });
    });
  });
});

