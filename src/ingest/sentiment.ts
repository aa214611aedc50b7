/**
 * Headline sentiment: VADER (vader-sentiment, the JS port) adapted to news text.
 *
 * What vader-sentiment gets wrong for headlines (./vader.ts replicates it exactly), and what
 * this module does about it:
 * - Its negation, "but" and idiom checks compare words case-sensitively, so Title Case
 *   headlines lose negation ("Tesla Is Not Good For Investors" scores +0.44). We lower-case
 *   every word that is not ALL CAPS (case carries no sentiment in VADER except ALL-CAPS
 *   emphasis), and lower-case ALL-CAPS function words (NOT, BUT, NEVER, ...) too.
 * - ALL-CAPS emphasis: VADER boosts an all-caps sentiment word when only some words are in
 *   caps. Its "is upper" test treats "20%" or "Q3" as not upper, so a shouted headline with a
 *   number ("SHARES PLUNGE 20%") gets emphasis on every word. A text that is mostly upper-case
 *   (>= 60% of its lettered words) is a headline style, not emphasis: it is lower-cased whole.
 * - Its lexicon misses news vocabulary ("plunge", "recall", "layoffs" are unknown; "shares",
 *   "interest", "united", "amazon" are positive). NEWS_LEXICON is a small overlay on VADER's
 *   -4..4 scale.
 *
 * The overlay rewrites each overlay term in the text to a stand-in word that VADER's own
 * lexicon rates at exactly the same valence (PROXY_WORDS; a test checks every stand-in against
 * the installed library). VADER's rules (negation within three words, boosters, caps emphasis,
 * "but", punctuation) then apply to overlay terms exactly as to its own words. Zero-valence
 * overrides become a word VADER does not know.
 *
 * Scoring runs on ./vader.ts, a bit-for-bit port of the library's compound score (~30x faster;
 * the library was the ingest bottleneck). The port owns its lexicon, so single-word overlay
 * terms could be lexicon entries instead, but a multi-word term ("record high", "laid off")
 * rewritten to one stand-in is one token to VADER, which shifts its three-word windows and
 * "but" split; lexicon entries cannot reproduce that, so the rewrite stays and scores stay
 * identical to vader-news@1 as scored by the library (test/ingest/vader.test.ts checks both).
 * createVaderScorer() stays on the library itself: it is the baseline for the eval and bench.
 */
import { SentimentIntensityAnalyzer } from 'vader-sentiment';
import { vaderCompound } from './vader.ts';

/** Scores a text's sentiment. Implementations never throw and always return a finite number in [-1, 1]. */
export interface SentimentScorer {
  /** Identifies the scorer and its version, stored beside scores so they can be recomputed when it changes. */
  readonly id: string;
  /** Sentiment in [-1, 1]; 0 for empty or sentiment-free text. */
  score(text: string): number;
}

export type SentimentClass = 'positive' | 'neutral' | 'negative';

/** Texts are scored on at most this many characters (a headline plus a summary fits easily). */
export const MAX_SCORED_CHARS = 4_000;

/** VADER's convention (DESIGN.md): positive > 0.05, negative < -0.05, otherwise neutral. */
export function sentimentClass(score: number): SentimentClass {
  if (score > 0.05) return 'positive';
  if (score < -0.05) return 'negative';
  return 'neutral';
}

/**
 * News and finance overlay, valences on VADER's -4..4 scale (VADER's own anchors: "loss" -1.3,
 * "crash" -1.7, "collapse" -2.2, "fraud" -2.8, "killed" -3.5; "profit" 1.9, "gain" 2.4).
 * Multi-word terms match as phrases. A 0 removes a word VADER rates but news uses neutrally
 * (names and institutions: "United Nations", "Amazon", "interest rates", "health care").
 * Deliberately absent because their sign depends on the subject: rise/fall/cut/raise/higher/
 * lower ("inflation falls" is good news, "shares fall" bad), beat (sports vs police), deal.
 */
