import { describe, expect, it } from 'vitest';
import { compileMatcher, isMostlyUpperCase, normalizeForMatch, type MatchEntity } from '../../src/ingest/match.ts';

const entities: MatchEntity<string>[] = [
  { id: 'tesla', slug: 'tesla', name: 'Tesla', aliases: ['Tesla Inc', 'TSLA'], exclude: ['Nikola Tesla', 'Tesla coil'] },
  { id: 'openai', slug: 'openai', name: 'OpenAI', aliases: ['ChatGPT'] },
  { id: 'gpt', slug: 'gpt', name: 'GPT', aliases: [] },
  { id: 'skoda', slug: 'skoda', name: 'Škoda', aliases: ['Skoda Auto'] },
  {
    id: 'claude',
    slug: 'claude',
    name: 'Claude',
    aliases: [],
    requireAny: ['AI', 'Anthropic', 'chatbot', 'model'],
    exclude: ['Claude Monet'],
  },
  { id: 'anthropic', slug: 'anthropic', name: 'Anthropic', aliases: [] },
  { id: 'sp500', slug: 'sp500', name: 'S&P 500', aliases: ['S&P'] },
  { id: 'att', slug: 'att', name: 'AT&T', aliases: [] },
  { id: 'cpp', slug: 'cpp', name: 'C++', aliases: [], caseSensitive: false },
  { id: 'apple', slug: 'apple', name: 'Apple', aliases: ['Apple Inc.'] },
  { id: 'apple-music', slug: 'apple-music', name: 'Apple Music', aliases: [] },
  { id: 'boa', slug: 'boa', name: 'Bank of America', aliases: ['BofA'] },
  { id: 'usa', slug: 'usa', name: 'America', aliases: ['United States', 'U.S.'] },
  { id: 'tepco', slug: 'tepco', name: '東京電力', aliases: ['TEPCO'] },
  { id: 'samsung', slug: 'samsung', name: 'Samsung', aliases: ['삼성전자'] },
  { id: 'nvidia', slug: 'nvidia', name: 'Nvidia', aliases: ['NVIDIA'], caseSensitive: false },
  { id: 'meta', slug: 'meta', name: 'Meta', aliases: ['Facebook'], requireAny: ['Zuckerberg', 'Instagram', 'WhatsApp', 'shares'] },
  { id: 'mcdonalds', slug: 'mcdonalds', name: "McDonald's", aliases: [] },
  { id: 'x-corp', slug: 'x-corp', name: 'X Corp', aliases: ['Twitter'] },
  { id: 'twitter-fans', slug: 'twitter-fans', name: 'Twitter', aliases: [] },
];

const matcher = compileMatcher(entities);

