import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SentimentIntensityAnalyzer } from 'vader-sentiment';
import { VADER33_LEXICON, tokenize33, vader33Compound } from '../../src/ingest/vader33.ts';
import { createNewsScorerV1, newsScoringText } from '../../src/ingest/sentiment.ts';
import { VADER_LEXICON, createVaderCompound, parseVaderLexicon, vaderCompound } from '../../src/ingest/vader.ts';
import { seededRandom } from '../../src/ingest/sentiment-eval.ts';

/**
 * Proof that src/ingest/vader.ts is the library, only faster: on every input below the port's
 * compound is exactly (===) vader-sentiment's polarity_scores(text).compound.
 */

const library = (text: string): number => SentimentIntensityAnalyzer.polarity_scores(text).compound;

interface Mismatch {
  text: string;
  port: number;
  library: number;
}

/** Every text on which the port and the library disagree (expected: none). */
function mismatches(texts: Iterable<string>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const text of texts) {
    const port = vaderCompound(text);
    const lib = library(text);
    if (!Object.is(port, lib) || Math.abs(port - lib) > 1e-12) out.push({ text, port, library: lib });
  }
  return out;
}

/** The news scorer against the library scoring the very text the news scorer hands to VADER. */
function newsMismatches(texts: Iterable<string>): Mismatch[] {
  const news = createNewsScorerV1();
  const out: Mismatch[] = [];
  for (const text of texts) {
    const port = news.score(text);
    const prepared = newsScoringText(text);
    const lib = prepared === '' ? 0 : library(prepared);
    if (!Object.is(port, lib)) out.push({ text, port, library: lib });
  }
  return out;
}

const firstFew = (list: Mismatch[]): Mismatch[] => list.slice(0, 20);

/** The lexicon object compiled into the installed bundle (what the library really uses). */
function bundledLexicon(): Record<string, number> {
  const bundlePath = createRequire(import.meta.url).resolve('vader-sentiment');
  const source = readFileSync(bundlePath, 'utf8');
  // The webpack bootstrap ends in `i(i.s=2)`: return its require function instead and load module 0.
  const patched = source
    .replace(/^exports\.SentimentIntensityAnalyzer=/, 'globalThis.__vaderRequire=')
    .replace('i(i.s=2)}([', 'i}([')
    .replace(/\]\)\.default;\s*$/, '])');
  if (patched === source) throw new Error('vader bundle layout changed');
  const context: { __vaderRequire?: (id: number) => { lexicon: Record<string, number> } } = {};
  vm.runInNewContext(patched, context);
  const lexicon = context.__vaderRequire?.(0).lexicon;
  if (lexicon === undefined) throw new Error('no lexicon in the vader bundle');
  return lexicon;
}

const BOOSTER_WORDS = [
  'absolutely', 'amazingly', 'awfully', 'completely', 'extremely', 'fucking', 'greatly', 'hella', 'highly', 'incredibly',
  'more', 'most', 'quite', 'really', 'so', 'totally', 'uber', 'utterly', 'very', 'almost', 'barely', 'hardly',
  'just enough', 'kind of', 'kinda', 'kindof', 'kind-of', 'less', 'little', 'marginally', 'partly', 'scarcely',
  'slightly', 'somewhat', 'sort of', 'sorta', 'sortof', 'sort-of', 'Very', 'VERY', 'Kind of', 'KIND OF',
];
const NEGATIONS = [
  'not', 'no', 'never', 'none', 'nor', 'nothing', 'neither', 'without', 'rarely', 'seldom', 'despite', 'cannot', 'cant',
  'dont', "don't", "isn't", "won't", "ain't", 'uh-uh', 'uhuh', "n't", "wouldn't've", 'Not', 'NOT', 'Never', 'NEVER',
  "Isn't", "ISN'T", "Don't", 'Without',
];
const RULE_WORDS = [
  'but', 'BUT', 'But', 'least', 'Least', 'LEAST', 'at', 'At', 'very', 'never', 'so', 'this', 'So', 'This', 'SO', 'THIS',
  'kind', 'Kind', 'of', 'Of', 'sort', 'just', 'enough', 'at least', 'very least', 'the least', 'never so', 'never this',
  'kind of', 'sort of',
];
const IDIOMS = [
  'the shit', 'the bomb', 'bad ass', 'yeah right', 'cut the mustard', 'kiss of death', 'hand to mouth', 'The Shit',
  'THE BOMB', 'the', 'shit', 'bomb', 'bad', 'ass', 'yeah', 'right', 'cut', 'mustard', 'kiss', 'death', 'hand', 'to', 'mouth',
];
const NEUTRAL = [
  'tesla', 'shares', 'the', 'company', 'a', 'I', 'x', 'it', 'was', 'is', 'report', 'Q3', '20%', '$5', '1.5', '2024',
  '100', 'AI', 'CEO', 'U.S.', 'constructor', '__proto__', 'toString', 'hasOwnProperty',
];
const EMOJI = ['🚀', '📉', '😀', '❤️', '👍🏽', ':)', ':(', ':D', ':d', ':-)', '<3', '</3', ':P', 'xD', 'XD', '(:', '):', ';)', '=D'];
const UNICODE = ['Škoda', 'été', 'İstanbul', 'ÉCOLE', 'straße', 'ΣΟΦΊΑ', 'naïve', 'Ｇｏｏｄ', 'good\u0301', 'ǅemal', 'ＧＯＯＤ'];
const PUNCT_TOKENS = ['.', '!', '?', '!!', '!!!', '!!!!', '???', '?!?!', '...', '-', '--', "'", '"', '(', ')', ':', '#', '@', '&'];
const PREFIXES = ['.', '!', '?', ',', '"', "'", '(', '-', '...', '!!', '!!!', '??', '?!?', '!?!', '?!?!', '#', '@', ':', '$', '*', '[', '_', '¡'];
const SUFFIXES = [
  '.', ',', '!', '!!', '!!!', '!!!!', '?', '??', '???', '?!?', '!?!?', ')', "'s", "'", '"', ':', ';', '-', '...', '%', '’', '…',
  '!?', '_', '/', '~',
];
const SEPARATORS = [
  '  ', '\t', '\n', '\r\n', '\u00a0', '\u2003', '\u3000', '\u2028', '\ufeff', '\u200b', '\u180e', '\u0085', '', ', ', ' - ',
  ' ! ', ' ? ', '\v', '\f',
];

