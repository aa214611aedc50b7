import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { ScenarioResult } from './report.ts';
import { findPostgresBin } from './postgres.ts';
import { REDIS_SERVER } from './redis.ts';

/**
 * Checks that the binaries the suite runs are here (one clear line when not), hands every
 * test file the path of the results file, and prints the summary table after the run.
 */
export function setup(project: TestProject): () => void {
  const [major] = process.versions.node.split('.').map(Number);
  if ((major ?? 0) < 22) throw new Error(`the fault suite needs Node >= 22.17 (this is ${process.version}): run it through "npm run test:faults"`);
  findPostgresBin('initdb');
  if (!existsSync(REDIS_SERVER)) throw new Error(`the fault suite needs redis-server (looked for ${REDIS_SERVER}; set REDIS_SERVER)`);
  const dir = mkdtempSync(join(tmpdir(), 'np-faults-results-'));
  const file = join(dir, 'results.jsonl');
  project.provide('faultResultsFile', file);
  return () => {
    const results: ScenarioResult[] = existsSync(file)
      ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ScenarioResult)
      : [];
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`\n${summaryTable(results)}\n`);
  };
}

export function summaryTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [
    r.scenario,
    r.ok ? 'pass' : 'FAIL',
    `${r.seconds.toFixed(0)} s`,
    Object.entries(r.figures)
      .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`)
      .join(', '),
  ]);
  const header = ['scenario', 'result', 'time', 'figures'];
  const total = results.reduce((s, r) => s + r.seconds, 0);
  return [
    `Fault suite summary (${results.length} scenarios, ${total.toFixed(0)} s of scenario time)`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