const OVERLAY_GROUPS: ReadonlyArray<readonly [valence: number, terms: readonly string[]]> = [
  // Market and price moves.
  [-2.5, ['plummet', 'plummets', 'plummeted', 'plummeting']],
  [-2.4, ['plunge', 'plunges', 'plunged', 'plunging']],
  [-2.2, ['rout', 'routs']],
  [-2.0, ['tumble', 'tumbles', 'tumbled', 'tumbling', 'slump', 'slumps', 'slumped', 'slumping']],
  [-2.0, ['record low', 'record lows', 'all-time low', 'all-time lows']],
  [-1.8, ['sell-off', 'selloff', 'sell-offs', 'selloffs', 'tanked', 'tanking', 'new low', 'new lows']],
  [-1.7, ['crashes', 'crashed', 'crashing']],
  [-1.6, ['sink', 'sinks', 'sank', 'sinking']],
  [-1.5, ['bearish', 'underperform', 'underperforms', 'underperformed', 'slowdown']],
  [-1.4, ['slide', 'slides', 'slid', 'sliding']],
  [-1.3, ['shrinks', 'shrank', 'shrinking', 'contraction', 'contracts']],
  [-1.1, ['decline', 'declines', 'declined', 'declining', 'drops', 'dropped', 'dropping']],
  [-0.9, ['slip', 'slips', 'slipped', 'slipping']],
  [1.1, ['climb', 'climbs', 'climbed', 'climbing']],
  [1.4, ['jump', 'jumps', 'jumped', 'jumping', 'boom', 'booming']],
  [1.5, ['bullish', 'outperform', 'outperforms', 'outperformed']],
  [1.6, ['rebound', 'rebounds', 'rebounded', 'rebounding', 'recovery', 'recovers', 'recovered', 'recovering']],
  [1.8, ['new high', 'new highs', 'upbeat']],
  [1.9, ['surge', 'surges', 'surged', 'surging', 'rally', 'rallies', 'rallied', 'rallying']],
  [2.2, ['record high', 'record highs', 'all-time high', 'all-time highs']],
  [2.3, ['soar', 'soars', 'soared', 'soaring']],
  [2.4, ['record profit', 'record profits']],
  // Analysts and results.
  [-2.2, ['profit warning', 'profit warnings']],
  [-1.6, ['downgrade', 'downgrades', 'downgraded']],
  [-1.9, ['misses']],
  [-1.6, ['missed']],
  [1.6, ['upgrade', 'upgrades', 'upgraded']],
  [1.7, ['beats']],
  [2.0, ['breakthrough', 'breakthroughs']],
  // Companies in trouble.
  [-2.6, ['bankrupt', 'bankruptcy', 'bankruptcies']],
  [-2.4, ['insolvency', 'insolvent']],
  [-2.1, ['layoff', 'layoffs', 'job cuts', 'lays off', 'laid off']],
  [-1.9, ['fined']],
  [-1.6, ['recall', 'recalls', 'recalled', 'lawsuit', 'lawsuits', 'outage', 'outages']],
  [-1.5, ['sue', 'sues', 'sued', 'suing']],
  [-1.4, ['probe', 'probes', 'probed']],
  [-1.3, ['fines', 'halts', 'halted', 'delays']],
  [-1.1, ['warns']],
  [-1.0, ['fine', 'warn', 'resigns']],
  [-0.8, ['investigation', 'investigations']],
  // Crime, security, disasters.
  [-2.3, ['indicted', 'shooting', 'gunman', 'cyberattack', 'cyberattacks']],
  [-2.2, ['wildfire', 'wildfires', 'hurricane', 'typhoon', 'cyclone', 'tornado']],
  [-2.1, ['ransomware']],
  [-2.0, ['convicted', 'earthquake', 'quake', 'derailment', 'explodes', 'explosion']],
  [-2.6, ['deadly']],
  [-1.9, ['outbreak', 'pandemic']],
  [-1.8, ['hack', 'hacked', 'floods', 'flooding']],
  [-1.7, ['breach', 'breaches', 'drought', 'sentenced']],
  [-1.6, ['hackers', 'ousted']],
  // Words VADER rates that news uses as names or neutral terms.
  [0, ['share', 'shares', 'interest', 'super', 'united', 'justice', 'security', 'care']],
  [0, ['intelligence', 'like', 'credit', 'top', 'party', 'gross', 'grand', 'crude', 'defense', 'amazon']],
];

/** The overlay as a read-only map from term (lower-case, single-spaced) to valence. */
export const NEWS_LEXICON: ReadonlyMap<string, number> = new Map(
  OVERLAY_GROUPS.flatMap(([valence, terms]) => terms.map((term) => [term, valence] as const)),
);

/**
 * Stand-ins: for each overlay valence, a word VADER's lexicon rates at exactly that value and
 * that plays no other role in VADER (not a booster, negation or idiom word).
 */
export const PROXY_WORDS: ReadonlyMap<number, string> = new Map([
  [-2.6, 'abuser'],
  [-2.5, 'felonies'],
  [-2.4, 'brutalized'],
  [-2.3, 'crueler'],
  [-2.2, 'damage'],
  [-2.1, 'dangerous'],
  [-2.0, 'depriving'],
  [-1.9, 'sadness'],
  [-1.8, 'angrily'],
  [-1.7, 'abandonments'],
  [-1.6, 'arguer'],
  [-1.5, 'argued'],
  [-1.4, 'aggressed'],
  [-1.3, 'awkwardly'],
  [-1.1, 'dully'],
  [-1.0, 'distractions'],
  [-0.9, 'confuse'],
  [-0.8, 'mistakable'],
  [1.1, 'accepted'],
  [1.4, 'adventurist'],
  [1.5, 'applauded'],
  [1.6, 'agreeably'],
  [1.7, 'cheerer'],
  [1.8, 'affectioned'],
  [1.9, 'accomplished'],
  [2.0, 'awards'],
  [2.2, 'caring'],
  [2.3, 'beautify'],
  [2.4, 'admirability'],
]);

