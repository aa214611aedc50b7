/**
 * vader-news@2: news sentiment on the reference VADER 3.3 rules (./vader33.ts), with context
 * rules that vader-news@1 could not express as word valences:
 * - Movement words (fall, drop, rise, climb, record low, ...) are scored against the quantity that
 *   moves, not on their own: "Unemployment drops to record low" is good news, "Shares drop" bad.
 *   The quantity is the nearest known noun before the word in the same clause, else one just
 *   after it ("cuts debt", "rise in infections"). Quantities where more is worse (unemployment,
 *   inflation, deaths, losses, debt, prices, ...) flip the movement; when a movement resolves, the
 *   quantity's own lexicon valence ("unemployment" -1.9) is dropped, since the news is the
 *   movement. Unresolved, strong market verbs (plunge, soar, ...) keep their usual sign and mild
 *   ones (fall, rise, ...) count only UNRESOLVED_WEIGHT of it.
 * - Shifters: avoid, avert, prevent, reduce, ease, end, resolve, settle, dismiss, ... followed
 *   (within SHIFT_WINDOW words of the clause) by a negative word turn it positive: "avoids
 *   bankruptcy", "ends strike", "eases burden". The shifter's own valence is dropped then.
 * - "fine" is a penalty only in penalty senses ("a $5m fine", "faces fine", "record fine",
 *   "fine over ..."); "doing fine" keeps VADER's +0.8 and "fine art/dining/print" is neutral.
 * - The news overlay of @1 (plunge, layoffs, bankruptcy, recall, names that are not sentiment ...)
 *   minus the words above, as lexicon entries (multi-word terms are joined into one token).
 * The case handling of @1 (Title Case, shouted headlines) is kept.
 *
 * analyzeNews() exposes the adjusted tokens so entity-targeted scoring (./targets.ts) can
 * score one clause with the same context.
 */
import { MAX_SCORED_CHARS, NEWS_LEXICON, normalizeCase, normalizeText } from './news-text.ts';
import type { SentimentScorer } from './sentiment.ts';
import { VADER33_LEXICON, codePoints, isAsciiPunct, isPySpace, isUpper, scoreTokens33 } from './vader33.ts';

export const NEWS_V2_ID = 'vader-news@2';

type Direction = 1 | -1;

/**
 * Movement words: direction (up 1, down -1), strength on VADER's -4..4 scale and what they count
 * when no quantity resolves them: strong market verbs their full valence, mild ones
 * UNRESOLVED_WEIGHT of it, transitive verbs (cut, raise, reduce, ...) nothing. Level words
 * (record low, highest) look for their quantity in the whole sentence ("Unemployment falls to
 * 3.5%, lowest in decades").
 */
interface Move {
  direction: Direction;
  strength: number;
  strong: boolean;
  transitive: boolean;
  level: boolean;
  /** An adjective ("record"): its quantity is the noun after it. */
  attributive: boolean;
}

const TRANSITIVE = new Set(['add', 'adds', 'added', 'ramp up', 'ramps up', 'ramped up', 'record', 'shed', 'sheds', 'cut', 'cuts', 'slash', 'slashes', 'slashed', 'trim', 'trims', 'trimmed', 'reduce', 'reduces', 'reduced',
  'lower', 'lowers', 'lowered', 'halve', 'halves', 'halved', 'raise', 'raises', 'raised', 'lift', 'lifts', 'lifted', 'double',
  'doubles', 'doubled', 'ease', 'eases', 'eased', 'easing', 'decrease', 'decreases', 'decreased', 'increase', 'increases', 'increased']);
const LEVELS = new Set(['record', 'record low', 'record lows', 'all-time low', 'all-time lows', 'new low', 'new lows', 'lowest', 'new high', 'new highs', 'highest', 'record high', 'record highs', 'all-time high', 'all-time highs']);

