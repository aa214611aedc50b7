import type { Logger } from './logger.ts';

type Releaser = () => Promise<unknown> | unknown;

const SLOW_RELEASE_MS = 5_000;

/**
 * Resources are pushed as they are acquired and released in reverse order on SIGTERM or
 * SIGINT. A second signal, or the force timer, exits at once.
 */
export class Shutdown {
  readonly #releasers: { name: string; release: Releaser }[] = [];
  readonly #log: Logger;
  readonly #forceAfterMs: number;
  #running: Promise<void> | undefined;

  constructor(log: Logger, forceAfterMs: number) {
    this.#log = log;
    this.#forceAfterMs = forceAfterMs;
  }

  add(name: string, release: Releaser): void {
    this.#releasers.push({ name, release });
  }

  get stopping(): boolean {
    return this.#running !== undefined;
  }

  /** Releases everything once; later calls wait for the same run. */
  run(reason: string): Promise<void> {
    this.#running ??= this.#releaseAll(reason);
    return this.#running;
  }

  async #releaseAll(reason: string): Promise<void> {
    this.#log.info({ reason }, 'shutting down');
    const force = setTimeout(() => {
      this.#log.error({ after_ms: this.#forceAfterMs }, 'shutdown took too long: forcing exit');
      process.exit(1);
    }, this.#forceAfterMs);
    force.unref();
    let failed = false;
    for (const { name, release } of this.#releasers.toReversed()) {
      // A release that hangs is the usual reason for a forced exit: name it while it happens.
      const slow = setTimeout(() => this.#log.warn({ resource: name }, 'still releasing'), SLOW_RELEASE_MS);
      slow.unref();
      try {
        await release();
        this.#log.debug({ resource: name }, 'released');
      } catch (err) {
        failed = true;
        this.#log.warn({ err, resource: name }, 'release failed');
      } finally {
        clearTimeout(slow);
      }
    }
    clearTimeout(force);
    this.#log.info({ clean: !failed }, 'shutdown complete');
  }

  /** SIGTERM/SIGINT: release and exit 0; a second signal exits 1 immediately. */
  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.stopping) {
        this.#log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      void this.run(signal).then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}

/** Resolves with `promise`, or with `onTimeout()` after `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Promise<T> | T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const winner = await Promise.race([promise.then((value) => ({ value })), deadline]);
    return winner === 'timeout' ? await onTimeout() : winner.value;
  } finally {
    clearTimeout(timer);
  }
}
