import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../support/processes.ts';
import { killGroup, sleep, type Teardown } from './teardown.ts';

/** The newest PostgreSQL under /usr/lib/postgresql (or PG_BIN). */
export function findPostgresBin(tool: 'initdb' | 'postgres'): string {
  const dirs = process.env.PG_BIN
    ? [process.env.PG_BIN]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin`)
      : [];
  for (const dir of dirs) if (existsSync(join(dir, tool))) return join(dir, tool);
  throw new Error(`the fault suite needs PostgreSQL's ${tool} (looked under /usr/lib/postgresql/*/bin; set PG_BIN)`);
}

/** Postgres refuses to run as root: run its binaries as the `postgres` user then. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export interface PrivateCluster {
  port: number;
  /** URL of a database on this cluster (user postgres, trust auth). */
  url(database: string): string;
  /** Fast shutdown (SIGINT: open transactions roll back, clients are cut) or a crash (SIGKILL of the group). */
  stop(mode?: 'fast' | 'kill'): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
}

/** initdb into a temp dir, then postgres on a free port; torn down with `teardown`. */
export async function startPostgres(teardown: Teardown): Promise<PrivateCluster> {
  const root = mkdtempSync(join(tmpdir(), 'np-faults-pg-'));
  const data = join(root, 'data');
  const sockets = join(root, 'sock');
  mkdirSync(sockets);
  const owner = runAs();
  if (owner) {
    chownSync(root, owner.uid, owner.gid);
    chownSync(sockets, owner.uid, owner.gid);
  }
  execFileSync(findPostgresBin('initdb'), ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...owner,
  });
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const args = [
    '-D', data, '-p', String(port), '-k', sockets,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'max_connections=200', '-c', 'shared_buffers=64MB', '-c', 'log_min_messages=fatal', '-c', 'logging_collector=off',
  ];

  async function start(): Promise<void> {
    child = spawn(findPostgresBin('postgres'), args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...owner });
    child.stdout!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 1_000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('select 1');
        return;
      } catch {
        // starting up or recovering
      } finally {
        await client.end().catch(() => {});
      }
      if (!running()) throw new Error(`postgres exited on start:\n${log}`);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s:\n${log}`);
      await sleep(100);
    }
  }

  async function stop(mode: 'fast' | 'kill' = 'fast'): Promise<void> {
    if (!child || !running()) return;
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    if (mode === 'fast') process.kill(child.pid!, 'SIGINT');
    else killGroup(child.pid, 'SIGKILL');
    await exited;
    // After a postmaster SIGKILL its backends notice and exit; wait for the group to be gone.
    if (mode === 'kill') {
      for (let i = 0; i < 50; i++) {
        try {
          process.kill(-child.pid!, 0);
        } catch {
          break;
        }
        await sleep(100);
      }
    }
  }

  await start();
  teardown.add(`postgres :${port}`, async () => {
    await stop('kill');
    rmSync(root, { recursive: true, force: true });
  });
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop,
    start,
    running,
  };
}