const MOVE_GROUPS: ReadonlyArray<readonly [Direction, number, boolean, readonly string[]]> = [
  [-1, 2.5, true, ['plummet', 'plummets', 'plummeted', 'plummeting']],
  [-1, 2.4, true, ['plunge', 'plunges', 'plunged', 'plunging', 'crash', 'crashes', 'crashed', 'crashing']],
  [-1, 2.0, true, ['tumble', 'tumbles', 'tumbled', 'tumbling', 'slump', 'slumps', 'slumped', 'slumping', 'tank', 'tanks', 'tanked', 'tanking']],
  [-1, 2.0, true, ['record low', 'record lows', 'all-time low', 'all-time lows']],
  [-1, 1.8, true, ['new low', 'new lows', 'lowest', 'sell-off', 'selloff', 'sell off', 'sells off', 'sold off']],
  [-1, 1.6, true, ['sink', 'sinks', 'sank', 'sinking', 'nosedive', 'nosedives']],
  [-1, 1.4, true, ['slide', 'slides', 'slid', 'sliding', 'shrink', 'shrinks', 'shrank', 'shrinking', 'contract', 'contracts', 'contracted', 'contraction']],
  [-1, 1.2, false, ['fall', 'falls', 'fell', 'falling', 'drop', 'drops', 'dropped', 'dropping', 'decline', 'declines', 'declined', 'declining']],
  [-1, 1.2, false, ['decrease', 'decreases', 'decreased', 'lower', 'lowers', 'lowered', 'halve', 'halves', 'halved']],
  [-1, 1.0, false, ['cut', 'cuts', 'slash', 'slashes', 'slashed', 'trim', 'trims', 'trimmed', 'reduce', 'reduces', 'reduced']],
  [-1, 0.9, false, ['slip', 'slips', 'slipped', 'slipping', 'dip', 'dips', 'dipped', 'ease', 'eases', 'eased', 'easing', 'cool', 'cools', 'cooled', 'cooling']],
  [-1, 0.9, false, ['slow', 'slows', 'slowed', 'slowing', 'narrow', 'narrows', 'narrowed', 'narrowing', 'retreat', 'retreats', 'retreated']],
  [1, 0.9, false, ['edge up', 'edges up', 'edged up', 'tick up', 'ticks up', 'ticked up', 'widen', 'widens', 'widened', 'widening', 'deepen', 'deepens', 'deepened']],
  [1, 1.2, false, ['rise', 'rises', 'rose', 'rising', 'climb', 'climbs', 'climbed', 'climbing', 'increase', 'increases', 'increased', 'increasing']],
  [1, 1.2, false, ['grow', 'grows', 'grew', 'growing', 'raise', 'raises', 'raised', 'lift', 'lifts', 'lifted', 'higher', 'double', 'doubles', 'doubled']],
  [1, 1.2, false, ['accelerate', 'accelerates', 'accelerated', 'spike', 'spikes', 'spiked', 'mount', 'mounts', 'mounted']],
  [1, 1.2, false, ['add', 'adds', 'added', 'ramp up', 'ramps up', 'ramped up', 'record']],
  [-1, 1.2, false, ['shed', 'sheds']],
  [1, 1.5, true, ['jump', 'jumps', 'jumped', 'jumping', 'rebound', 'rebounds', 'rebounded', 'rebounding']],
  [1, 1.8, true, ['new high', 'new highs', 'highest']],
  [1, 1.9, true, ['surge', 'surges', 'surged', 'surging', 'rally', 'rallies', 'rallied', 'rallying', 'balloon', 'balloons', 'ballooned']],
  [1, 2.2, true, ['record high', 'record highs', 'all-time high', 'all-time highs']],
  [1, 2.3, true, ['soar', 'soars', 'soared', 'soaring', 'skyrocket', 'skyrockets', 'skyrocketed']],
];

