import type { Queue } from 'bullmq';
import { ByteBudget } from './byte-budget.ts';
import { claimFetch, type ClaimAttempt } from './fetch-claim.ts';
import { HostHints } from './host-hints.ts';
import { acquireHostSlot, type HostPoliteness, type SlotAttempt } from './host-slots.ts';
import { keyUnder, redisOf, type RedisLike } from './redis-scripts.ts';
import { acquireSourceLease, type LeaseAttempt } from './source-lease.ts';

/**
 * What fetches share beyond one job: the per-source lease and the per-host slots (in Redis,
 * across workers, keyed under the ingest queue's prefix), and this process's parse budget and
 * host hints.
 */
export interface FetchCoordination {
  lease(sourceId: string, onRenewError: (err: unknown) => void): Promise<LeaseAttempt>;
  hostSlot(host: string, holder: string): Promise<SlotAttempt>;
  /**
   * The lease and a slot on `host` in one round trip (see fetch-claim.ts); `holder` names the
   * slot. `early`: sent before the source row is read, so its host's start is stamped ahead.
   */
  claim(sourceId: string, host: string, holder: string, onRenewError: (err: unknown) => void, options?: { early?: boolean }): Promise<ClaimAttempt>;
  readonly politeness: HostPoliteness;
  readonly budget: ByteBudget;
  /** The host each source's last successful fetch in this process went to (see host-hints.ts). */
  readonly hostHints: HostHints;
}

/**
 * How far ahead an early claim stamps its host's start: longer than a source read takes on a
 * healthy database (a slower read costs one more round trip), short beside the usual interval;
 * claimFetch caps it at the interval.
 */
const EARLY_CLAIM_LEAD_MS = 50;

export function createFetchCoordination(
  queue: Queue,
  options: { politeness: HostPoliteness; httpTimeoutMs: number; parseBudgetBytes: number },
): FetchCoordination {
  let redis: RedisLike | undefined;
  const client = () => (redis ??= redisOf(queue));
  // A slot is held for the HTTP exchange only; a killed worker's slot lapses after this.
  const slotHoldMs = options.httpTimeoutMs + 5_000;
  return {
    lease: (sourceId, onRenewError) => acquireSourceLease(client(), keyUnder(queue, 'fetch-lease', sourceId), { onRenewError }),
    hostSlot: (host, holder) => acquireHostSlot(client(), keyUnder(queue, 'host', host), options.politeness, holder, slotHoldMs),
    claim: (sourceId, host, holder, onRenewError, { early = false } = {}) =>
      claimFetch(
        client(),
        { lease: keyUnder(queue, 'fetch-lease', sourceId), host: keyUnder(queue, 'host', host) },
        { politeness: options.politeness, slotHoldMs, holder, onRenewError, leadMs: early ? EARLY_CLAIM_LEAD_MS : 0 },
      ),
    politeness: options.politeness,
    budget: new ByteBudget(options.parseBudgetBytes),
    hostHints: new HostHints(),
  };
}