/** Texts mixing lexicon words with every construct VADER has a rule for. */
function generatedTexts(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const lexicon = [...VADER_LEXICON.keys()];
  const lexiconSample = (): string => pick(lexicon);
  const word = (): string => {
    const r = random();
    if (r < 0.36) return lexiconSample();
    if (r < 0.46) return pick(BOOSTER_WORDS);
    if (r < 0.56) return pick(NEGATIONS);
    if (r < 0.67) return pick(RULE_WORDS);
    if (r < 0.72) return pick(IDIOMS);
    if (r < 0.87) return pick(NEUTRAL);
    if (r < 0.93) return pick(EMOJI);
    if (r < 0.96) return pick(UNICODE);
    return pick(PUNCT_TOKENS);
  };
  const casing = (w: string): string => {
    const r = random();
    if (r < 0.55) return w;
    if (r < 0.75) return w.toUpperCase();
    if (r < 0.95) return w.charAt(0).toUpperCase() + w.slice(1);
    return [...w].map((ch) => (random() < 0.5 ? ch.toUpperCase() : ch.toLowerCase())).join('');
  };
  const texts: string[] = [];
  for (let n = 0; n < count; n++) {
    const r = random();
    if (r < 0.01) {
      texts.push('');
      continue;
    }
    if (r < 0.015) {
      texts.push(pick([' ', '\t\n', '\u00a0', '  \u3000 ']));
      continue;
    }
    const length = 1 + Math.floor(random() * random() * 30);
    let text = '';
    for (let k = 0; k < length; k++) {
      let w = casing(word());
      if (random() < 0.12) w = pick(PREFIXES) + w;
      if (random() < 0.22) w += pick(SUFFIXES);
      if (k > 0) text += random() < 0.8 ? ' ' : pick(SEPARATORS);
      text += w;
    }
    if (random() < 0.15) text += pick(['!', '!!', '!!!!!', '?', '??', '????', '?!', ' :)', '.']);
    if (random() < 0.05) text = ` ${text} `;
    texts.push(text);
  }
  return texts;
}

const fixtureDir = new URL('../fixtures/ingest/', import.meta.url);

/** Every line of every fixture, plus the texts the eval scores (headline, headline + summary). */
function fixtureTexts(): string[] {
  const texts: string[] = [];
  for (const name of readdirSync(fixtureDir).filter((f) => f.endsWith('.tsv')).sort()) {
    for (const line of readFileSync(new URL(name, fixtureDir), 'utf8').split('\n')) {
      texts.push(line);
      const [, headline, summary] = line.split('\t');
      if (headline !== undefined) texts.push(headline, summary === undefined ? headline : `${headline}. ${summary}`);
    }
  }
  return texts;
}

/** Every string literal in sentiment.test.ts (all its tables), plus the hostile inputs it builds. */
function sentimentTestTexts(): string[] {
  const source = readFileSync(new URL('./sentiment.test.ts', import.meta.url), 'utf8');
  const texts: string[] = [];
  for (const [, body] of source.matchAll(/'((?:[^'\\\n]|\\.)*)'/g)) {
    texts.push(JSON.parse(`"${(body ?? '').replace(/\\'/g, "'").replace(/"/g, '\\"')}"`) as string);
  }
  const filler = 'word '.repeat(800);
  texts.push(
    'terrible '.repeat(2000),
    'wonderful '.repeat(2000),
    'x'.repeat(100_000),
    'Tesla shares plunge after recall. '.repeat(3_000),
    'not '.repeat(5000),
    'but '.repeat(5000),
    `${filler} terrible horrible disaster`,
    `terrible ${filler}`,
  );
  return texts;
}