const MOVES: ReadonlyMap<string, Move> = new Map(
  MOVE_GROUPS.flatMap(([direction, strength, strong, words]) =>
    words.map((w) => [w, { direction, strength, strong, transitive: TRANSITIVE.has(w), level: LEVELS.has(w), attributive: w === 'record' }] as const),
  ),
);

/** Share of its valence an unresolved mild movement keeps (tuned on the dev set). */
export const UNRESOLVED_WEIGHT = 0.5;

/** Quantities where more is worse: a fall is good news. */
const WORSE_WHEN_UP = new Set([
  'unemployment', 'jobless', 'joblessness', 'inflation', 'deflation', 'price', 'prices', 'cost', 'costs', 'bill', 'bills',
  'rent', 'rents', 'fares', 'premiums', 'taxes', 'tax', 'tariffs', 'deaths', 'death', 'toll', 'fatalities', 'casualties',
  'killings', 'homicides', 'murders', 'crime', 'crimes', 'thefts', 'shootings', 'violence', 'attacks', 'cases', 'infections',
  'hospitalizations', 'hospitalisations', 'overdoses', 'suicides', 'suicide', 'accidents', 'injuries', 'losses', 'loss',
  'debt', 'debts', 'deficit', 'deficits', 'borrowing', 'defaults', 'default', 'delinquencies', 'bankruptcies', 'layoffs',
  'emissions', 'pollution', 'poverty', 'homelessness', 'hunger', 'insecurity', 'obesity', 'smoking', 'waiting', 'wait',
  'delays', 'backlog', 'backlogs', 'complaints', 'shortages', 'shortage', 'risk', 'risks', 'fears', 'worries',
  'concerns', 'tensions', 'uncertainty', 'volatility', 'claims', 'outages', 'deforestation', 'flu', 'covid', 'measles',
  'cholera', 'malaria', 'mortgage', 'arrests', 'evictions', 'foreclosures',
  'closures', 'strikes', 'disease', 'diseases', 'mortality', 'waste', 'fraud', 'scams', 'errors',
]);

/** Before "prices": owners' and investors' prices, where more is better. */
const ASSET_PRICES = new Set(['home', 'house', 'housing', 'property', 'stock', 'share', 'asset']);

/** Quantities where more is better: a fall is bad news. */
const BETTER_WHEN_UP = new Set([
  'share', 'shares', 'stock', 'stocks', 'equities', 'markets', 'market', 'index', 'indexes', 'dow', 'nasdaq', 'ftse', 'dax',
  'nikkei', 'profit', 'profits', 'earnings', 'revenue', 'revenues', 'sales', 'income', 'wages', 'wage', 'pay', 'salaries',
  'exports', 'output', 'production', 'gdp', 'growth', 'economy', 'employment', 'jobs', 'hiring', 'payrolls', 'demand',
  'orders', 'confidence', 'sentiment', 'spending', 'investment', 'productivity', 'margins', 'dividend', 'dividends',
  'valuation', 'subscribers', 'users', 'customers', 'visitors', 'tourism', 'tourists', 'bookings', 'population',
  'savings', 'reserves', 'surplus', 'survival', 'enrollment', 'attendance', 'bitcoin', 'currency', 'yen', 'pound',
  'euro', 'dollar', 'rupee', 'yuan', 'peso', 'gold', 'funding', 'outlook', 'forecast', 'guidance', 'ratings', 'approval',
  'deliveries', 'shipments', 'capacity', 'supply', 'funds', 'routes', 'occupancy',
]);

/** Words that start a new clause: context rules and entity targeting stay within a clause. */
const CLAUSE_WORDS = new Set(['as', 'while', 'whereas', 'but', 'after', 'amid', 'although', 'though', 'yet', 'despite', 'since', 'because']);

