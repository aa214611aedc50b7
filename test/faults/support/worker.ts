import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { killGroup, type Teardown } from './teardown.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const KEEP_OUTPUT = 2 * 1024 * 1024;

/** A `node src/main.ts <command>` process (what `npm run worker` runs), in its own process group. */
export interface NodeProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last 2 MiB of stdout + stderr (JSON log lines). */
  output(): string;
  /** Resolves with the exit code, or the signal name when killed. */
  exited: Promise<number | string>;
  alive(): boolean;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Count of log lines matching `pattern` seen so far (over the whole life, not just the kept tail). */
  count(pattern: RegExp): number;
  kill(signal: NodeJS.Signals): Promise<number | string>;
  /** VmRSS / VmHWM of the process in MiB (null once gone). */
  memory(): { rssMiB: number; hwmMiB: number } | null;
}

export function startNode(teardown: Teardown, name: string, args: string[], env: Record<string, string>): NodeProcess {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'info',
      // The fault suite's feeds are served from 127.0.0.1, which the SSRF guard refuses unless allowed.
      FETCH_ALLOW_PRIVATE: '127.0.0.1/32',
      // Diagnostics, e.g. FAULT_NODE_OPTIONS=--max-old-space-size=96 to tell a leak from lazy GC.
      ...(process.env.FAULT_NODE_OPTIONS ? { NODE_OPTIONS: process.env.FAULT_NODE_OPTIONS } : {}),
      ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid!;
  let out = '';
  let partial = '';
  const counters: { pattern: RegExp; n: number }[] = [];
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out = (out + text).slice(-KEEP_OUTPUT);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      for (const c of counters) if (c.pattern.test(line)) c.n += 1;
      for (const w of waiters.splice(0)) {
        if (w.pattern.test(line)) w.resolve();
        else waiters.push(w);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const alive = () => child.exitCode === null && child.signalCode === null;
  teardown.add(`${name} pid ${pid}`, async () => {
    if (alive()) {
      killGroup(pid, 'SIGKILL');
      await exited;
    }
  });
  return {
    name,
    child,
    pid,
    output: () => out,
    exited,
    alive,
    waitForLog(pattern, timeoutMs = 60_000) {
      if (pattern.test(out)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: timed out waiting for ${pattern}; output tail:\n${out.slice(-3000)}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          if (!pattern.test(out)) reject(new Error(`${name}: exited (${code}) before ${pattern}; output tail:\n${out.slice(-3000)}`));
        });
      });
    },
    count(pattern) {
      let counter = counters.find((c) => c.pattern === pattern);
      if (!counter) {
        counter = { pattern, n: out.split('\n').filter((l) => pattern.test(l)).length };
        counters.push(counter);
      }
      return counter.n;
    },
    async kill(signal) {
      if (alive()) {
        if (signal === 'SIGKILL') killGroup(pid, signal);
        else child.kill(signal);
      }
      return exited;
    },
    memory() {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
        return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
      } catch {
        return null;
      }
    },
  };
}
