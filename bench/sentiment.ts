/**
 * Sentiment: quality and speed of the scorers, each figure beside its same-run baseline.
 *   quality: Pearson r and 3-class accuracy with 95% bootstrap intervals (seeded) for plain VADER
 *            (the vader-sentiment package), vader-news@1 and vader-news@2 on the held-out and dev
 *            rated sets, paired bootstrap gains of @2, the same (sign accuracy) on the independent UCI
 *            labelled review sentences shipped by the `sentiment` package, and entity direction on
 *            the entity sets
 *   speed:   headlines per second of vader-news@2 (with and without entity targeting), @1 and the
 *            VADER 3.3 port, against vader-sentiment's polarity_scores
 * Run: node bench/sentiment.ts
 */
import { readFileSync } from 'node:fs';
import { SentimentIntensityAnalyzer } from 'vader-sentiment';
import { compileMatcher } from '../src/ingest/match.ts';
import { createNewsScorer, createNewsScorerV1, createVaderScorer } from '../src/ingest/sentiment.ts';
import { evaluateSet, formatSetEvaluation, loadUciLabelled, parseEntityCases, parseRated } from '../src/ingest/sentiment-eval.ts';
import { vader33Compound } from '../src/ingest/vader33.ts';
import { sized } from './support.ts';

const fixture = (name: string): string => readFileSync(new URL(`../test/fixtures/ingest/${name}`, import.meta.url), 'utf8');
const v2 = createNewsScorer();
const scorers = [createVaderScorer(), createNewsScorerV1(), v2];

console.log(`sentiment: node ${process.version}`);
for (const [label, name] of [['held-out', 'news-rated-heldout.tsv'], ['dev', 'news-rated-dev.tsv']] as const) {
  console.log(formatSetEvaluation(evaluateSet(`${label} ${name}`, parseRated(fixture(name), name), scorers)));
}
// Independent human labels, but reviews rather than news (see loadUciLabelled): no harm to general text.
const uci = loadUciLabelled();
for (const { name, rows } of uci) console.log(formatSetEvaluation(evaluateSet(name, rows, scorers, 'sign')));
console.log(formatSetEvaluation(evaluateSet('UCI labelled sentences, all three pooled', uci.flatMap((s) => s.rows), scorers, 'sign')));
for (const name of ['news-entity-mixed.tsv', 'news-entity-heldout.tsv']) {
  const cases = parseEntityCases(fixture(name), name);
  const names = [...new Set(cases.flatMap((c) => c.targets.map((t) => t.name)))];
  const matcher = compileMatcher(names.map((n, id) => ({ id, slug: `e${id}`, name: n, aliases: [] })));
  let targeted = 0;
  let copied = 0;
  let total = 0;
  for (const c of cases) {
    const article = v2.score(c.text);
    const scores = v2.scoreTargets!(matcher.mentions(c.text), article);
    for (const t of c.targets) {
      total++;
      if (Math.sign(scores.get(names.indexOf(t.name)) ?? 0) === t.direction) targeted++;
      if (Math.sign(article) === t.direction) copied++;
    }
  }
  console.log(`entity direction ${name}: targeted ${targeted}/${total} = ${(targeted / total).toFixed(3)}  (baseline, article score copied to each entity: ${copied}/${total} = ${(copied / total).toFixed(3)})`);
}

// A whole number of CHUNKs (below) at either size.
const HEADLINES = sized(10_000, 1_000);
const pool = ['news-rated-heldout.tsv', 'news-rated-dev.tsv'].flatMap((n) => parseRated(fixture(n), n).map((r) => r.text));
const headlines = Array.from({ length: HEADLINES }, (_, i) => pool[i % pool.length]!);
const entityMatcher = compileMatcher(['Tesla', 'Ford', 'Apple', 'Fed', 'Boeing', 'Airbus'].map((name, id) => ({ id, slug: name.toLowerCase(), name, aliases: [] })));

/** Scores headlines[from, to) and counts the positive ones (the count keeps the work observable). */
const count = (score: (t: string) => number) => (from: number, to: number) => {
  let pos = 0;
  for (let i = from; i < to; i++) if (score(headlines[i]!) > 0.05) pos++;
  return pos;
};
const v1 = createNewsScorerV1();
const runs: ReadonlyArray<readonly [string, (from: number, to: number) => number]> = [
  ['baseline: vader-sentiment polarity_scores', count((h) => SentimentIntensityAnalyzer.polarity_scores(h).compound)],
  ['VADER 3.3 rules port (vader33Compound)', count(vader33Compound)],
  ['vader-news@1 score', count((h) => v1.score(h))],
  ['vader-news@2 score', count((h) => v2.score(h))],
  [
    'vader-news@2 score + entity targets',
    count((h) => {
      const s = v2.score(h);
      const targets = v2.scoreTargets!(entityMatcher.mentions(h), s);
      return s + targets.size;
    }),
  ],
];

/**
 * Fine-grained interleaving: the headlines are timed in chunks of CHUNK, every scorer on the same
 * chunk in turn, PASSES times over all headlines; a load change on the (shared) machine then hits
 * every scorer alike. Each scorer's time is its sum over all chunks; its ratio is the baseline's
 * sum over its own.
 */
const CHUNK = 500;
const PASSES = 3;
const sinks = runs.map(([, run]) => run(0, HEADLINES)); // warm up, and the checksum printed below
const totals = runs.map(() => 0);
for (let p = 0; p < PASSES; p++) {
  for (let from = 0; from < HEADLINES; from += CHUNK) {
    runs.forEach(([, run], k) => {
      const start = performance.now();
      run(from, from + CHUNK);
      totals[k]! += performance.now() - start;
    });
  }
}
runs.forEach(([label], k) => {
  const ms = totals[k]! / PASSES;
  const perSecond = (HEADLINES / ms) * 1000;
  const vs = k === 0 ? '' : `  (${(totals[0]! / totals[k]!).toFixed(2)}x baseline)`;
  console.log(`${label.padEnd(48)} ${ms.toFixed(2).padStart(8)} ms / ${HEADLINES}  ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} /s${vs}  [${sinks[k]}]`);
});
console.log(`speed: ${PASSES} passes over ${HEADLINES} headlines, interleaved in chunks of ${CHUNK}; ms are per pass`);
