/**
 * A fast, faithful port of vader-sentiment 1.1.3's compound score
 * (`SentimentIntensityAnalyzer.polarity_scores(text).compound`).
 *
 * Faithful means bit-for-bit: the same tokens, the same rules in the same order, the same
 * floating-point operations, the same rounding (test/ingest/vader.test.ts compares against the
 * installed library). That includes the library's quirks, which are kept on purpose:
 * - Tokens split on every JS `\s` character; tokens of one UTF-16 unit are dropped (a lone
 *   emoji, two units, is kept). Punctuation is stripped only when a token is exactly one of
 *   PUNC_LIST's strings plus a punctuation-free word of two or more units ("good!!" → "good",
 *   "good!!!!" and "(good)" stay as they are, so they miss the lexicon).
 * - Lexicon, booster, "kind of" and "least" look-ups use the lower-cased token; lexicon
 *   entries with capitals (":D", "(-:O") can therefore never match. Negations, "never so/this",
 *   idioms, the "kind of"/"sort of" bigram and "but" compare the token as written, so "Not"
 *   and "But" are ignored (the news scorer lower-cases text first; this port does not).
 * - ALL-CAPS means "has an ASCII capital and no ASCII small letter" ("20%" is not, "Q3" is);
 *   emphasis applies only when some but not all tokens are ALL-CAPS.
 * - Three words back: the first is negated by a negation or any "n't"; the second also by
 *   "never so/this" (x1.5); the third is x1.25 whenever the word right before is "so" or
 *   "this" (the JS port's reading of "never so"), else negated. Boosters 2 and 3 back are
 *   damped x0.95 / x0.9. Only words not in the lexicon act as boosters or negations.
 * - Idioms are checked only for a word at index >= 3 whose third predecessor is not in the
 *   lexicon; a matching idiom replaces the valence, then the "kind of"/"sort of"/"just enough"
 *   bigram before it adds -0.293 whatever the sign.
 * - "least" right before a word negates it unless preceded by "at" or "very".
 * - "but": the first exact "but" (else the first "BUT") halves what comes before and
 *   multiplies what follows by 1.5.
 * - "!" (up to 4, x0.292) and "?" (2-3: x0.18 each, more: 0.96) are counted over the whole
 *   text, tokens or not, and push the sum away from zero; compound = sum/sqrt(sum²+15),
 *   rounded to 4 decimals with toFixed.
 *
 * The lexicon is read from the package's own vader_lexicon.txt (the file its bundle was
 * generated from; for duplicate words the last line wins, as in the bundle), once, at load.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Constants as in vader-sentiment/src/vaderSentiment.js.
const B_INCR = 0.293;
const B_DECR = -0.293;
const C_INCR = 0.733;
const N_SCALAR = -0.74;
const ALPHA = 15;

/** Prefixes/suffixes SentiText strips from a token (only these exact strings). */
const PUNC_LIST = new Set(['.', '!', '?', ',', ';', ':', '-', "'", '"', '!!', '!!!', '??', '???', '?!?', '!?!', '?!?!', '!?!?']);

const NEGATE = new Set([
  'aint', 'arent', 'cannot', 'cant', 'couldnt', 'darent', 'didnt', 'doesnt', "ain't", "aren't", "can't",
  "couldn't", "daren't", "didn't", "doesn't", 'dont', 'hadnt', 'hasnt', 'havent', 'isnt', 'mightnt', 'mustnt',
  'neither', "don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't", 'neednt', "needn't", 'never',
  'none', 'nope', 'nor', 'not', 'nothing', 'nowhere', 'oughtnt', 'shant', 'shouldnt', 'uhuh', 'wasnt', 'werent',
  "oughtn't", "shan't", "shouldn't", 'uh-uh', "wasn't", "weren't", 'without', 'wont', 'wouldnt', "won't", "wouldn't",
  'rarely', 'seldom', 'despite',
]);

