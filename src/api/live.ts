/**
 * Live updates for the dashboard: one poller per API process watches the newest completed
 * rollup job in job_run and fans a "rollup" event out to every Server-Sent-Events client.
 * job_run is written by whichever worker ran the refresh, so this works with any number of
 * workers and API replicas, without Redis or LISTEN/NOTIFY, at one indexed probe per interval
 * per replica (and none while nobody listens).
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';

export interface RollupMark {
  id: number;
  finished_at: string | null;
}

export class LiveFeed {
  readonly #probe: () => Promise<RollupMark | null>;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #clients = new Set<ServerResponse>();
  #last: RollupMark | null | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(probe: () => Promise<RollupMark | null>, intervalMs: number, log: Logger) {
    this.#probe = probe;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Takes over a response as an event stream until the client goes away. */
  async attach(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // The current mark first, so a client can tell later events from the state it loaded.
    if (this.#last === undefined) this.#last = await this.#probe().catch(() => null);
    res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ rollup: this.#last })}\n\n`);
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (!this.#clients.size) this.#stop();
    });
    this.#start();
  }

  #start(): void {
    if (this.#timer || this.#closed) return;
    const tick = async () => {
      try {
        const mark = await this.#probe();
        if (mark && mark.id !== this.#last?.id) {
          this.#last = mark;
          this.#broadcast('rollup', mark);
        } else {
          // A comment line keeps proxies from closing an idle stream.
          for (const res of this.#clients) res.write(': keep-alive\n\n');
        }
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'api live feed: probe failed');
      }
      if (this.#timer) this.#timer = setTimeout(tick, this.#intervalMs);
    };
    this.#timer = setTimeout(tick, this.#intervalMs);
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.#clients) res.write(frame);
  }

  /** Ends every stream (shutdown: open event streams would otherwise hold the server open). */
  close(): void {
    this.#closed = true;
    this.#stop();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
