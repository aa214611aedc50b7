/**
 * Evaluation of sentiment scorers against human ratings: Pearson r, 3-class accuracy, 95%
 * bootstrap intervals and paired bootstrap differences, all seeded so a run is reproducible.
 * Pure functions over already computed scores; the fixtures are test/fixtures/ingest/news-rated-*.tsv
 * and news-entity-mixed.tsv (see their headers for the rating scale).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sentimentClass, type SentimentClass } from './sentiment.ts';

export interface RatedText {
  /** Human rating, -2 (very bad news) .. +2 (very good news). */
  rating: number;
  text: string;
}

export interface EntityCase {
  text: string;
  targets: { name: string; direction: 1 | -1 }[];
}

function dataLines(raw: string): string[] {
  return raw.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/** Parses `rating <TAB> text` lines; a malformed line is an error that names it. */
export function parseRated(raw: string, name: string): RatedText[] {
  return dataLines(raw).map((line) => {
    const [rating, text, extra] = line.split('\t');
    const value = Number(rating);
    if (rating === undefined || rating.trim() === '' || !Number.isFinite(value) || value < -2 || value > 2) {
      throw new Error(`${name}: rating must be a number in [-2, 2]: ${JSON.stringify(line)}`);
    }
    if (text === undefined || text.trim() === '' || extra !== undefined) throw new Error(`${name}: expected "rating<TAB>text": ${JSON.stringify(line)}`);
    return { rating: value, text };
  });
}

/** Parses `headline <TAB> entity <TAB> +|- <TAB> entity <TAB> +|-` lines. */
export function parseEntityCases(raw: string, name: string): EntityCase[] {
  return dataLines(raw).map((line) => {
    const [text, ...rest] = line.split('\t');
    if (text === undefined || text.trim() === '' || rest.length === 0 || rest.length % 2 !== 0) {
      throw new Error(`${name}: expected "headline<TAB>entity<TAB>+|-..." : ${JSON.stringify(line)}`);
    }
    const targets: EntityCase['targets'] = [];
    for (let i = 0; i < rest.length; i += 2) {
      const entity = rest[i]!;
      const sign = rest[i + 1];
      if (sign !== '+' && sign !== '-') throw new Error(`${name}: direction must be + or -: ${JSON.stringify(line)}`);
      if (!text.includes(entity)) throw new Error(`${name}: "${entity}" does not occur in ${JSON.stringify(text)}`);
      targets.push({ name: entity, direction: sign === '+' ? 1 : -1 });
    }
    return { text, targets };
  });
}

/** The rating's class: >= 0.5 positive, <= -0.5 negative, otherwise neutral (the fixtures' convention). */
export function ratingClass(rating: number): SentimentClass {
  if (rating >= 0.5) return 'positive';
  if (rating <= -0.5) return 'negative';
  return 'neutral';
}

/** Pearson correlation of x[idx[k]] and y[idx[k]]; 0 when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>, idx?: ArrayLike<number>): number {
  const n = idx ? idx.length : x.length;
  let sx = 0;
  let sy = 0;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    sx += x[i]!;
    sy += y[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let cov = 0;
  let vx = 0;
  let vy = 0;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    cov += dx * dy;
    vx += dx * dx;
    vy += dy * dy;
  }
  return vx === 0 || vy === 0 ? 0 : cov / Math.sqrt(vx * vy);
}

/** Share of items whose score class equals the rating class. */
export function accuracy3(scores: ArrayLike<number>, ratings: ArrayLike<number>, idx?: ArrayLike<number>): number {
  const n = idx ? idx.length : scores.length;
  let right = 0;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    if (sentimentClass(scores[i]!) === ratingClass(ratings[i]!)) right++;
  }
  return right / n;
}

/**
 * Share of items on the right side of 0 (score >= 0 counts as positive), for sets labelled only
 * positive or negative (ratings +1 / -1): the rule the `sentiment` package validates with.
 */
export function accuracySign(scores: ArrayLike<number>, ratings: ArrayLike<number>, idx?: ArrayLike<number>): number {
  const n = idx ? idx.length : scores.length;
  let right = 0;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    if (scores[i]! >= 0 === ratings[i]! > 0) right++;
  }
  return right / n;
}

/**
 * Independent human-labelled sentences: the UCI "Sentiment Labelled Sentences" sets (Kotzias et
 * al., KDD 2015; 1,000 Amazon product, IMDB movie and Yelp restaurant review sentences each,
 * labelled 0 negative / 1 positive, CC BY 4.0) as the `sentiment` npm package (a devDependency)
 * ships them in test/fixtures. Read from node_modules at run time, never copied into this repo.
 * They are reviews, not news: no rule here was written against them, so they show whether the
 * news rules hurt general text, not how well news is scored. Ratings: 0 -> -1, 1 -> +1.
 */