/** Shifters: a negative word right after them (within the clause) turns positive. */
const SHIFTERS = new Set([
  'avoid', 'avoids', 'avoided', 'avoiding', 'avert', 'averts', 'averted', 'averting', 'prevent', 'prevents', 'prevented',
  'reduce', 'reduces', 'reduced', 'reducing', 'ease', 'eases', 'eased', 'easing', 'end', 'ends', 'ended', 'ending',
  'resolve', 'resolves', 'resolved', 'resolving', 'settle', 'settles', 'settled', 'dismiss', 'dismisses', 'dismissed',
  'curb', 'curbs', 'curbed', 'tackle', 'tackles', 'tackled', 'fix', 'fixes', 'fixed', 'overcome', 'overcomes',
  'escape', 'escapes', 'escaped', 'dodge', 'dodges', 'dodged', 'survive', 'survives', 'survived', 'lift', 'lifts',
  'lifted', 'remove', 'removes', 'removed', 'clear', 'clears', 'cleared', 'cut', 'cuts', 'slash', 'slashes', 'slashed',
  'halt', 'halts', 'halted', 'stop', 'stops', 'stopped', 'beat', 'beats', 'emerge', 'emerges', 'emerged', 'recover',
  'recovers', 'recovered', 'cure', 'cures', 'cured', 'treat', 'treats', 'defuse', 'defuses', 'defused', 'relieve',
  'relieves', 'relieved', 'combat', 'combats', 'counter', 'counters', 'lower', 'lowers', 'lowered', 'trim', 'trims',
]);
export const SHIFT_WINDOW = 3;
/** A shifted negative keeps this share of its size, positive (tuned on the dev set). */
export const SHIFT_SCALE = 0.8;

/** Words before "fine" that make it the penalty. */
const FINE_PENALTY_BEFORE = new Set([
  'a', 'the', 'record', 'hefty', 'huge', 'big', 'massive', 'heavy', 'steep', 'maximum', 'any', 'no', 'antitrust',
  'regulatory', 'eu', 'pay', 'pays', 'paid', 'paying', 'face', 'faces', 'faced', 'facing', 'impose', 'imposes',
  'imposed', 'issue', 'issues', 'issued', 'levy', 'levies', 'levied', 'slap', 'slaps', 'slapped', 'get', 'gets', 'got',
  'receive', 'receives', 'received', 'appeal', 'appeals', 'overturn', 'overturns', 'overturned', 'million', 'billion',
  'm', 'bn', 'mln', 'trillion', 'parking', 'speeding', 'privacy', 'competition', 'cut', 'cuts', 'reduced',
]);
const FINE_PENALTY_AFTER = new Set(['of', 'over', 'against', 'on', 'imposed', 'levied']);
const FINE_NEUTRAL_AFTER = new Set(['art', 'arts', 'dining', 'print', 'wine', 'wines', 'china', 'line', 'tune', 'tunes', 'tuned', 'tuning', 'grained', 'particles', 'jewelry', 'jewellery']);
const FINE_PENALTY = -1.3;
const FINE_PENALTY_SINGLE = new Map([['fined', -1.9], ['fines', -1.3]]);

