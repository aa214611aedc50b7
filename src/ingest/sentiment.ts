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
import type { Mentions } from './match.ts';
import { vaderCompound } from './vader.ts';
import { MAX_SCORED_CHARS, NEWS_LEXICON, isAllCaps, normalizeCase, normalizeText } from './news-text.ts';
import { NEWS_V2_ID, createNewsScorerV2 } from './news-v2.ts';
import { scoreTargets } from './targets.ts';

export { MAX_SCORED_CHARS, NEWS_LEXICON, normalizeCase, normalizeText };

/** Scores a text's sentiment. Implementations never throw and always return a finite number in [-1, 1]. */
export interface SentimentScorer {
  /** Identifies the scorer and its version, stored beside scores so they can be recomputed when it changes. */
  readonly id: string;
  /** Sentiment in [-1, 1]; 0 for empty or sentiment-free text. */
  score(text: string): number;
  /**
   * Entity-targeted scores for the entities a text mentions (the matcher's result for it), given
   * its article score. Scorers without it link every entity with the article score.
   */
  scoreTargets?(mentions: Mentions<number>, articleScore: number): Map<number, number>;
}

export type SentimentClass = 'positive' | 'neutral' | 'negative';

/** VADER's convention (DESIGN.md): positive > 0.05, negative < -0.05, otherwise neutral. */
export function sentimentClass(score: number): SentimentClass {
  if (score > 0.05) return 'positive';
  if (score < -0.05) return 'negative';
  return 'neutral';
}

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
 * vader-news@1: VADER with case fixes and the news overlay, kept under its id for comparison
 * (the eval and bench). Production scores with createNewsScorer() (vader-news@2, ./news-v2.ts).
 */
export function createNewsScorerV1(): SentimentScorer {
  return {
    id: 'vader-news@1',
    // The port never throws on a string and returns VADER's clamped, rounded compound.
    score: (text) => vaderCompound(newsScoringText(text)),
  };
}

/** The scorer ingest and rescore use: vader-news@2 with entity-targeted link scores. */
export function createNewsScorer(): SentimentScorer {
  return { ...createNewsScorerV2(), scoreTargets };
}

/** Every scorer by id, for evaluation and for telling which scorer produced a stored figure. */
export const SCORERS: ReadonlyMap<string, () => SentimentScorer> = new Map([
  ['vader@1', createVaderScorer],
  ['vader-news@1', createNewsScorerV1],
  [NEWS_V2_ID, createNewsScorer],
]);