export function loadUciLabelled(): { name: string; rows: RatedText[] }[] {
  const root = dirname(createRequire(import.meta.url).resolve('sentiment/package.json'));
  return ['amazon', 'imdb', 'yelp'].map((set) => {
    const items = JSON.parse(readFileSync(join(root, 'test', 'fixtures', `${set}.json`), 'utf8')) as unknown;
    if (!Array.isArray(items)) throw new Error(`sentiment/test/fixtures/${set}.json: expected an array`);
    const rows: RatedText[] = [];
    for (const item of items as unknown[]) {
      const { text, class: label } = item as { text?: unknown; class?: unknown };
      // Each file ends with {"text":"","class":null} (its source file's trailing newline).
      if (text === '' && label === null) continue;
      if (typeof text !== 'string' || (label !== 0 && label !== 1)) throw new Error(`sentiment/test/fixtures/${set}.json: bad item ${JSON.stringify(item)}`);
      rows.push({ rating: label === 1 ? 1 : -1, text: text.trim() });
    }
    return { name: `UCI labelled sentences, ${set} (sentiment@5.0.2 test/fixtures/${set}.json)`, rows };
  });
}

/** mulberry32: a small seeded PRNG, so every bootstrap is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BOOTSTRAP_REPLICATES = 2_000;
export const BOOTSTRAP_SEED = 20261202;

/** A point estimate with its 95% percentile bootstrap interval. */
export interface Estimate {
  value: number;
  low: number;
  high: number;
}

/**
 * Percentile bootstrap: `statistic` on `replicates` resamples (with replacement) of n items.
 * Paired comparisons pass a statistic of both scorers, so each resample draws the same items
 * for both and the interval is of the difference itself.
 */
export function bootstrap(n: number, statistic: (idx: Uint32Array | null) => number, replicates = BOOTSTRAP_REPLICATES, seed = BOOTSTRAP_SEED): Estimate {
  if (n < 2) throw new RangeError('bootstrap: needs at least two items');
  const random = seededRandom(seed);
  const idx = new Uint32Array(n);
  const values = new Float64Array(replicates);
  for (let r = 0; r < replicates; r++) {
    for (let k = 0; k < n; k++) idx[k] = Math.floor(random() * n);
    values[r] = statistic(idx);
  }
  values.sort();
  const at = (q: number): number => values[Math.min(replicates - 1, Math.max(0, Math.floor(q * replicates)))]!;
  return { value: statistic(null), low: at(0.025), high: at(0.975) };
}

export interface ScorerResult {
  id: string;
  r: Estimate;
  accuracy: Estimate;
}

/** 'three-class': classes of score and rating must match; 'sign': see accuracySign (two-class sets). */
export type AccuracyKind = 'three-class' | 'sign';

export interface SetEvaluation {
  name: string;
  items: number;
  accuracyKind: AccuracyKind;
  results: ScorerResult[];
  /** Paired bootstrap differences of the last scorer against each other scorer (last minus other). */
  gains: { against: string; r: Estimate; accuracy: Estimate }[];
}

export interface NamedScorer {
  id: string;
  score(text: string): number;
}

/** Scores the set with every scorer, then bootstraps r and accuracy, and the last scorer's paired gains. */
export function evaluateSet(name: string, rows: readonly RatedText[], scorers: readonly NamedScorer[], accuracyKind: AccuracyKind = 'three-class'): SetEvaluation {
  const accuracy = accuracyKind === 'sign' ? accuracySign : accuracy3;
  const ratings = Float64Array.from(rows, (r) => r.rating);
  const scores = scorers.map((s) => Float64Array.from(rows, (r) => s.score(r.text)));
  const n = rows.length;
  const results = scorers.map((s, k) => ({
    id: s.id,
    r: bootstrap(n, (idx) => pearson(scores[k]!, ratings, idx ?? undefined)),
    accuracy: bootstrap(n, (idx) => accuracy(scores[k]!, ratings, idx ?? undefined)),
  }));
  const last = scores.length - 1;
  const gains = scorers.slice(0, last).map((s, k) => ({
    against: s.id,
    r: bootstrap(n, (idx) => pearson(scores[last]!, ratings, idx ?? undefined) - pearson(scores[k]!, ratings, idx ?? undefined)),
    accuracy: bootstrap(n, (idx) => accuracy(scores[last]!, ratings, idx ?? undefined) - accuracy(scores[k]!, ratings, idx ?? undefined)),
  }));
  return { name, items: n, accuracyKind, results, gains };
}

function fmt(e: Estimate): string {
  return `${e.value.toFixed(3)} [${e.low.toFixed(3)}, ${e.high.toFixed(3)}]`;
}

function signed(e: Estimate): string {
  const s = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  return `${s(e.value)} [${s(e.low)}, ${s(e.high)}]`;
}

/** A plain-text table of one set's evaluation (for the test output and the bench). */
export function formatSetEvaluation(e: SetEvaluation): string {
  const width = Math.max(...e.results.map((r) => r.id.length));
  const lines = [`${e.name} (${e.items} items; 95% bootstrap intervals, ${BOOTSTRAP_REPLICATES} resamples, seed ${BOOTSTRAP_SEED})`];
  const kind = e.accuracyKind === 'sign' ? 'sign accuracy' : '3-class accuracy';
  for (const r of e.results) lines.push(`  ${r.id.padEnd(width)}  r ${fmt(r.r)}  ${kind} ${fmt(r.accuracy)}`);
  const best = e.results.at(-1)?.id ?? '';
  for (const g of e.gains) lines.push(`  ${best} - ${g.against}: r ${signed(g.r)}  accuracy ${signed(g.accuracy)} (paired)`);
  return lines.join('\n');
}