const BOOSTERS: ReadonlyMap<string, number> = new Map([
  ...[
    'absolutely', 'amazingly', 'awfully', 'completely', 'considerably', 'decidedly', 'deeply', 'effing', 'enormously',
    'entirely', 'especially', 'exceptionally', 'extremely', 'fabulously', 'flipping', 'flippin', 'fricking', 'frickin',
    'frigging', 'friggin', 'fully', 'fucking', 'greatly', 'hella', 'highly', 'hugely', 'incredibly', 'intensely',
    'majorly', 'more', 'most', 'particularly', 'purely', 'quite', 'really', 'remarkably', 'so', 'substantially',
    'thoroughly', 'totally', 'tremendously', 'uber', 'unbelievably', 'unusually', 'utterly', 'very',
  ].map((w) => [w, B_INCR] as const),
  ...[
    'almost', 'barely', 'hardly', 'just enough', 'kind of', 'kinda', 'kindof', 'kind-of', 'less', 'little',
    'marginally', 'occasionally', 'partly', 'scarcely', 'slightly', 'somewhat', 'sort of', 'sorta', 'sortof', 'sort-of',
  ].map((w) => [w, B_DECR] as const),
]);

/** Booster keys of two words: a token never contains a space, so only idioms_check can match these. */
const BOOSTER_BIGRAMS = new Set([...BOOSTERS.keys()].filter((k) => k.includes(' ')));

const SPECIAL_CASE_IDIOMS: ReadonlyMap<string, number> = new Map([
  ['the shit', 3],
  ['the bomb', 3],
  ['bad ass', 1.5],
  ['yeah right', -2],
  ['cut the mustard', 2],
  ['kiss of death', -1.5],
  ['hand to mouth', -2],
]);

/** VADER's lexicon: lower-case word (or emoticon) → valence on the -4..4 scale. */
export type VaderLexicon = ReadonlyMap<string, number>;

/** Parses vader_lexicon.txt (word TAB mean TAB sd TAB ratings); a later duplicate wins, as in the bundle. */
export function parseVaderLexicon(text: string): Map<string, number> {
  const lexicon = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    const next = line.indexOf('\t', tab + 1);
    const field = line.slice(tab + 1, next < 0 ? undefined : next).trim();
    const valence = Number(field);
    if (tab <= 0 || field === '' || !Number.isFinite(valence)) throw new Error(`vader: bad lexicon line ${JSON.stringify(line)}`);
    lexicon.set(line.slice(0, tab), valence);
  }
  return lexicon;
}

/** Where the installed vader-sentiment keeps its lexicon (resolved like an import, so it works wherever node_modules is). */
export const VADER_LEXICON_PATH = createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');

/** The lexicon shipped with the installed vader-sentiment. */
export const VADER_LEXICON: VaderLexicon = parseVaderLexicon(readFileSync(VADER_LEXICON_PATH, 'utf8'));

// Per-token flags for the words VADER compares as written (case-sensitive).
const F_NEGATION = 1; // in NEGATE (a token containing "n't" is also a negation, checked separately)
const F_NEVER = 2;
const F_SO_THIS = 4;
const F_IDIOM = 8; // appears in an idiom or a two-word booster: worth building the idiom strings
const F_UPPER = 16; // is_upper_python
const F_NT = 32; // contains "n't"

const EXACT_FLAGS: ReadonlyMap<string, number> = (() => {
  const flags = new Map<string, number>();
  const add = (word: string, flag: number): void => {
    flags.set(word, (flags.get(word) ?? 0) | flag);
  };
  for (const w of NEGATE) add(w, F_NEGATION);
  add('never', F_NEVER);
  add('so', F_SO_THIS);
  add('this', F_SO_THIS);
  for (const key of [...SPECIAL_CASE_IDIOMS.keys(), ...BOOSTER_BIGRAMS]) for (const w of key.split(' ')) add(w, F_IDIOM);
  return flags;
})();

