/**
 * VADER's compound score under the reference rules of the Python vaderSentiment 3.3.x
 * (cjhutto/vaderSentiment, vaderSentiment/vaderSentiment.py), which the JavaScript package that
 * ./vader.ts replicates predates. What 3.3 does differently from vader-sentiment 1.1.3:
 * - Tokens: the text splits on whitespace; each token loses its leading and trailing ASCII
 *   punctuation unless fewer than three characters would remain (so "(good)" and "good!!!!" are
 *   "good", ":)" stays ":)", and "no," stays "no,"). One-character tokens are kept.
 * - Every rule compares lower-cased words (negations, "never so", idioms, "but"), so "Not" negates.
 * - The "no" rule: "no" before a lexicon word loses its own valence (-1.2) and the word one or
 *   two places after it (or three, with "or"/"nor" right before the word) is negated
 *   (lexicon valence x -0.74): "no problems" is mildly positive, not -0.60.
 * - "without doubt" does not negate; "never so/this" two back is x1.25; more boosters
 *   ("major", "total", "extreme", ...), and idioms of 3.3 ("bus stop" 0, "to die for" 3, ...).
 * - The "but" rule keeps 3.3's list-index behaviour: each sentiment is located with
 *   `list.index(value)`, so when two words carry an equal value the first one's slot is
 *   scaled for both (reproduced on purpose: these are the reference rules).
 * - The lexicon is 3.3's: vader-sentiment's vader_lexicon.txt plus the four lines 3.3 changed
 *   (LEXICON_33_CHANGES).
 * Not reproduced: 3.3 translates emoji to their English descriptions before scoring; that
 * table does not ship with vader-sentiment, and news text rarely carries emoji.
 *
 * The scorer is split so the news scorer can change word valences in context: tokenize, look
 * up valences (NaN = not a lexicon word), adjust, then scoreTokens.
 */
import { VADER_LEXICON, type VaderLexicon } from './vader.ts';

const B_INCR = 0.293;
const B_DECR = -0.293;
const C_INCR = 0.733;
export const N_SCALAR = -0.74;
const ALPHA = 15;

/** The lines of vaderSentiment 3.3's vader_lexicon.txt that differ from vader-sentiment 1.1.3's. */
export const LEXICON_33_CHANGES: ReadonlyMap<string, number> = new Map([
  ['badass', 1.4],
  ['flawed', -2.1],
  ['heart', 3.2],
  ['hearts', 3.3],
]);

/** VADER 3.3's lexicon. */
export const VADER33_LEXICON: VaderLexicon = new Map([...VADER_LEXICON, ...LEXICON_33_CHANGES]);

export const NEGATE: ReadonlySet<string> = new Set([
  'aint', 'arent', 'cannot', 'cant', 'couldnt', 'darent', 'didnt', 'doesnt', "ain't", "aren't", "can't",
  "couldn't", "daren't", "didn't", "doesn't", 'dont', 'hadnt', 'hasnt', 'havent', 'isnt', 'mightnt', 'mustnt',
  'neither', "don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't", 'neednt', "needn't", 'never',
  'none', 'nope', 'nor', 'not', 'nothing', 'nowhere', 'oughtnt', 'shant', 'shouldnt', 'uhuh', 'wasnt', 'werent',
  "oughtn't", "shan't", "shouldn't", 'uh-uh', "wasn't", "weren't", 'without', 'wont', 'wouldnt', "won't", "wouldn't",
  'rarely', 'seldom', 'despite',
]);

export const BOOSTERS: ReadonlyMap<string, number> = new Map([
  ...[
    'absolutely', 'amazingly', 'awfully', 'completely', 'considerable', 'considerably', 'decidedly', 'deeply',
    'effing', 'enormous', 'enormously', 'entirely', 'especially', 'exceptional', 'exceptionally', 'extreme',
    'extremely', 'fabulously', 'flipping', 'flippin', 'frackin', 'fracking', 'fricking', 'frickin', 'frigging',
    'friggin', 'fully', 'fuckin', 'fucking', 'fuggin', 'fugging', 'greatly', 'hella', 'highly', 'hugely',
    'incredible', 'incredibly', 'intensely', 'major', 'majorly', 'more', 'most', 'particularly', 'purely', 'quite',
    'really', 'remarkably', 'so', 'substantially', 'thoroughly', 'total', 'totally', 'tremendous', 'tremendously',
    'uber', 'unbelievably', 'unusually', 'utter', 'utterly', 'very',
  ].map((w) => [w, B_INCR] as const),
  ...[
    'almost', 'barely', 'hardly', 'just enough', 'kind of', 'kinda', 'kindof', 'kind-of', 'less', 'little',
    'marginal', 'marginally', 'occasional', 'occasionally', 'partly', 'scarce', 'scarcely', 'slight', 'slightly',
    'somewhat', 'sort of', 'sorta', 'sortof', 'sort-of',
  ].map((w) => [w, B_DECR] as const),
]);