describe('compileMatcher', () => {
  it.each([
    // Boundaries are Unicode-aware lookarounds.
    ['Škoda recalls 40,000 cars', ['skoda']],
    ['Skoda Auto posts record sales', ['skoda']],
    ['OpenAIR festival opens in Tallinn', []],
    ['ChatGPT usage doubles', ['openai']],
    ['New GPT model released', ['gpt']],
    ['GPT-5 beats benchmarks', ['gpt']],
    ['OpenAI_bot account suspended', []],
    ['XTesla and TeslaX are not Tesla', ['tesla']],
    ['Tesla2 is not a word', []],
    // Possessives, straight and curly.
    ["Tesla's quarter", ['tesla']],
    ['Tesla’s quarter', ['tesla']],
    ['Apple’s new phone', ['apple']],
    ["McDonald's raises prices", ['mcdonalds']],
    ['McDonald’s raises prices', ['mcdonalds']],
    // Regex metacharacters in aliases are literal.
    ['S&P 500 closes higher', ['sp500']],
    ['S&P futures slip', ['sp500']],
    ['AT&T outage hits millions', ['att']],
    ['AT&Tx is something else', []],
    ['ATT is not AT&T', ['att']],
    ['C++ 26 standard approved', ['cpp']],
    ['c++ compilers get faster', ['cpp']],
    ['C+ grade', []],
    ['U.S. economy grows', ['usa']],
    ['US economy grows', []],
    // Case-sensitive by default.
    ['apple pie recipe wins prize', []],
    ['Apple unveils iPhone', ['apple']],
    ['nvidia and NVIDIA and Nvidia', ['nvidia']],
    ['NVidia stock', ['nvidia']],
    // All-caps fallback.
    ['APPLE AND TESLA SHARES FALL', ['apple', 'tesla']],
    ['BREAKING: TESLA RECALLS CARS', ['tesla']],
    ['Tesla and APPLE shares fall', ['tesla']],
    // Several entities, first-mention order, each once.
    ['Tesla and Apple, then Tesla again, then Apple Inc. again', ['tesla', 'apple']],
    ['Apple and Tesla', ['apple', 'tesla']],
    // Overlapping aliases: the longest wins and consumes its span.
    ['Apple Music adds lossless audio', ['apple-music']],
    ['Apple Music and Apple', ['apple-music', 'apple']],
    ['Bank of America profit rises', ['boa']],
    ['America and Bank of America', ['usa', 'boa']],
    ['Tesla Inc files report', ['tesla']],
    // An alias shared by two entities matches both, in config order.
    ['Twitter rebrands', ['x-corp', 'twitter-fans']],
    // Emoji, CJK, Hangul.
    ['🚀 Tesla to the moon 🚀', ['tesla']],
    ['Tesla🚀', ['tesla']],
    ['東京電力は記者会見を開いた', ['tepco']],
    ['昨日、東京電力が発表', ['tepco']],
    ['삼성전자가 실적을 발표했다', ['samsung']],
    ['苹果公司的Apple Music服务', ['apple-music']],
    // exclude masks only the excluded span.
    ['Claude Monet painting sells for $80 million', []],
    ['Claude Monet exhibit uses an AI guide built on Claude', ['claude']],
    ['Nikola Tesla museum reopens', []],
    ['Nikola Tesla museum visited by Tesla CEO', ['tesla']],
    ['NIKOLA TESLA MUSEUM REOPENS', []],
    ['Tesla coil concert', []],
    // requireAny: a context term must also occur.
    ['Claude is a common French name', []],
    ['Anthropic updates Claude model', ['anthropic', 'claude']],
    ['Claude chatbot gets memory', ['claude']],
    ['Meta shares jump', ['meta']],
    ['Meta analysis of 40 studies', []],
    ['Zuckerberg says Facebook will change', ['meta']],
    // Empty and degenerate.
    ['', []],
    ['   ', []],
    ['constructor __proto__ toString', []],
  ] as const)('%s → %j', (text, expected) => {
    expect(matcher.match(text)).toEqual(expected);
  });

  it('normalises aliases like text: NFKC, quotes, spaces', () => {
    const m = compileMatcher([
      { id: 1, slug: 'fw', name: 'Ｔｏｙｏｔａ', aliases: [] },
      { id: 2, slug: 'mc', name: 'McDonald’s', aliases: [] },
      { id: 3, slug: 'gs', name: 'Goldman   Sachs', aliases: [] },
    ]);
    expect(m.match('Toyota recalls cars')).toEqual([1]);
    expect(m.match("McDonald's opens store")).toEqual([2]);
    expect(m.match('Goldman\u00A0Sachs\n upgrades')).toEqual([3]);
    expect(m.match('Gold\u200Bman Sachs')).toEqual([3]);
  });

  it('merges the case-sensitive and case-insensitive groups leftmost-longest', () => {
    const m = compileMatcher([
      { id: 'apple-inc', slug: 'apple-inc', name: 'Apple', aliases: [] },
      { id: 'apple-fruit', slug: 'apple-fruit', name: 'apple', aliases: [], caseSensitive: false },
      { id: 'boa', slug: 'boa', name: 'bank of america', aliases: [], caseSensitive: false },
      { id: 'usa', slug: 'usa', name: 'America', aliases: [] },
      { id: 'istanbul', slug: 'istanbul', name: 'İstanbul', aliases: [], caseSensitive: false },
    ]);
    expect(m.match('Apple sells apples')).toEqual(['apple-inc', 'apple-fruit']);
    expect(m.match('an apple a day')).toEqual(['apple-fruit']);
    expect(m.match('Bank Of America and America')).toEqual(['boa', 'usa']);
    expect(m.match('İstanbul stocks')).toEqual(['istanbul']);
    expect(m.match('Flights to İSTANBUL resume today')).toEqual(['istanbul']);
    expect(m.match('FLIGHTS TO İSTANBUL RESUME')).toEqual(['istanbul']);
  });

  it('keeps numeric ids and ignores empty aliases', () => {
    const m = compileMatcher([
      { id: 7, slug: 'a', name: 'Alpha', aliases: ['', '  '] },
      { id: 8, slug: 'b', name: 'Beta', aliases: [] },
    ]);
    expect(m.match('Beta and Alpha')).toEqual([8, 7]);
  });

  it('never matches with no entities and never throws on odd input', () => {
    expect(compileMatcher([]).match('anything')).toEqual([]);
    for (const value of [undefined, null, 42, {}]) {
      expect(matcher.match(value as unknown as string)).toEqual([]);
    }
    expect(matcher.match('\uD800 Tesla \uDFFF')).toEqual(['tesla']);
    expect(matcher.match(`${'x '.repeat(30_000)} Tesla`)).toEqual(['tesla']);
    // Past MAX_MATCHED_CHARS (64 KiB) text is not read.
    expect(matcher.match(`${'x '.repeat(40_000)} Tesla`)).toEqual([]);
  });

  // Correctness at size only: its speed is measured in bench/ingest-pure.ts (no timed assertions here).
  it('matches ~1,000 aliases over 10k headlines exactly', () => {
    const many: MatchEntity<number>[] = Array.from({ length: 1000 }, (_, i) => ({
      id: i,
      slug: `e${i}`,
      name: `Company${i} Holdings`,
      aliases: [`Brand${i}`],
    }));
    const m = compileMatcher(many);
    const pairs = Array.from({ length: 10_000 }, (_, i) => [i % 2000, 500 + (i % 500)] as const);
    const headlines = pairs.map(([a, b]) => `Brand${a} shares rise as Company${b} Holdings reports`);
    // Expected ids computed without the matcher: Brand<a> exists only for a < 1000.
    const expected = pairs.map(([a, b]) => (a < 1000 ? [...new Set([a, b])] : [b]));
    expect(headlines.map((h) => m.match(h))).toEqual(expected);
  });
});

