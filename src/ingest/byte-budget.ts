/**
 * A per-process budget of body bytes being parsed and stored at once. An item-dense feed
 * grows ~20-40x in the heap while it is parsed and scored, so four maximal feeds at once can
 * exhaust a bounded heap although each alone fits. Jobs wait here (after their HTTP exchange,
 * holding no database connection) until their body fits; a body larger than the whole budget
 * runs alone rather than never. Waiters are served in arrival order so a big body is not
 * starved by a stream of small ones.
 */
export class ByteBudget {
  readonly capacity: number;
  #used = 0;
  #running = 0;
  readonly #waiting: { bytes: number; grant: (release: () => void) => void }[] = [];

  constructor(capacity: number) {
    if (!(capacity > 0)) throw new Error(`byte budget: capacity must be positive, got ${capacity}`);
    this.capacity = capacity;
  }

  get used(): number {
    return this.#used;
  }

  /** Resolves with a release function once `bytes` fit; release exactly once. */
  async acquire(bytes: number): Promise<() => void> {
    if (this.#waiting.length === 0 && this.#fits(bytes)) return this.#take(bytes);
    return new Promise((resolve) => this.#waiting.push({ bytes, grant: resolve }));
  }

  #fits(bytes: number): boolean {
    return this.#running === 0 || this.#used + bytes <= this.capacity;
  }

  #take(bytes: number): () => void {
    this.#used += bytes;
    this.#running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= bytes;
      this.#running -= 1;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const next = this.#waiting.shift()!;
      // Taken here, not when the waiter wakes, so the next waiter in this loop sees the bytes as used.
      next.grant(this.#take(next.bytes));
    }
  }
}