const SPECIAL_CASES: ReadonlyMap<string, number> = new Map([
  ['the shit', 3], ['the bomb', 3], ['bad ass', 1.5], ['badass', 1.5], ['bus stop', 0.0],
  ['yeah right', -2], ['kiss of death', -1.5], ['to die for', 3], ['beating heart', 3.1], ['broken heart', -2.9],
]);

/** Python's str.split() separators (Unicode whitespace, plus the ASCII separators 0x1c-0x1f). */
export function isPySpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000
  );
}

export function isAsciiPunct(c: number): boolean {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/** Code points in s[start, end). */
export function codePoints(s: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === start) n++;
  }
  return n;
}

/** A raw token and the word VADER sees: the token with edge punctuation stripped (SentiText). */
export interface Token {
  /** The whitespace-separated token as written. */
  readonly raw: string;
  /** VADER's word: `raw` stripped of edge punctuation unless that leaves fewer than three characters. */
  readonly word: string;
}

/** SentiText._words_and_emoticons of 3.3: whitespace split, edge punctuation stripped. */
export function tokenize33(text: string): Token[] {
  const tokens: Token[] = [];
  const len = text.length;
  let i = 0;
  while (i < len) {
    if (isPySpace(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < len && !isPySpace(text.charCodeAt(i))) i++;
    let a = start;
    let b = i;
    while (a < b && isAsciiPunct(text.charCodeAt(a))) a++;
    while (b > a && isAsciiPunct(text.charCodeAt(b - 1))) b--;
    const raw = text.slice(start, i);
    tokens.push({ raw, word: codePoints(text, a, b) <= 2 ? raw : text.slice(a, b) });
  }
  return tokens;
}

/** Python's str.isupper(): some cased character and none lower-case. */
export function isUpper(word: string): boolean {
  let upper = false;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c >= 97 && c <= 122) return false;
    if (c >= 65 && c <= 90) upper = true;
    else if (c > 127) {
      const ch = word[i]!;
      const lo = ch.toLowerCase();
      const up = ch.toUpperCase();
      if (lo !== up) {
        if (ch !== up) return false;
        upper = true;
      }
    }
  }
  return upper;
}

/** Counts "!" and "?" in the text (the punctuation emphasis reads the whole text). */
export function countMarks(text: string): { exclamations: number; questions: number } {
  let exclamations = 0;
  let questions = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 33) exclamations++;
    else if (c === 63) questions++;
  }
  return { exclamations, questions };
}

function negatedWord(lower: string): boolean {
  return NEGATE.has(lower) || lower.includes("n't");
}

/**
 * The compound score of words whose valences are given (NaN: not a lexicon word). `lowers`
 * are the lower-cased words; `upper[i]` whether word i is ALL CAPS.
 */
