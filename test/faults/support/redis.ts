import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../support/processes.ts';
import { killGroup, sleep, type Teardown } from './teardown.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface PrivateRedis {
  port: number;
  url: string;
  /** Its working directory (AOF, cluster config file). */
  dir: string;
  /** Stops the server (SIGTERM: with AOF on it flushes first; SIGKILL loses what was not written). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  running(): boolean;
}

export interface RedisOptions {
  /**
   * AOF on (appendfsync everysec), as DESIGN.md asks of production: a restarted Redis keeps its
   * queues and job schedulers. Off, a restart is a data wipe rather than a restart.
   */
  persist?: boolean;
  /** More redis-server arguments (e.g. `--cluster-enabled yes` for a cluster node). */
  extraArgs?: string[];
}

/** A throwaway redis-server on a free port, in its own temp dir, torn down with `teardown`. */
export async function startRedis(teardown: Teardown, options: RedisOptions = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'np-faults-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
    '--appendonly', options.persist ? 'yes' : 'no', '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction', '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning',
    ...(options.extraArgs ?? []),
  ];
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  async function start(): Promise<void> {
    child = spawn(REDIS_SERVER, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
      probe.on('error', () => {});
      try {
        await probe.connect();
        const loading = await probe.info('persistence');
        if (/loading:0/.test(loading)) return;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      if (!running()) throw new Error(`redis-server exited on start:\n${log}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer within 15 s:\n${log}`);
      await sleep(50);
    }
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (!child || !running()) return;
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    killGroup(child.pid, signal);
    await exited;
  }

  await start();
  teardown.add(`redis :${port}`, async () => {
    await stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, url: `redis://127.0.0.1:${port}`, dir, stop, start, running };
}