/** @1's overlay, minus movement words and "fine" (resolved in context here). */
function buildLexicon(): Map<string, number> {
  const lexicon = new Map(VADER33_LEXICON);
  for (const [term, valence] of NEWS_LEXICON) {
    if (MOVES.has(term) || term === 'fine') continue;
    if (valence === 0) lexicon.delete(term);
    else lexicon.set(term, valence);
  }
  for (const [term, valence] of FINE_PENALTY_SINGLE) lexicon.set(term, valence);
  // Words news uses neutrally ("energy prices"), like @1's zero entries.
  for (const term of ['energy']) lexicon.delete(term);
  // Win and loss verbs between two parties (the object's sign is flipped by ./targets.ts).
  for (const term of ['overtakes', 'overtook', 'outsells', 'outsold', 'outpaces', 'outpaced', 'tops', 'topped', 'defeats', 'defeated', 'surpasses', 'surpassed', 'eclipses', 'eclipsed', 'dethrones', 'leapfrogs', 'thrashes', 'trounces', 'crushes']) lexicon.set(term, 1.5);
  for (const term of ['falls behind', 'fell behind', 'lags', 'lagged', 'trails', 'trailed', 'loses to', 'lost to']) lexicon.set(term, -1.5);
  for (const term of ['gains on', 'gained on']) lexicon.set(term, 1.5);
  // News verbs VADER does not rate.
  for (const term of ['stumble', 'stumbles', 'stumbled', 'struggle', 'struggles', 'struggled', 'struggling']) lexicon.set(term, -1.3);
  for (const term of ['collapses', 'collapsed', 'collapsing']) lexicon.set(term, -2.2);
  for (const term of ['writes down', 'wrote down', 'write-down', 'writedown', 'writedowns']) lexicon.set(term, -1.5);
  for (const term of ['thrive', 'thrives', 'thrived', 'thriving']) lexicon.set(term, 1.9);
  for (const term of ['hires', 'rehires', 'hired']) lexicon.set(term, 1.0);
  // Movement words are valued in context only.
  for (const term of MOVES.keys()) lexicon.delete(term);
  return lexicon;
}

export const NEWS_V2_LEXICON: ReadonlyMap<string, number> = buildLexicon();

/** Terms of more than one word, by first word (lower-case). */
const PHRASES: ReadonlyMap<string, string[][]> = (() => {
  const byFirst = new Map<string, string[][]>();
  for (const term of [...NEWS_V2_LEXICON.keys(), ...MOVES.keys()]) {
    if (!term.includes(' ')) continue;
    const words = term.split(' ');
    const list = byFirst.get(words[0]!) ?? [];
    list.push(words);
    byFirst.set(words[0]!, list);
  }
  for (const list of byFirst.values()) list.sort((a, b) => b.length - a.length);
  return byFirst;
})();

/** What the analysis needs to know about a (lower-case) word, found with one map lookup per token. */
interface WordInfo {
  /** Lexicon valence; NaN when not a lexicon word. */
  readonly valence: number;
  readonly move: Move | undefined;
  /** Multi-word terms starting with this word, longest first. */
  readonly phrases: string[][] | undefined;
  readonly shifter: boolean;
  readonly clauseWord: boolean;
}

/**
 * NEWS_V2_LEXICON, MOVES, PHRASES, SHIFTERS and CLAUSE_WORDS precompiled into one map: the
 * analysis looked each token up in five tables.
 */
const WORDS: ReadonlyMap<string, WordInfo> = (() => {
  // "fine" too: contextRules skips tokens without an entry.
  const keys = new Set([...NEWS_V2_LEXICON.keys(), ...MOVES.keys(), ...PHRASES.keys(), ...SHIFTERS, ...CLAUSE_WORDS, 'fine']);
  return new Map(
    [...keys].map((w) => [
      w,
      {
        valence: NEWS_V2_LEXICON.get(w) ?? Number.NaN,
        move: MOVES.get(w),
        phrases: PHRASES.get(w),
        shifter: SHIFTERS.has(w),
        clauseWord: CLAUSE_WORDS.has(w),
      },
    ]),
  );
})();

/** Verbs of one party winning (1) or losing (-1) against another; ./targets.ts gives the object the opposite sign. */
export const VERSUS_VERBS: ReadonlyMap<string, Direction> = new Map([
  ...['beats', 'beat', 'defeats', 'defeated', 'overtakes', 'overtook', 'outsells', 'outsold', 'outpaces', 'outpaced',
    'tops', 'topped', 'surpasses', 'surpassed', 'eclipses', 'eclipsed', 'dethrones', 'leapfrogs', 'thrashes', 'thrashed',
    'trounces', 'trounced', 'crushes', 'crush', 'crushed', 'routs', 'routed', 'gains on', 'gained on', 'edges', 'edged']
    .map((w) => [w, 1] as const),
  ...['falls behind', 'fell behind', 'lags', 'lagged', 'trails', 'trailed', 'loses to', 'lost to']
    .map((w) => [w, -1] as const),
]);
export const VERSUS_VALENCE = 1.5;

