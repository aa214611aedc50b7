import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_URL } from './env.ts';
import { testPrefix } from './redis.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Writes a sources file into a temp dir and returns its path. */
export function writeSourcesFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'np-sources-')), 'sources.json');
  writeFileSync(file, JSON.stringify(content, null, 2));
  return file;
}

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node <script> ...args` from the repo root, as `npm run …` would. */
export function startProcess(script: string, args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    // Test feeds are served from 127.0.0.1, which the SSRF guard refuses unless allowed.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', FETCH_ALLOW_PRIVATE: '127.0.0.1/32', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(out)) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    waitForLog(pattern, timeoutMs = 30_000) {
      if (pattern.test(out)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in output:\n${out.slice(-3000)}`)), timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ pattern, resolve: done });
        void exited.then((code) => {
          clearTimeout(timer);
          if (!pattern.test(out)) reject(new Error(`process exited (${code}) before ${pattern}:\n${out.slice(-3000)}`));
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the enqueue script to completion. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/enqueue.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `probe` until it returns a truthy value (or throws after `timeoutMs`). Not a timing assertion: a bound on waiting. */
export async function eventually<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A real `node src/main.ts worker` for a test file: its sources file, its own queue prefix
 * and health port, a short rollup debounce. Resolves once the worker logs that it is ready.
 */
export async function startTestWorker(databaseUrl: string, label: string, sources: unknown): Promise<{ worker: RunningProcess; env: Record<string, string> }> {
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: testPrefix(label),
    SOURCES_FILE: writeSourcesFile(sources),
    HEALTH_PORT: String(await freePort()),
    ROLLUP_DEBOUNCE: '200ms',
  };
  const worker = startProcess('src/main.ts', ['worker'], env);
  await worker.waitForLog(/"msg":"worker ready"/);
  return { worker, env };
}
