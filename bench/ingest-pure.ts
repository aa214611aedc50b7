/**
 * Throughput of the pure ingest steps, each beside its baseline from the same run:
 *   scorer:  the VADER port (src/ingest/vader.ts) and the news scorer on it vs plain
 *            vader-sentiment polarity_scores; the news pre-processing scored by the library
 *            shows what the news scorer cost before the port
 *   matcher: compiled matcher (~1,000 aliases) vs one regex per entity (the naive approach)
 *   urlKey:  vs bare `new URL()` parsing
 * Run: node bench/ingest-pure.ts
 */
import { readFileSync } from 'node:fs';
import { SentimentIntensityAnalyzer } from 'vader-sentiment';
import { compileMatcher, type MatchEntity } from '../src/ingest/match.ts';
import { createNewsScorer, newsScoringText } from '../src/ingest/sentiment.ts';
import { vaderCompound } from '../src/ingest/vader.ts';
import { urlKey } from '../src/ingest/url-key.ts';
import { sized } from './support.ts';

const HEADLINES = sized(10_000, 200);

function fixtureHeadlines(): string[] {
  const lines = ['news-sentiment-heldout.tsv', 'news-sentiment-dev.tsv'].flatMap((name) =>
    readFileSync(new URL(`../test/fixtures/ingest/${name}`, import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split('\t')[1] ?? ''),
  );
  return Array.from({ length: HEADLINES }, (_, i) => lines[i % lines.length] ?? '');
}

/** Deterministic pseudo-random names, so runs compare. */
function* names(seed: number): Generator<string> {
  let s = seed;
  const next = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (;;) {
    const word = Array.from({ length: 4 + Math.floor(next() * 7) }, () => letters[Math.floor(next() * 26)]).join('');
    yield word.charAt(0).toUpperCase() + word.slice(1);
  }
}

function entities(): MatchEntity<number>[] {
  const real = [
    'Tesla', 'Apple', 'Microsoft', 'Nvidia', 'Amazon', 'Alphabet', 'Google', 'Meta', 'OpenAI', 'Intel', 'AMD',
    'Boeing', 'Ford', 'GM', 'Netflix', 'Disney', 'Uber', 'Pfizer', 'Starbucks', 'Samsung', 'Huawei', 'TSMC',
    'SpaceX', 'Bitcoin', 'Ethereum', 'Federal Reserve', 'S&P 500', 'Dow', 'Nasdaq', 'Evergrande', 'Novo Nordisk',
  ];
  const gen = names(42);
  const list: MatchEntity<number>[] = real.map((name, id) => ({ id, slug: name.toLowerCase(), name, aliases: [] }));
  while (list.length < 500) {
    const name = `${gen.next().value} ${gen.next().value}`;
    list.push({ id: list.length, slug: `e${list.length}`, name, aliases: [gen.next().value ?? 'x'], caseSensitive: list.length % 5 !== 0 });
  }
  return list;
}

function rate(label: string, run: () => number, baseline?: number): number {
  run(); // warm up
  const rounds = 5;
  const start = performance.now();
  let sink = 0;
  for (let r = 0; r < rounds; r++) sink += run();
  const ms = (performance.now() - start) / rounds;
  const perSecond = (HEADLINES / ms) * 1000;
  const vs = baseline === undefined ? '' : `  (${(perSecond / baseline).toFixed(2)}x baseline)`;
  console.log(`${label.padEnd(44)} ${ms.toFixed(2).padStart(8)} ms / ${HEADLINES}  ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} /s${vs}  [${sink}]`);
  return perSecond;
}

const headlines = fixtureHeadlines();
const news = createNewsScorer();
const list = entities();
const aliasCount = list.reduce((n, e) => n + 1 + e.aliases.length, 0);
const matcher = compileMatcher(list);
const naive = list.map((e) => ({
  id: e.id,
  re: new RegExp(
    `(?<![\\p{L}\\p{N}_])(?:${[e.name, ...e.aliases].map((a) => a.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(?![\\p{L}\\p{N}_])`,
    e.caseSensitive === false ? 'iu' : 'u',
  ),
}));
const urls = headlines.map((h, i) => `https://www.example${i % 50}.com/${encodeURIComponent(h.slice(0, 30))}/?utm_source=rss&id=${i}#x`);

console.log(`ingest-pure: ${HEADLINES} headlines, ${list.length} entities / ${aliasCount} aliases, node ${process.version}`);
const vaderRate = rate('scorer baseline: vader polarity_scores', () => {
  let pos = 0;
  for (const h of headlines) if (SentimentIntensityAnalyzer.polarity_scores(h).compound > 0.05) pos++;
  return pos;
});
rate('scorer: vaderCompound (port)', () => {
  let pos = 0;
  for (const h of headlines) if (vaderCompound(h) > 0.05) pos++;
  return pos;
}, vaderRate);
rate('scorer: news pre-processing + library', () => {
  let pos = 0;
  for (const h of headlines) if (SentimentIntensityAnalyzer.polarity_scores(newsScoringText(h)).compound > 0.05) pos++;
  return pos;
}, vaderRate);
rate('scorer: createNewsScorer().score (port)', () => {
  let pos = 0;
  for (const h of headlines) if (news.score(h) > 0.05) pos++;
  return pos;
}, vaderRate);
const naiveRate = rate('matcher baseline: one regex per entity', () => {
  let hits = 0;
  for (const h of headlines) for (const { re } of naive) if (re.test(h)) hits++;
  return hits;
});
rate(`matcher: compileMatcher (${aliasCount} aliases)`, () => {
  let hits = 0;
  for (const h of headlines) hits += matcher.match(h).length;
  return hits;
}, naiveRate);
const parseRate = rate('urlKey baseline: new URL()', () => {
  let n = 0;
  for (const u of urls) n += new URL(u).href.length > 0 ? 1 : 0;
  return n;
});
rate('urlKey', () => {
  let n = 0;
  for (const u of urls) n += urlKey(u) === null ? 0 : 1;
  return n;
}, parseRate);
