import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
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
