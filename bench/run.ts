/**
 * `npm run bench`: runs every benchmark module in turn, each in its own Node process (the same
 * Node as this one), with its output passed straight through. Exits non-zero when any fails;
 * the others still run. A module listed (modules.ts) but not present is reported and skipped.
 * `BENCH_SMOKE=1` runs each at a token size (see support.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MODULES } from './modules.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function run(file: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`bench/${file}`], { cwd: ROOT, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

const failures: string[] = [];
for (const file of MODULES) {
  if (!existsSync(new URL(file, import.meta.url))) {
    console.log(`bench: bench/${file} not present, skipped`);
    continue;
  }
  console.log(`\n== bench/${file}`);
  const started = performance.now();
  const { code, signal } = await run(file);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code === 0) {
    console.log(`== bench/${file}: done in ${seconds} s`);
  } else {
    failures.push(file);
    console.log(`== bench/${file}: FAILED (${signal ? `signal ${signal}` : `exit ${code}`}) after ${seconds} s`);
  }
}

if (failures.length) {
  console.error(`bench: ${failures.length} benchmark(s) failed: ${failures.join(', ')}`);
  process.exit(1);
}