/** The analysed text: tokens after phrase joining, their context-adjusted valences and clauses. */
export interface NewsAnalysis {
  /** The text the offsets refer to (normalised; case unchanged). */
  text: string;
  /** Each token as written (after phrase joining; a joined token keeps its last word's trailing punctuation). */
  raws: string[];
  /** Start and end offset of each token in `text`, or null when they could not be tracked. */
  starts: number[] | null;
  ends: number[] | null;
  lowers: string[];
  upper: boolean[];
  valences: number[];
  /** Clause number of each token (increments at clause punctuation and clause words). */
  clause: number[];
  /** Sentence number of each token. */
  sentence: number[];
}

function endsClause(raw: string): boolean {
  const last = raw.charCodeAt(raw.length - 1);
  return last === 44 || last === 59 || last === 58 || last === 46 || last === 33 || last === 63; // , ; : . ! ?
}

function endsSentence(raw: string): boolean {
  const last = raw.charCodeAt(raw.length - 1);
  return last === 46 || last === 33 || last === 63 || last === 59; // . ! ? ;
}

/** lookUp's lower-casing (./vader33.ts): plain lower-case ASCII words are used as they are. */
function isPlain(word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return false;
  }
  return true;
}

/** Tokens of the analysis under construction, one array per field (no object per token). */
interface TokenArrays {
  raws: string[];
  words: string[];
  lowers: string[];
  upper: boolean[];
  starts: number[];
  ends: number[];
  /** WORDS entry of each lower-cased token (undefined: a word no table knows). */
  infos: Array<WordInfo | undefined>;
}

/**
 * tokenize33 (./vader33.ts) and lookUp's lower-casing in one pass, recording each token's offsets
 * (the same as searching each raw token from the previous end: tokens are split on whitespace).
 */
function tokenizeNews(text: string): TokenArrays {
  const t: TokenArrays = { raws: [], words: [], lowers: [], upper: [], starts: [], ends: [], infos: [] };
  const len = text.length;
  let i = 0;
  while (i < len) {
    if (isPySpace(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    // isPlain of the word, found during the scan: edge punctuation is neither A-Z nor non-ASCII.
    let plain = true;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c === 32 || isPySpace(c)) break;
      if ((c >= 65 && c <= 90) || c > 127) plain = false;
    }
    let a = start;
    let b = i;
    while (a < b && isAsciiPunct(text.charCodeAt(a))) a++;
    while (b > a && isAsciiPunct(text.charCodeAt(b - 1))) b--;
    const raw = text.slice(start, i);
    const word = (a === start && b === i) || codePoints(text, a, b) <= 2 ? raw : text.slice(a, b);
    const lower = plain ? word : word.toLowerCase();
    t.raws.push(raw);
    t.words.push(word);
    t.lowers.push(lower);
    t.upper.push(plain ? false : isUpper(word));
    t.starts.push(start);
    t.ends.push(i);
    t.infos.push(WORDS.get(lower));
  }
  return t;
}