describe('VADER lexicon', () => {
  it('is read from the installed package and equals the lexicon compiled into its bundle', () => {
    const bundled = bundledLexicon();
    expect(VADER_LEXICON.size).toBe(Object.keys(bundled).length);
    expect(VADER_LEXICON.size).toBe(7503);
    const differences = [...VADER_LEXICON].filter(([word, valence]) => bundled[word] !== valence);
    expect(differences).toEqual([]);
    // Duplicate lines: the later one wins, as in the bundle ("lol", "xd", "ok", ...).
    expect(VADER_LEXICON.get('lol')).toBe(bundled['lol']);
  });

  it('rejects a malformed line instead of loading a silently wrong lexicon', () => {
    expect(() => parseVaderLexicon('good\t1.9\t0.9\t[]\nbad\n')).toThrow(/bad lexicon line/);
    expect(() => parseVaderLexicon('good\t\t0.9\n')).toThrow(/bad lexicon line/);
    expect(parseVaderLexicon('good\t1.9\t0.9\t[]\ngood\t2.1\t0.9\t[]\n').get('good')).toBe(2.1);
  });

  it('a custom lexicon changes valences only', () => {
    const custom = createVaderCompound(new Map([...VADER_LEXICON, ['plunge', -2.4]]));
    expect(custom('shares plunge')).toBe(library('shares brutalized'));
    expect(custom('shares did not plunge')).toBe(library('shares did not brutalized'));
  });
});

describe('vaderCompound equals vader-sentiment polarity_scores().compound', () => {
  it('on the library\'s own published examples', () => {
    const published: ReadonlyArray<readonly [string, number]> = [
      ['VADER is smart, handsome, and funny.', 0.8316],
      ['VADER is not smart, handsome, nor funny.', -0.7424],
      ['VADER is smart, handsome, and funny!', 0.8439],
      ['VADER is very smart, handsome, and funny.', 0.8545],
      ['VADER is VERY SMART, handsome, and FUNNY.', 0.9227],
      ['VADER is VERY SMART, handsome, and FUNNY!!!', 0.9342],
      ['VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!', 0.9469],
      ['The book was good.', 0.4404],
      ['The book was kind of good.', 0.3832],
      ['The plot was good, but the characters are uncompelling and the dialog is not great.', -0.7042],
      ["At least it isn't a horrible book.", 0.431],
      ['Make sure you :) or :D today!', 0.8633],
      ['Today SUX!', -0.5461],
      ["Today only kinda sux! But I'll get by, lol", 0.2228],
    ];
    for (const [text, compound] of published) {
      expect(vaderCompound(text), text).toBe(compound);
      expect(library(text), text).toBe(compound);
    }
  });

  it('on the quirks it replicates', () => {
    const quirks = [
      'Tesla Is Not Good For Investors', // case-sensitive negation: "Not" is ignored
      'tesla is not good for investors',
      'Good News But A Bad Outcome', // "But" is not "but"
      'good news BUT a bad outcome',
      'good news but a bad outcome but worse',
      'good!!!! (great) "nice" !good ?!?!good ::good good!?', // only PUNC_LIST affixes are stripped
      'SHARES PLUNGE 20% AFTER GOOD NEWS', // "20%" is not ALL-CAPS, so emphasis applies
      'GOOD GOOD', // all caps: no emphasis
      'is :D or :d good', // ":D" is in the lexicon but looked up lower-cased
      'a b c good', // one-character tokens are dropped
      '🚀 good', // a lone emoji is two UTF-16 units: a token
      'it was the least good', // "least" negates
      'at least good',
      'very least good',
      'least good',
      'never so good', 'never this good', 'i was so this good', 'this was so good', // never_check branches
      'not the shit', 'it was kind of the bomb', 'cut the mustard nicely', 'kiss of death', // idioms
      'yeah right good', 'the shit good', 'sort of good', 'just enough good', 'kind of good',
      'good?? good??? good???? good!', // question and exclamation amplifiers
      'kind of', 'kind', 'KIND OF GOOD', 'Kind Of Good',
      'good\u00a0bad\u2003nice\u3000ugly\u200bword\u180eword\u0085great', // JS \s vs other spaces
      'good\n\n\nbad\t\t nice',
      "isn't good", "ISN'T good", "wouldn't've been good", "n't good", 'uh-uh good',
    ];
    expect(firstFew(mismatches(quirks))).toEqual([]);
  });

  it('on every lexicon word alone, shouted, negated, boosted and damped', () => {
    const texts: string[] = [];
    for (const word of VADER_LEXICON.keys()) {
      texts.push(word, `${word.toUpperCase()} news`, `not ${word}`, `very ${word}!`, `kind of the ${word}, but ok`);
    }
    expect(firstFew(mismatches(texts))).toEqual([]);
  });

  it('on every UTF-16 code unit as a separator, affix and word', () => {
    const texts: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      texts.push(`good${ch}bad ${ch}nice${ch} ${ch}${ch}`);
    }
    expect(firstFew(mismatches(texts))).toEqual([]);
  });

  it('on every line of test/fixtures/ingest/*.tsv', () => {
    const texts = fixtureTexts();
    expect(texts.length).toBeGreaterThan(400);
    expect(firstFew(mismatches(texts))).toEqual([]);
    expect(firstFew(mismatches(texts.map(newsScoringText)))).toEqual([]);
  });

  it("on every case in sentiment.test.ts's tables", () => {
    const texts = sentimentTestTexts();
    expect(texts.length).toBeGreaterThan(150);
    expect(firstFew(mismatches(texts))).toEqual([]);
    expect(firstFew(mismatches(texts.map(newsScoringText)))).toEqual([]);
  });

  it('on 30,000 generated texts (seeded)', () => {
    const texts = generatedTexts(30_000, 20240611);
    expect(firstFew(mismatches(texts))).toEqual([]);
    // The corpus exercises the rules, not just neutral text.
    expect(texts.filter((t) => vaderCompound(t) !== 0).length).toBeGreaterThan(20_000);
    for (const re of [/\bbut\b/i, /\bkind of\b/i, /\bleast\b/i, /\bnever (so|this)\b/i, /\bthe (shit|bomb)\b/i, /!!/, /\?\?/]) {
      expect(texts.filter((t) => re.test(t)).length, String(re)).toBeGreaterThan(300);
    }
    expect(texts.filter((t) => t === '').length).toBeGreaterThan(100);
  });
});

