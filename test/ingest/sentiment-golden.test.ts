import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { round4 } from '../../src/ingest/vader33.ts';
import { GENERATED_TEXTS, GOLDEN_FILE, corpus, goldenLines } from './sentiment-corpus.ts';

/**
 * Speed work must not change a score. The golden file was written by the scorers as they were
 * before the speed work (commit "golden scores before the speed work" on branch sentiment); every
 * text of the frozen corpus (all eval fixtures plus GENERATED_TEXTS generated headlines) must score
 * exactly the same now: the VADER 3.3 port, vader-news@1, vader-news@2 and @2's per-entity scores.
 */
describe('scores are unchanged by the speed work', () => {
  const texts = corpus();
  const golden = gunzipSync(readFileSync(GOLDEN_FILE)).toString('utf8').split('\n');
  golden.pop();

  it('the corpus is the one the golden file was written for', () => {
    expect(texts.length).toBe(golden.length);
    expect(texts.length).toBeGreaterThan(GENERATED_TEXTS);
  });

  it('every text scores exactly as in the golden file', () => {
    const now = goldenLines(texts);
    const diffs: string[] = [];
    for (let i = 0; i < texts.length; i++) {
      if (now[i] !== golden[i]) diffs.push(`${JSON.stringify(texts[i])}\n  golden ${golden[i]}\n  now    ${now[i]}`);
    }
    expect(diffs.slice(0, 10).join('\n')).toBe('');
    expect(diffs.length).toBe(0);
  });

  it('the golden file exercises every scorer path (not all zeros, entity targets present)', () => {
    const cols = golden.map((l) => l.split('\t'));
    const nonZero = (k: number) => cols.filter((c) => c[k] !== '0').length;
    expect(nonZero(0)).toBeGreaterThan(texts.length / 2);
    expect(nonZero(1)).toBeGreaterThan(texts.length / 2);
    expect(nonZero(2)).toBeGreaterThan(texts.length / 2);
    expect(cols.filter((c) => c[3] !== '').length).toBeGreaterThan(texts.length / 4);
    expect(cols.filter((c) => (c[3] ?? '').includes(',')).length).toBeGreaterThan(500);
  });
});

describe('round4', () => {
  it('is Number(x.toFixed(4)) on every 1e-6 step of [-1, 1], on ties and around zero', () => {
    const diffs: string[] = [];
    const check = (x: number): void => {
      const want = Number(x.toFixed(4));
      if (!Object.is(round4(x), want)) diffs.push(`${x}: ${round4(x)} != ${want}`);
    };
    for (let i = -1_000_000; i <= 1_000_000; i++) {
      check(i / 1e6);
      // Exact and near ties of the fourth decimal (toFixed rounds them away from zero).
      check((i + 0.5) / 1e4 / 100);
      check((Math.trunc(i / 100) + 0.5) / 1e4);
    }
    for (const x of [0, -0, 1, -1, 5e-5, -5e-5, 4.9999e-5, -4.9999e-5, 1e-300, -1e-300, 1.5, -2]) check(x);
    expect(diffs.slice(0, 5)).toEqual([]);
  });
});
