/**
 * The host each source's last run in this process sent its request to, so that the next run
 * can claim its lease and host slot while it reads the source row (fetch.job.ts), not after.
 * A hint is a guess the row then checks: a wrong one costs the run one more round trip.
 *
 * Only a run that sent its request and did not fail leaves a hint; a failure, a skip (the
 * source disabled or backing off) and an unknown source clear it. It is one process's memory:
 * another process may have disabled the source, put it in backoff or changed its URL since,
 * and a manual run fetches a disabled source. Then the claim made beside the read stamps its
 * host's interval for a request that goes elsewhere or nowhere: politeness errs on the strict
 * side, once, and the skip clears the hint.
 */
export class HostHints {
  // Insertion order is use order (a hint is re-inserted when set): the first key is the oldest.
  readonly #hosts = new Map<string, string>();
  readonly capacity: number;

  constructor(capacity = 100_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`host hints: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  get(sourceId: string): string | undefined {
    return this.#hosts.get(sourceId);
  }

  /** Remembers `host` for `sourceId`; past capacity, the least recently set hint goes. */
  set(sourceId: string, host: string): void {
    this.#hosts.delete(sourceId);
    if (this.#hosts.size >= this.capacity) {
      const oldest = this.#hosts.keys().next();
      if (!oldest.done) this.#hosts.delete(oldest.value);
    }
    this.#hosts.set(sourceId, host);
  }

  forget(sourceId: string): void {
    this.#hosts.delete(sourceId);
  }

  get size(): number {
    return this.#hosts.size;
  }
}