describe('createNewsScorerV1 on the port scores what vader-news@1 scored on the library', () => {
  it('on the fixtures, the sentiment tests and 20,000 generated texts', () => {
    const texts = [...fixtureTexts(), ...sentimentTestTexts(), ...generatedTexts(20_000, 7)];
    expect(firstFew(newsMismatches(texts))).toEqual([]);
  });
});

describe('vader33Compound: the reference vaderSentiment 3.3 rules', () => {
  it('on the examples published with vaderSentiment 3.3 (README) and the rules the JS package lacks', () => {
    const cases: [string, number][] = [
      // vaderSentiment 3.3.2 README outputs.
      ['VADER is smart, handsome, and funny.', 0.8316],
      ['VADER is VERY SMART, handsome, and FUNNY!!!', 0.9342],
      ['The book was good.', 0.4404],
      ['At least it isn\'t a horrible book.', 0.431],
      ['The book was only kind of good.', 0.3832],
      ['The plot was good, but the characters are uncompelling and the dialog is not great.', -0.7042],
      ['Today SUX!', -0.5461],
      ['Not bad at all', 0.431],
      // The "no" rule: "no" before a lexicon word loses its own valence and negates the word.
      ['Airline reports no problems after storm', 0.3089],
      // Lower-cased comparisons: "Not" negates.
      ['Tesla Is Not Good For Investors', -0.3412],
      // "without doubt" does not negate.
      ['without doubt great', 0.7359],
    ];
    for (const [text, expected] of cases) expect(vader33Compound(text), text).toBe(expected);
    // The JS package (and ./vader.ts) differ exactly where 3.3's rules do.
    expect(vaderCompound('Airline reports no problems after storm')).toBe(-0.5994);
    expect(vaderCompound('Tesla Is Not Good For Investors')).toBe(0.4404);
  });

  it('strips edge punctuation unless fewer than three characters remain', () => {
    expect(tokenize33('(good) "great," no, :) ok!!').map((t) => t.word)).toEqual(['good', 'great', 'no,', ':)', 'ok!!']);
  });

  it('uses the 3.3 lexicon: the npm lexicon plus the lines 3.3 changed', () => {
    expect(VADER33_LEXICON.get('flawed')).toBe(-2.1);
    expect(VADER_LEXICON.has('flawed')).toBe(false);
    expect(VADER33_LEXICON.size).toBe(VADER_LEXICON.size + 3);
  });

  it('applies the "but" rule to lower-cased words', () => {
    // good 1.9 x0.5, bad -2.5 x1.5 twice: -6.55 / sqrt(6.55² + 15) = -0.8608.
    expect(vader33Compound('The movie was good, BUT the ending was bad and bad')).toBe(-0.8608);
  });
});