/** A word VADER does not know: stands in for zero-valence overrides. */
export const NEUTRAL_PROXY = 'zzneutral';

const LETTER = /\p{L}/u;
const LOWER = /\p{Ll}/u;
const UPPER = /\p{Lu}/u;

/** ALL-CAPS words VADER must see lower-case: negations and the words its rules compare literally. */
const FUNCTION_WORDS = new Set([
  'not', 'no', 'never', 'none', 'nothing', 'nowhere', 'neither', 'nor', 'nope', 'without',
  'cannot', 'cant', 'dont', 'doesnt', 'didnt', 'isnt', 'arent', 'wasnt', 'werent', 'wont',
  'wouldnt', 'shouldnt', 'couldnt', 'hasnt', 'havent', 'hadnt', 'aint', 'rarely', 'seldom',
  'despite', 'but', 'least', 'at', 'very', 'so', 'this', 'kind', 'of', 'sort',
]);

function isAllCaps(word: string): boolean {
  return UPPER.test(word) && !LOWER.test(word);
}

/** Bounded, well-formed, NFKC, straight quotes, single spaces. */
export function normalizeText(text: string): string {
  let s = typeof text === 'string' ? text : '';
  if (s.length > MAX_SCORED_CHARS) {
    s = s.slice(0, MAX_SCORED_CHARS);
    const cut = s.lastIndexOf(' ');
    if (cut > MAX_SCORED_CHARS / 2) s = s.slice(0, cut);
  }
  return s
    .toWellFormed()
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u201A\u201B\u2032\u0060\u00B4]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"')
    .replace(/[\p{Cc}\p{Cf}\p{Z}\s]+/gu, ' ')
    .trim();
}

/** Lower-cases what VADER should see lower-case (see the module comment). */
export function normalizeCase(text: string): string {
  const words = text.split(' ');
  let lettered = 0;
  let caps = 0;
  for (const w of words) {
    if (!LETTER.test(w)) continue;
    lettered++;
    if (isAllCaps(w)) caps++;
  }
  if (lettered > 0 && caps / lettered >= 0.6) return text.toLowerCase();
  return words
    .map((w) => {
      if (!isAllCaps(w)) return w.toLowerCase();
      const bare = w.toLowerCase().replace(/[^\p{L}']/gu, '');
      return FUNCTION_WORDS.has(bare) || bare.endsWith("n't") ? w.toLowerCase() : w;
    })
    .join(' ');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const OVERLAY_PATTERN = new RegExp(
  `(?<![\\p{L}\\p{N}_])(?:${[...NEWS_LEXICON.keys()]
    .sort((a, b) => b.length - a.length)
    .map((t) => escapeRegExp(t).replace(/ /g, ' +'))
    .join('|')})(?![\\p{L}\\p{N}_])`,
  'giu',
);

function applyOverlay(text: string): string {
  return text.replace(OVERLAY_PATTERN, (term) => {
    const valence = NEWS_LEXICON.get(term.toLowerCase().replace(/ +/g, ' '));
    if (valence === undefined) return term;
    if (valence === 0) return NEUTRAL_PROXY;
    const proxy = PROXY_WORDS.get(valence);
    if (proxy === undefined) return term;
    // Keep ALL-CAPS emphasis: in mixed-case text only emphasised words are still upper-case here.
    return isAllCaps(term) ? proxy.toUpperCase() : proxy;
  });
}

/** The library's compound behind the scorer contract: finite, clamped, never throws. */
function libraryCompound(text: string): number {
  if (text === '') return 0;
  try {
    const value = SentimentIntensityAnalyzer.polarity_scores(text).compound;
    if (!Number.isFinite(value)) return 0;
    return Math.min(1, Math.max(-1, value));
  } catch {
    return 0;
  }
}

/**
 * The text the news scorer hands to VADER: bounded and normalised, case-fixed, overlay terms
 * rewritten to their stand-ins. Exported so tests can score it with the library itself.
 */
export function newsScoringText(text: string): string {
  return applyOverlay(normalizeCase(normalizeText(text)));
}

/** Plain VADER compound with only the safety rails (bounded input, clamp, never throws): the baseline. */
export function createVaderScorer(): SentimentScorer {
  return {
    id: 'vader@1',
    score: (text) => libraryCompound(normalizeText(text)),
  };
}

/**
 * VADER with case fixes and the news overlay. Bump the id whenever the overlay or rules change
 * (not for the switch to the port: its scores equal the library's).
 */
export function createNewsScorer(): SentimentScorer {
  return {
    id: 'vader-news@1',
    // The port never throws on a string and returns VADER's clamped, rounded compound.
    score: (text) => vaderCompound(newsScoringText(text)),
  };
}