/** Joins multi-word terms into one token (VADER then sees one word, as @1's stand-ins did). */
function joinPhrases(t: TokenArrays): void {
  const { raws, words, lowers, upper, starts, ends, infos } = t;
  for (let i = 0; i < lowers.length; i++) {
    const candidates = infos[i]?.phrases;
    if (candidates === undefined) continue;
    for (const phrase of candidates) {
      const m = phrase.length;
      if (i + m > lowers.length) continue;
      let ok = true;
      // Only the last word may carry trailing punctuation; inner words must be bare.
      for (let k = 0; k < m && ok; k++) ok = lowers[i + k] === phrase[k] && (k === m - 1 || raws[i + k] === words[i + k]);
      if (!ok) continue;
      const lastRaw = raws[i + m - 1]!;
      const lastWord = words[i + m - 1]!;
      const word = words.slice(i, i + m).join(' ');
      const plain = isPlain(word);
      const lower = plain ? word : word.toLowerCase();
      infos.splice(i, m, WORDS.get(lower));
      raws.splice(i, m, `${word}${lastRaw.slice(lastRaw.lastIndexOf(lastWord) + lastWord.length)}`);
      words.splice(i, m, word);
      lowers.splice(i, m, lower);
      upper.splice(i, m, plain ? false : isUpper(word));
      starts.splice(i, m, starts[i]!);
      ends.splice(i, m, ends[i + m - 1]!);
      break;
    }
  }
}

/** The quantity token a movement at i refers to, and whether more of it is worse; null when none. */
function quantityOf(a: NewsAnalysis, i: number, move: Move): { index: number; worseUp: boolean } | null {
  const { lowers, clause, sentence } = a;
  const scope = move.level ? sentence : clause;
  const at = (j: number): { index: number; worseUp: boolean } | null => {
    const w = lowers[j]!;
    if ((w === 'prices' || w === 'price') && j > 0 && ASSET_PRICES.has(lowers[j - 1]!)) return { index: j, worseUp: false };
    if (WORSE_WHEN_UP.has(w)) return { index: j, worseUp: true };
    if (BETTER_WHEN_UP.has(w)) return { index: j, worseUp: false };
    return null;
  };
  const after = (): { index: number; worseUp: boolean } | null => {
    for (let j = i + 1; j < lowers.length && j <= i + 3 && clause[j] === clause[i]; j++) {
      const q = at(j);
      if (q !== null) return q;
    }
    return null;
  };
  // "record revenue", "record losses": an adjective first looks at what follows.
  const first = move.attributive ? after() : null;
  if (first !== null) return first;
  for (let j = i - 1; j >= 0 && scope[j] === scope[i]; j--) {
    const q = at(j);
    if (q !== null) return q;
  }
  return move.attributive ? null : after();
}

function contextRules(a: NewsAnalysis, infos: ReadonlyArray<WordInfo | undefined>): void {
  const { lowers, valences, clause } = a;
  const n = lowers.length;
  let quantityDropped: number[] | null = null;
  for (let i = 0; i < n; i++) {
    const info = infos[i];
    if (info === undefined) continue;
    const w = lowers[i]!;
    const move = info.move;
    if (move !== undefined) {
      // A shifter used as a verb on a negative word ("cuts debt" resolves as a movement below; "eases burden" shifts).
      const q = quantityOf(a, i, move);
      if (q !== null) {
        valences[i] = move.direction * move.strength * (q.worseUp ? -1 : 1);
        if (quantityDropped === null) quantityDropped = [];
        quantityDropped.push(q.index);
      } else if (!info.shifter || !shiftNext(a, i)) {
        valences[i] = move.transitive ? Number.NaN : move.direction * move.strength * (move.strong ? 1 : UNRESOLVED_WEIGHT);
      }
      continue;
    }
    if (info.shifter) {
      shiftNext(a, i);
      continue;
    }
    if (w === 'fine') {
      const before = i > 0 && clause[i - 1] === clause[i] ? lowers[i - 1]! : '';
      const after = i + 1 < n && clause[i + 1] === clause[i] ? lowers[i + 1]! : '';
      if (FINE_NEUTRAL_AFTER.has(after)) valences[i] = Number.NaN;
      else if (FINE_PENALTY_BEFORE.has(before) || FINE_PENALTY_AFTER.has(after) || /^\$?[\d.,]+[mbk]?n?$/.test(before)) valences[i] = FINE_PENALTY;
    }
  }
  if (quantityDropped !== null) for (const q of quantityDropped) if (!MOVES.has(lowers[q]!)) valences[q] = Number.NaN;
}

