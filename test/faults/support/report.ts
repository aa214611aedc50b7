import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    faultResultsFile: string;
  }
}

export type Figures = Record<string, string | number | boolean | null>;

export interface ScenarioResult {
  scenario: string;
  seconds: number;
  ok: boolean;
  figures: Figures;
}

const format = (v: Figures[string]) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v));

/** Prints the scenario's one figure line and records it for the summary table. */
export function report(scenario: string, startedAt: number, figures: Figures, ok = true): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const line = Object.entries(figures).map(([k, v]) => `${k}=${format(v)}`).join(' ');
  console.log(`[fault] ${scenario}: ${ok ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)}s: ${line}`);
  const result: ScenarioResult = { scenario, seconds, ok, figures };
  appendFileSync(inject('faultResultsFile'), `${JSON.stringify(result)}\n`);
}

/**
 * Runs a scenario body and always reports its figures, marking the line FAILED when the body
 * throws (the figures gathered so far still tell what happened).
 */
export async function scenario(name: string, body: (figures: Figures) => Promise<void>): Promise<void> {
  const started = performance.now();
  const figures: Figures = {};
  try {
    await body(figures);
    report(name, started, figures, true);
  } catch (err) {
    figures.error = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);
    report(name, started, figures, false);
    throw err;
  }
}
