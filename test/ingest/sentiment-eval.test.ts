import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileMatcher } from '../../src/ingest/match.ts';
import { createNewsScorer, createNewsScorerV1, createVaderScorer, sentimentClass, type SentimentClass } from '../../src/ingest/sentiment.ts';
import {
  accuracy3,
  accuracySign,
  bootstrap,
  evaluateSet,
  formatSetEvaluation,
  loadUciLabelled,
  parseEntityCases,
  parseRated,
  pearson,
  ratingClass,
  type EntityCase,
} from '../../src/ingest/sentiment-eval.ts';

/**
 * Quality of the scorers on human-rated news text, with 95% bootstrap intervals (seeded).
 * - news-rated-heldout.tsv was committed before any vader-news@2 rule (git history: 8ec925b) and
 *   is never tuned against; news-rated-dev.tsv and the older label-only sets are tuning data.
 * - news-entity-mixed.tsv (committed with them) guided entity targeting's vocabulary, so it is
 *   development data for that; news-entity-heldout.tsv was committed before that step.
 * The assertions are the issue's goals: the gain on held-out text is outside the noise (the
 * lower bound of the paired bootstrap of the difference is above 0) and entity direction is
 * right on mixed headlines.
 */
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/ingest/${name}`, import.meta.url), 'utf8');
const rated = (name: string) => parseRated(fixture(name), name);

const vader = createVaderScorer();
const v1 = createNewsScorerV1();
const v2 = createNewsScorer();
const SCORERS = [vader, v1, v2];

function entityDirection(cases: readonly EntityCase[]): { right: number; total: number; misses: string[] } {
  const names = [...new Set(cases.flatMap((c) => c.targets.map((t) => t.name)))];
  const matcher = compileMatcher(names.map((name, id) => ({ id, slug: `e${id}`, name, aliases: [] })));
  let right = 0;
  let total = 0;
  const misses: string[] = [];
  for (const c of cases) {
    const scores = v2.scoreTargets!(matcher.mentions(c.text), v2.score(c.text));
    for (const t of c.targets) {
      total++;
      const score = scores.get(names.indexOf(t.name));
      if (score !== undefined && Math.sign(score) === t.direction) right++;
      else misses.push(`${t.name} ${t.direction > 0 ? '+' : '-'} got ${score}: ${c.text}`);
    }
  }
  return { right, total, misses };
}

describe('sentiment quality on rated news text', () => {
  it('held-out set: vader-news@2 beats plain VADER and vader-news@1 outside the noise', () => {
    const rows = rated('news-rated-heldout.tsv');
    expect(rows.length).toBeGreaterThanOrEqual(150);
    const e = evaluateSet('held-out news-rated-heldout.tsv', rows, SCORERS);
    console.log(formatSetEvaluation(e));
    expect(e.results.map((r) => r.id)).toEqual(['vader@1', 'vader-news@1', 'vader-news@2']);
    for (const gain of e.gains) {
      // Paired bootstrap: the same resampled headlines for both scorers.
      expect(gain.r.low, `r gain over ${gain.against}`).toBeGreaterThan(0);
      expect(gain.accuracy.low, `accuracy gain over ${gain.against}`).toBeGreaterThan(0);
    }
  });

  it('dev set (tuning data, reported for comparison)', () => {
    const e = evaluateSet('dev news-rated-dev.tsv', rated('news-rated-dev.tsv'), SCORERS);
    console.log(formatSetEvaluation(e));
    expect(e.results[2]!.r.value).toBeGreaterThan(e.results[0]!.r.value);
  });

  it('entity direction is right on headlines naming two entities of opposite sentiment', () => {
    const dev = entityDirection(parseEntityCases(fixture('news-entity-mixed.tsv'), 'news-entity-mixed.tsv'));
    const held = entityDirection(parseEntityCases(fixture('news-entity-heldout.tsv'), 'news-entity-heldout.tsv'));
    console.log(
      `entity direction (vader-news@2, entity-targeted): mixed set ${dev.right}/${dev.total} = ${(dev.right / dev.total).toFixed(3)}, ` +
        `held-out ${held.right}/${held.total} = ${(held.right / held.total).toFixed(3)}; ` +
        `one score per article copied to both entities is right at most 1 of 2 per headline (0.500)\n` +
        [...dev.misses, ...held.misses].map((m) => `  miss: ${m}`).join('\n'),
    );
    expect(dev.right / dev.total).toBeGreaterThanOrEqual(0.95);
    expect(held.right / held.total).toBeGreaterThanOrEqual(0.9);
  });

  it('is deterministic: the seeded bootstrap gives the same intervals on every run', () => {
    const rows = rated('news-rated-dev.tsv').slice(0, 40);
    expect(evaluateSet('a', rows, [vader, v2])).toEqual(evaluateSet('a', rows, [vader, v2]));
  });

  it('the held-out set shares no text with any tuning set', () => {
    const norm = (t: string): string => t.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
    const tuning = new Set([
      ...rated('news-rated-dev.tsv').map((r) => norm(r.text)),
      ...['news-sentiment-dev.tsv', 'news-sentiment-heldout.tsv'].flatMap((n) => labelled(n).map((r) => norm(r.text))),
    ]);
    expect(rated('news-rated-heldout.tsv').filter((r) => tuning.has(norm(r.text))).map((r) => r.text)).toEqual([]);
  });
});

interface LabelledRow {
  label: SentimentClass;
  text: string;
}

/** The older label-only sets (extra dev data now). */
function labelled(name: string): LabelledRow[] {
  return fixture(name)
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [label, headline, summary] = line.split('\t');
      if (label !== 'positive' && label !== 'neutral' && label !== 'negative') throw new Error(`bad label in ${name}: ${line}`);
      if (headline === undefined || headline === '') throw new Error(`no headline in ${name}: ${line}`);
      return { label, text: summary === undefined ? headline : `${headline}. ${summary}` };
    });
}

describe('older label-only sets (extra dev data)', () => {
  it.each(['news-sentiment-dev.tsv', 'news-sentiment-heldout.tsv'])('%s: vader-news@2 beats plain VADER', (name) => {
    const rows = labelled(name);
    const acc = (score: (t: string) => number): number => rows.filter((r) => sentimentClass(score(r.text)) === r.label).length / rows.length;
    const figures = SCORERS.map((s) => [s.id, acc((t) => s.score(t))] as const);
    console.log(`${name} (${rows.length} headlines) 3-class accuracy: ${figures.map(([id, a]) => `${id} ${a.toFixed(3)}`).join(', ')}`);
    expect(figures[2]![1]).toBeGreaterThan(figures[0]![1]);
    expect(figures[2]![1]).toBeGreaterThanOrEqual(0.7);
  });
});

/**
 * The only independent human-labelled sets installable here (see loadUciLabelled): reviews, not
 * news, so they cannot show the news gain; they guard against the news rules hurting general text.
 * The claim: vader-news@2 is not worse than plain VADER outside the noise (the paired interval of
 * @2 minus VADER reaches 0 or above).
 */
describe('independent labelled sentences (UCI, via the sentiment package; reviews, not news)', () => {
  const sets = loadUciLabelled();

  it('loads 1,000 sentences per set, half of them positive', () => {
    expect(sets.map((s) => s.rows.length)).toEqual([1000, 1000, 1000]);
    for (const s of sets) expect(s.rows.filter((r) => r.rating > 0).length).toBe(500);
  });

  it.each(sets.map((s) => [s.name, s] as const))('%s: vader-news@2 is not worse than plain VADER', (_, set) => {
    const e = evaluateSet(set.name, set.rows, SCORERS, 'sign');
    console.log(formatSetEvaluation(e));
    const gain = e.gains.find((g) => g.against === vader.id)!;
    expect(gain.r.high).toBeGreaterThanOrEqual(0);
    expect(gain.accuracy.high).toBeGreaterThanOrEqual(0);
  });
});

describe('evaluation helpers', () => {
  it('pearson and accuracy3 on hand-computed cases', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBe(0);
    expect(accuracy3([0.5, 0, -0.5, 0.5], [1, 0, -1, -1])).toBe(0.75);
    // Sign accuracy: 0 counts as positive, as in the sentiment package's own validation.
    expect(accuracySign([0.5, 0, -0.5, 0.5], [1, 1, -1, -1])).toBe(0.75);
    expect(accuracySign([0, -0.1], [-1, 1])).toBe(0);
    expect([1, 0.5, 0.25, 0, -0.5].map(ratingClass)).toEqual(['positive', 'positive', 'neutral', 'neutral', 'negative']);
  });

  it('bootstrap interval brackets the estimate and narrows with more items', () => {
    const small = Array.from({ length: 20 }, (_, i) => i % 3);
    const large = Array.from({ length: 400 }, (_, i) => i % 3);
    const mean = (xs: number[]) => (idx: Uint32Array | null) => {
      const pick = idx ? Array.from(idx, (k) => xs[k]!) : xs;
      return pick.reduce((a, b) => a + b, 0) / pick.length;
    };
    const a = bootstrap(small.length, mean(small));
    const b = bootstrap(large.length, mean(large));
    expect(a.low).toBeLessThanOrEqual(a.value);
    expect(a.high).toBeGreaterThanOrEqual(a.value);
    expect(b.high - b.low).toBeLessThan(a.high - a.low);
    expect(() => bootstrap(1, () => 0)).toThrow(/two items/);
  });

  it('rejects malformed fixture lines with the line in the message', () => {
    expect(() => parseRated('3\ttoo high', 'x.tsv')).toThrow(/\[-2, 2\].*too high/);
    expect(() => parseRated('1', 'x.tsv')).toThrow(/rating<TAB>text/);
    expect(() => parseEntityCases('A beats B\tA\t+\tB\t?', 'x.tsv')).toThrow(/\+ or -/);
    expect(() => parseEntityCases('A beats B\tC\t+', 'x.tsv')).toThrow(/"C" does not occur/);
  });
});