export function scoreTokens33(
  lowers: readonly string[],
  upper: readonly boolean[],
  valences: ArrayLike<number>,
  exclamations: number,
  questions: number,
): number {
  const n = lowers.length;
  if (n === 0) return 0;
  let caps = 0;
  for (let k = 0; k < n; k++) if (upper[k]) caps++;
  const capDiff = n - caps > 0 && n - caps < n;

  const sentiments: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const low = lowers[i]!;
    const base = valences[i]!;
    // NaN (not a lexicon word) fails base === base.
    if (base !== base || BOOSTERS.has(low) || (i < n - 1 && low === 'kind' && lowers[i + 1] === 'of')) {
      sentiments[i] = 0;
      continue;
    }
    let valence = base;
    if (low === 'no' && i !== n - 1 && valences[i + 1] === valences[i + 1]) valence = 0.0;
    if (
      (i > 0 && lowers[i - 1] === 'no') ||
      (i > 1 && lowers[i - 2] === 'no') ||
      (i > 2 && lowers[i - 3] === 'no' && (lowers[i - 1] === 'or' || lowers[i - 1] === 'nor'))
    ) {
      valence = base * N_SCALAR;
    }
    if (upper[i] && capDiff) valence += valence > 0 ? C_INCR : -C_INCR;
    for (let startI = 0; startI < 3; startI++) {
      const j = i - (startI + 1);
      if (i > startI && valences[j] !== valences[j]) {
        let s = scalarIncDec(lowers[j]!, upper[j]!, capDiff, valence);
        if (startI === 1 && s !== 0) s = s * 0.95;
        if (startI === 2 && s !== 0) s = s * 0.9;
        valence = valence + s;
        valence = negationCheck(valence, lowers, startI, i);
        if (startI === 2) valence = idiomsCheck(valence, lowers, i);
      }
    }
    // _least_check
    if (i > 1 && valences[i - 1] !== valences[i - 1] && lowers[i - 1] === 'least') {
      if (lowers[i - 2] !== 'at' && lowers[i - 2] !== 'very') valence = valence * N_SCALAR;
    } else if (i > 0 && valences[i - 1] !== valences[i - 1] && lowers[i - 1] === 'least') {
      valence = valence * N_SCALAR;
    }
    sentiments[i] = valence;
  }

  butCheck(lowers, sentiments);

  let sum = 0;
  for (let k = 0; k < n; k++) sum += sentiments[k]!;
  const ep = exclamations > 4 ? 4 : exclamations;
  const amplifier = ep * 0.292 + (questions > 1 ? (questions <= 3 ? questions * 0.18 : 0.96) : 0);
  if (sum > 0) sum += amplifier;
  else if (sum < 0) sum -= amplifier;
  let score = sum / Math.sqrt(sum * sum + ALPHA);
  if (score < -1.0) score = -1.0;
  else if (score > 1.0) score = 1.0;
  return round4(score);
}

function scalarIncDec(word: string, upper: boolean, capDiff: boolean, valence: number): number {
  const booster = BOOSTERS.get(word);
  if (booster === undefined) return 0;
  let scalar = valence < 0 ? -booster : booster;
  if (upper && capDiff) scalar += valence > 0 ? C_INCR : -C_INCR;
  return scalar;
}

/**
 * Number(x.toFixed(4)) for |x| <= 1, without the string round trip (toFixed was ~5% of a headline).
 * Away from a tie, Math.round(x * 1e4) is the integer toFixed picks (the product's error, below
 * 1e-11 here, cannot move it across a rounding boundary more than 1e-6 away), and dividing it by
 * 1e4 is correctly rounded, as parsing the decimal string is. Near a tie (toFixed rounds half away
 * from zero, Math.round half up) and at zero (toFixed drops the sign of -0) it falls back.
 */
export function round4(x: number): number {
  const y = x * 1e4;
  const r = Math.round(y);
  if (x === 0 || !(Math.abs(Math.abs(y - r) - 0.5) > 1e-6) || !(Math.abs(x) <= 1)) return Number(x.toFixed(4));
  return r / 1e4;
}

function negationCheck(valence: number, lowers: readonly string[], startI: number, i: number): number {
  if (startI === 0) {
    if (negatedWord(lowers[i - 1]!)) valence = valence * N_SCALAR;
  } else if (startI === 1) {
    const w2 = lowers[i - 2];
    const w1 = lowers[i - 1];
    if (w2 === 'never' && (w1 === 'so' || w1 === 'this')) valence = valence * 1.25;
    else if (w2 === 'without' && w1 === 'doubt') {
      // unchanged
    } else if (negatedWord(w2!)) valence = valence * N_SCALAR;
  } else {
    const w3 = lowers[i - 3];
    const w2 = lowers[i - 2];
    const w1 = lowers[i - 1];
    if ((w3 === 'never' && (w2 === 'so' || w2 === 'this')) || w1 === 'so' || w1 === 'this') valence = valence * 1.25;
    else if (w3 === 'without' && (w2 === 'doubt' || w1 === 'doubt')) {
      // unchanged
    } else if (negatedWord(w3!)) valence = valence * N_SCALAR;
  }
  return valence;
}

/** Words of the multi-word idioms and boosters: an n-gram of other words cannot match one. */
const IDIOM_WORDS: ReadonlySet<string> = new Set(
  [...SPECIAL_CASES.keys(), ...BOOSTERS.keys()].filter((k) => k.includes(' ')).flatMap((k) => k.split(' ')),
);