/** Flips the first negative word within SHIFT_WINDOW after the shifter at i; true when one was flipped. */
function shiftNext(a: NewsAnalysis, i: number): boolean {
  const { lowers, valences, clause } = a;
  for (let j = i + 1; j < lowers.length && j <= i + SHIFT_WINDOW && clause[j] === clause[i]; j++) {
    const v = valences[j]!;
    if (v === v && v < 0 && !MOVES.has(lowers[j]!)) {
      valences[j] = -v * SHIFT_SCALE;
      valences[i] = Number.NaN;
      return true;
    }
  }
  return false;
}

/**
 * The last analysis, by normalised text: ingest scores a text and then its entity targets
 * (./targets.ts), which analyses the same text again. An analysis is never modified after
 * analyzeNews returns it (targets copies valences before changing them), so sharing it is safe.
 */
let lastAnalysis: NewsAnalysis | null = null;

/** Analyses a text for vader-news@2: normalised, case-fixed, tokenised, phrases joined, context applied. */
export function analyzeNews(input: string): NewsAnalysis {
  const text = normalizeText(input);
  if (lastAnalysis !== null && lastAnalysis.text === text) return lastAnalysis;
  const cased = normalizeCase(text);
  const tracked = cased.length === text.length;
  const tokens = tokenizeNews(cased);
  joinPhrases(tokens);
  const { raws, lowers, upper, starts, ends, infos } = tokens;
  const n = raws.length;
  // Plain arrays: three typed arrays per headline cost more to allocate than they save.
  const valences: number[] = new Array<number>(n);
  const clause: number[] = new Array<number>(n);
  const sentence: number[] = new Array<number>(n);
  let c = 0;
  let s = 0;
  for (let k = 0; k < n; k++) {
    const info = infos[k];
    valences[k] = info === undefined ? Number.NaN : info.valence;
    if (k > 0 && info !== undefined && info.clauseWord) c++;
    clause[k] = c;
    sentence[k] = s;
    const raw = raws[k]!;
    if (endsClause(raw)) c++;
    if (endsSentence(raw)) s++;
  }
  const analysis: NewsAnalysis = {
    text,
    raws,
    starts: tracked ? starts : null,
    ends: tracked ? ends : null,
    lowers,
    upper,
    valences,
    clause,
    sentence,
  };
  contextRules(analysis, infos);
  lastAnalysis = analysis;
  return analysis;
}

/** VADER 3.3's compound over tokens [from, to) of an analysis (the "!"/"?" emphasis counts that span only). */
export function scoreSpan(a: NewsAnalysis, from = 0, to = a.raws.length, valences: ArrayLike<number> = a.valences): number {
  let exclamations = 0;
  let questions = 0;
  for (let k = from; k < to; k++) {
    const raw = a.raws[k]!;
    for (let i = 0; i < raw.length; i++) {
      const ch = raw.charCodeAt(i);
      if (ch === 33) exclamations++;
      else if (ch === 63) questions++;
    }
  }
  if (from === 0 && to === a.raws.length) {
    return scoreTokens33(a.lowers, a.upper, valences, exclamations, questions);
  }
  const slice = Array.prototype.slice.call(valences, from, to) as number[];
  return scoreTokens33(a.lowers.slice(from, to), a.upper.slice(from, to), slice, exclamations, questions);
}

/** The vader-news@2 scorer. */
export function createNewsScorerV2(): SentimentScorer {
  return {
    id: NEWS_V2_ID,
    score(text: string): number {
      if (typeof text !== 'string' || text === '') return 0;
      const value = scoreSpan(analyzeNews(text.length > MAX_SCORED_CHARS * 2 ? text.slice(0, MAX_SCORED_CHARS * 2) : text));
      return Number.isFinite(value) ? Math.min(1, Math.max(-1, value)) : 0;
    },
  };
}