/** JS `\s` (what the library's split(/\s/) splits on) for code units below 128. */
const ASCII_SPACE = new Uint8Array(128);
for (const c of [9, 10, 11, 12, 13, 32]) ASCII_SPACE[c] = 1;
/** The library's REGEX_REMOVE_PUNCTUATION class: all 32 ASCII punctuation characters. */
const ASCII_PUNCT = new Uint8Array(128);
for (const ch of '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~') ASCII_PUNCT[ch.charCodeAt(0)] = 1;

function isSpace(c: number): boolean {
  if (c < 128) return ASCII_SPACE[c] === 1;
  return (
    c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** Per lower-case word: its lexicon valence (NaN if none) and booster scalar (0 if none), in one look-up. */
interface WordInfo {
  readonly valence: number;
  readonly booster: number;
}

const NO_INFO: WordInfo = { valence: Number.NaN, booster: 0 };

/** A compound scorer: same result as vader-sentiment's polarity_scores(text).compound for the same lexicon. */
export type VaderCompound = (text: string) => number;

/**
 * Builds a compound scorer over `lexicon` (VADER's own by default). A different lexicon changes
 * only the valences; every rule stays VADER's.
 */
export function createVaderCompound(lexicon: VaderLexicon = VADER_LEXICON): VaderCompound {
  const info = new Map<string, WordInfo>();
  for (const [word, valence] of lexicon) info.set(word, { valence, booster: 0 });
  for (const [word, booster] of BOOSTERS) info.set(word, { valence: info.get(word)?.valence ?? Number.NaN, booster });
  // least_check looks "least" up in the lexicon: with it there, "least" never negates.
  const leastNegates = !lexicon.has('least');

  // Scratch, grown on demand and reused across calls (scoring is synchronous).
  const words: string[] = [];
  const lowers: string[] = [];
  let valences = new Float64Array(64);
  let boosters = new Float64Array(64);
  let flags = new Uint8Array(64);
  let sentiments = new Float64Array(64);

  function grow(): void {
    const size = valences.length * 2;
    const v = new Float64Array(size);
    v.set(valences);
    valences = v;
    const b = new Float64Array(size);
    b.set(boosters);
    boosters = b;
    const f = new Uint8Array(size);
    f.set(flags);
    flags = f;
    sentiments = new Float64Array(size);
  }

  /** Tokenises like SentiText; returns the token count, and the "!"/"?" counts via the out array. */
  function tokenize(text: string, marks: number[]): number {
    const len = text.length;
    let n = 0;
    let exclamations = 0;
    let questions = 0;
    let i = 0;
    while (i < len) {
      let c = text.charCodeAt(i);
      if (isSpace(c)) {
        i++;
        continue;
      }
      const start = i;
      let firstWord = -1; // first non-punctuation unit
      let lastWord = -1; // last non-punctuation unit
      let innerPunct = false; // punctuation after firstWord that is followed by a non-punctuation unit
      let pendingPunct = false;
      let upper = false;
      let lower = false;
      let plain = true; // ASCII with no capitals: already lower-case
      let apostrophe = false;
      for (; i < len; i++) {
        c = text.charCodeAt(i);
        if (c < 128) {
          if (ASCII_SPACE[c] === 1) break;
          if (ASCII_PUNCT[c] === 1) {
            if (c === 33) exclamations++;
            else if (c === 63) questions++;
            else if (c === 39) apostrophe = true;
            if (firstWord >= 0) pendingPunct = true;
            continue;
          }
          if (c >= 65 && c <= 90) {
            upper = true;
            plain = false;
          } else if (c >= 97 && c <= 122) lower = true;
        } else {
          if (isSpace(c)) break;
          plain = false;
        }
        if (firstWord < 0) firstWord = i;
        else if (pendingPunct) innerPunct = true;
        pendingPunct = false;
        lastWord = i;
      }
      const end = i;
      if (end - start <= 1) continue;

      let word: string;
      const lead = firstWord - start;
      const trail = end - 1 - lastWord;
      // SentiText maps P+w and w+P (P in PUNC_LIST, w a punctuation-free word of 2+ units) to w.
      if (
        firstWord >= 0 && !innerPunct && lastWord - firstWord >= 1 &&
        (lead === 0) !== (trail === 0) &&
        PUNC_LIST.has(lead > 0 ? text.slice(start, firstWord) : text.slice(lastWord + 1, end))
      ) {
        word = text.slice(firstWord, lastWord + 1);
      } else {
        word = text.slice(start, end);
      }

      if (n === valences.length) grow();
      const low = plain ? word : word.toLowerCase();
      const wi = info.get(low) ?? NO_INFO;
      let f = EXACT_FLAGS.get(word) ?? 0;
      if (upper && !lower) f |= F_UPPER;
      if (apostrophe && word.includes("n't")) f |= F_NT;
      words[n] = word;
      lowers[n] = low;
      valences[n] = wi.valence;
      boosters[n] = wi.booster;
      flags[n] = f;
      n++;
    }
    marks[0] = exclamations;
    marks[1] = questions;
    return n;
  }

  function negated(j: number): boolean {
    return (flags[j]! & (F_NEGATION | F_NT)) !== 0;
  }

  function scalarIncDec(j: number, valence: number, capDiff: boolean): number {
    let scalar = 0.0;
    const booster = boosters[j]!;
    if (booster !== 0) {
      scalar = booster;
      if (valence < 0) scalar *= -1;
      if (capDiff && (flags[j]! & F_UPPER) !== 0) {
        if (valence > 0) scalar += C_INCR;
        else scalar -= C_INCR;
      }
    }
    return scalar;
  }

  function neverCheck(valence: number, startI: number, index: number): number {
    if (startI === 0) {
      if (negated(index - 1)) valence = valence * N_SCALAR;
    } else if (startI === 1) {
      if ((flags[index - 2]! & F_NEVER) !== 0 && (flags[index - 1]! & F_SO_THIS) !== 0) valence = valence * 1.5;
      else if (negated(index - 2)) valence = valence * N_SCALAR;
    } else {
      if (
        ((flags[index - 3]! & F_NEVER) !== 0 && (flags[index - 2]! & F_SO_THIS) !== 0) ||
        (flags[index - 1]! & F_SO_THIS) !== 0
      ) {
        valence = valence * 1.25;
      } else if (negated(index - 3)) valence = valence * N_SCALAR;
    }
    return valence;
  }

  function idiomsCheck(valence: number, index: number, n: number): number {
    const idiom = (k: number): boolean => (flags[k]! & F_IDIOM) !== 0;
    const i0 = idiom(index);
    const i1 = idiom(index - 1);
    const i2 = idiom(index - 2);
    const i3 = idiom(index - 3);
    // Same order as the library: onezero, twoonezero, twoone, threetwoone, threetwo; first match wins.
    let v: number | undefined;
    if (i1 && i0) v = SPECIAL_CASE_IDIOMS.get(`${words[index - 1]} ${words[index]}`);
    if (v === undefined && i2 && i1 && i0) v = SPECIAL_CASE_IDIOMS.get(`${words[index - 2]} ${words[index - 1]} ${words[index]}`);
    if (v === undefined && i2 && i1) v = SPECIAL_CASE_IDIOMS.get(`${words[index - 2]} ${words[index - 1]}`);
    if (v === undefined && i3 && i2 && i1) v = SPECIAL_CASE_IDIOMS.get(`${words[index - 3]} ${words[index - 2]} ${words[index - 1]}`);
    if (v === undefined && i3 && i2) v = SPECIAL_CASE_IDIOMS.get(`${words[index - 3]} ${words[index - 2]}`);
    if (v !== undefined) valence = v;
    if (n - 1 > index && i0 && idiom(index + 1)) {
      const z = SPECIAL_CASE_IDIOMS.get(`${words[index]} ${words[index + 1]}`);
      if (z !== undefined) valence = z;
    }
    if (n - 1 > index + 1 && i0 && idiom(index + 1) && idiom(index + 2)) {
      const z = SPECIAL_CASE_IDIOMS.get(`${words[index]} ${words[index + 1]} ${words[index + 2]}`);
      if (z !== undefined) valence = z;
    }
    if (
      (i3 && i2 && BOOSTER_BIGRAMS.has(`${words[index - 3]} ${words[index - 2]}`)) ||
      (i2 && i1 && BOOSTER_BIGRAMS.has(`${words[index - 2]} ${words[index - 1]}`))
    ) {
      valence = valence + B_DECR;
    }
    return valence;
  }

  function leastCheck(valence: number, index: number): number {
    if (!leastNegates || index === 0 || lowers[index - 1] !== 'least') return valence;
    if (index > 1) {
      const before = lowers[index - 2];
      if (before !== 'at' && before !== 'very') valence = valence * N_SCALAR;
    } else {
      valence = valence * N_SCALAR;
    }
    return valence;
  }

  const marks = [0, 0];

  return function compound(text: string): number {
    const n = tokenize(text, marks);
    if (n === 0) return 0;

    let caps = 0;
    for (let k = 0; k < n; k++) if ((flags[k]! & F_UPPER) !== 0) caps++;
    const capDiff = n - caps > 0 && n - caps < n;

    for (let i = 0; i < n; i++) {
      const low = lowers[i]!;
      if ((i < n - 1 && low === 'kind' && lowers[i + 1] === 'of') || boosters[i] !== 0) {
        sentiments[i] = 0;
        continue;
      }
      let valence = valences[i]!;
      if (valence !== valence) {
        sentiments[i] = 0;
        continue;
      }
      if ((flags[i]! & F_UPPER) !== 0 && capDiff) {
        if (valence > 0) valence += C_INCR;
        else valence -= C_INCR;
      }
      for (let startI = 0; startI < 3; startI++) {
        const j = i - (startI + 1);
        if (i > startI && valences[j] !== valences[j]) {
          let s = scalarIncDec(j, valence, capDiff);
          if (startI === 1 && s !== 0) s = s * 0.95;
          else if (startI === 2 && s !== 0) s = s * 0.9;
          valence = valence + s;
          valence = neverCheck(valence, startI, i);
          if (startI === 2) valence = idiomsCheck(valence, i, n);
        }
      }
      sentiments[i] = leastCheck(valence, i);
    }

    // but_check: the first exact "but", else the first "BUT".
    let but = -1;
    for (let k = 0; k < n && but < 0; k++) if (words[k] === 'but') but = k;
    for (let k = 0; k < n && but < 0; k++) if (words[k] === 'BUT') but = k;
    if (but >= 0) {
      for (let k = 0; k < n; k++) {
        if (k < but) sentiments[k] = sentiments[k]! * 0.5;
        else if (k > but) sentiments[k] = sentiments[k]! * 1.5;
      }
    }

    let sum = 0;
    for (let k = 0; k < n; k++) sum += sentiments[k]!;
    const ep = marks[0]! > 4 ? 4 : marks[0]!;
    const qm = marks[1]!;
    const amplifier = ep * 0.292 + (qm > 1 ? (qm <= 3 ? qm * 0.18 : 0.96) : 0);
    if (sum > 0) sum += amplifier;
    else if (sum < 0) sum -= amplifier;
    let score = sum / Math.sqrt(sum * sum + ALPHA);
    if (score < -1.0) score = -1.0;
    else if (score > 1.0) score = 1.0;
    return Number(score.toFixed(4));
  };
}

/** VADER's compound score with VADER's own lexicon: equals vader-sentiment's polarity_scores(text).compound. */
export const vaderCompound: VaderCompound = createVaderCompound();