/** Whether a token can be part of an idiom or booster n-gram (a joined multi-word token might). */
function idiomable(word: string): boolean {
  return IDIOM_WORDS.has(word) || word.includes(' ');
}

/**
 * _idioms_check of 3.3. The n-gram strings are only built when every token in them can be part of
 * an idiom: the lookups of the others cannot succeed, and building five strings per scored word
 * was a measurable share of the time.
 */
function idiomsCheck(valence: number, w: readonly string[], i: number): number {
  const w3 = w[i - 3]!;
  const w2 = w[i - 2]!;
  const w1 = w[i - 1]!;
  const w0 = w[i]!;
  const k3 = idiomable(w3);
  const k2 = idiomable(w2);
  const k1 = idiomable(w1);
  const k0 = idiomable(w0);
  // First match in 3.3's order: onezero, twoonezero, twoone, threetwoone, threetwo.
  let v: number | undefined;
  if (k1 && k0) v = SPECIAL_CASES.get(`${w1} ${w0}`);
  if (v === undefined && k2 && k1 && k0) v = SPECIAL_CASES.get(`${w2} ${w1} ${w0}`);
  if (v === undefined && k2 && k1) v = SPECIAL_CASES.get(`${w2} ${w1}`);
  if (v === undefined && k3 && k2 && k1) v = SPECIAL_CASES.get(`${w3} ${w2} ${w1}`);
  if (v === undefined && k3 && k2) v = SPECIAL_CASES.get(`${w3} ${w2}`);
  if (v !== undefined) valence = v;
  if (k0 && w.length - 1 > i && idiomable(w[i + 1]!)) {
    const after = SPECIAL_CASES.get(`${w0} ${w[i + 1]}`);
    if (after !== undefined) valence = after;
  }
  if (k0 && w.length - 1 > i + 1 && idiomable(w[i + 1]!) && idiomable(w[i + 2]!)) {
    const after = SPECIAL_CASES.get(`${w0} ${w[i + 1]} ${w[i + 2]}`);
    if (after !== undefined) valence = after;
  }
  if (k3 && k2 && k1) {
    const b = BOOSTERS.get(`${w3} ${w2} ${w1}`);
    if (b !== undefined) valence = valence + b;
  }
  if (k3 && k2) {
    const b = BOOSTERS.get(`${w3} ${w2}`);
    if (b !== undefined) valence = valence + b;
  }
  if (k2 && k1) {
    const b = BOOSTERS.get(`${w2} ${w1}`);
    if (b !== undefined) valence = valence + b;
  }
  return valence;
}

/** _but_check of 3.3, including its list.index() lookup (see the module comment). */
function butCheck(lowers: readonly string[], sentiments: number[]): void {
  const bi = lowers.indexOf('but');
  if (bi < 0) return;
  for (let k = 0; k < sentiments.length; k++) {
    const sentiment = sentiments[k]!;
    const si = sentiments.indexOf(sentiment);
    if (si < bi) sentiments[si] = sentiment * 0.5;
    else if (si > bi) sentiments[si] = sentiment * 1.5;
  }
}

/** Lower-cased words, ALL-CAPS flags and lexicon valences (NaN when absent) of tokens. */
export function lookUp(tokens: readonly Token[], lexicon: VaderLexicon): { lowers: string[]; upper: boolean[]; valences: Float64Array } {
  const n = tokens.length;
  const lowers = new Array<string>(n);
  const upper = new Array<boolean>(n);
  const valences = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const word = tokens[k]!.word;
    // Most words are plain lower-case ASCII: no toLowerCase() and no isUpper() scan for them.
    let plain = true;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if ((c >= 65 && c <= 90) || c > 127) {
        plain = false;
        break;
      }
    }
    const low = plain ? word : word.toLowerCase();
    lowers[k] = low;
    upper[k] = plain ? false : isUpper(word);
    valences[k] = lexicon.get(low) ?? Number.NaN;
  }
  return { lowers, upper, valences };
}

/** VADER 3.3's polarity_scores(text)['compound'] (without the emoji translation) over `lexicon`. */
export function createVader33Compound(lexicon: VaderLexicon = VADER33_LEXICON): (text: string) => number {
  return (text) => {
    const tokens = tokenize33(text);
    const { lowers, upper, valences } = lookUp(tokens, lexicon);
    const { exclamations, questions } = countMarks(text);
    return scoreTokens33(lowers, upper, valences, exclamations, questions);
  };
}

export const vader33Compound = createVader33Compound();
