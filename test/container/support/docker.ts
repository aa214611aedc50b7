import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The tag the suite builds and runs; never the user's newspulse:latest. */
export const TEST_IMAGE = 'newspulse:ctest';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion; never throws on a non-zero exit (callers assert on `code`). */
export function run(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - started }));
    child.stdin.end(options.input ?? '');
  });
}

/** Like run, but a non-zero exit is an error that carries the command's output. */
export async function ok(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<Result> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r;
}

export interface Engine {
  ok: boolean;
  reason?: string;
  compose?: boolean;
}

/** Whether a Docker engine answers here, and whether the compose v2 plugin is installed. */
export async function detectEngine(): Promise<Engine> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}']).catch((err: unknown) => ({ code: -1, stdout: '', stderr: String(err), ms: 0 }));
  if (info.code !== 0) return { ok: false, reason: `no Docker engine: \`docker info\` failed: ${(info.stderr || info.stdout).trim().split('\n')[0]}` };
  const compose = await run('docker', ['compose', 'version']);
  return { ok: true, compose: compose.code === 0, reason: compose.code === 0 ? undefined : '`docker compose` (v2) is not installed' };
}

export function announceSkip(suite: string, reason: string): void {
  console.warn(`\n[container] SKIPPED ${suite}: ${reason}\n[container] install Docker, start it, run scripts/build-base-images.sh when no registry is reachable, then npm run test:container\n`);
}

export function figure(name: string, value: string): void {
  console.log(`[container] ${name}: ${value}`);
}

/**
 * RUN steps' network. Engines started with --iptables=false (as on the CI sandbox) give build
 * containers no route out, so npm ci could not reach the registry: CONTAINER_BUILD_NETWORK=host.
 */
const BUILD_NETWORK = process.env.CONTAINER_BUILD_NETWORK ? ['--network', process.env.CONTAINER_BUILD_NETWORK] : [];

/** Builds the image with the classic builder, which reports the build context size. */
export async function buildImage(extra: readonly string[] = []): Promise<{ ms: number; contextBytes: number; output: string }> {
  const r = await run('docker', ['build', ...BUILD_NETWORK, ...extra, '-t', TEST_IMAGE, '.'], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  if (r.code !== 0) {
    const hint = /pull access denied|not found|no such host|dial tcp|connection refused/.test(r.stderr + r.stdout)
      ? '\nThe base image is missing and no registry answers: run scripts/build-base-images.sh first.'
      : '';
    throw new Error(`docker build failed (${r.code})${hint}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  }
  const m = /Sending build context to Docker daemon\s+([\d.]+)\s*([kMG]?B)/.exec(r.stdout + r.stderr);
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 } as Record<string, number>;
  return { ms: r.ms, contextBytes: m ? Number(m[1]) * (unit[m[2] ?? 'B'] ?? 1) : Number.NaN, output: r.stdout };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined; fails with `what` after `limitMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 180_000, everyMs = 1_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`waited ${limitMs} ms for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