describe('text helpers', () => {
  it.each([
    ['  a \t b\n\nc  ', 'a b c'],
    ['‘quoted’ “text”', `'quoted' "text"`],
    ['ﬁnance', 'finance'],
    ['soft\u00ADhyphen', 'softhyphen'],
  ])('normalizeForMatch(%j) = %j', (input, expected) => {
    expect(normalizeForMatch(input)).toBe(expected);
  });

  it.each([
    ['APPLE AND TESLA', true],
    ['BREAKING: Tesla RECALLS 2M CARS', true],
    ['Apple And Tesla', false],
    ['US, EU agree on AI rules', false],
    ['12345', false],
    ['東京電力', false],
  ] as const)('isMostlyUpperCase(%j) = %s', (text, expected) => {
    expect(isMostlyUpperCase(text)).toBe(expected);
  });
});

describe('mentions', () => {
  it('returns the entities match() returns, with the spans of their unmasked occurrences in the normalised text', () => {
    const m = compileMatcher([
      { id: 1, slug: 'tesla', name: 'Tesla', aliases: [], exclude: ['Nikola Tesla'] },
      { id: 2, slug: 'ford', name: 'Ford', aliases: ['Ford Motor'] },
    ]);
    const text = 'Nikola Tesla museum:  Tesla beats Ford Motor, Ford says';
    const found = m.mentions(text);
    expect(found.entities.map((e) => e.id)).toEqual(m.match(text));
    expect(found.text).toBe('Nikola Tesla museum: Tesla beats Ford Motor, Ford says');
    const spans = Object.fromEntries(found.entities.map((e) => [e.id, e.spans.map(([s, t]) => found.text.slice(s, t))]));
    expect(spans).toEqual({ 1: ['Tesla'], 2: ['Ford Motor', 'Ford'] });
    expect(m.mentions('nothing here').entities).toEqual([]);
  });
});
