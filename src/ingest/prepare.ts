import type { ParsedItem } from '../sources/types.ts';
import type { Mentions } from './match.ts';
import type { SentimentScorer } from './sentiment.ts';
import { urlKey } from './url-key.ts';

/** An article ready to store: normalised, scored and matched. */
export interface PreparedArticle {
  externalId: string;
  url: string | null;
  urlKey: string | null;
  title: string;
  summary: string | null;
  author: string | null;
  language: string | null;
  publishedAt: Date;
  sentiment: number;
  entityIds: number[];
  /**
   * Per-entity sentiment for the links (entity-targeted when the scorer supports it, see
   * ./targets.ts); an entity missing here is linked with the article's score.
   */
  entitySentiment: ReadonlyMap<number, number>;
}

/** What preparation needs from the entity matcher. */
export interface ArticleMatcher {
  match(text: string): number[];
  mentions(text: string): Mentions<number>;
}

/**
 * The text an article is scored and matched on: title and summary as two sentences (a title
 * without final punctuation gets a period, so clause-level scoring does not run the two together).
 * Rescoring rebuilds the same text from the stored title and summary.
 */
export function articleText(title: string, summary: string | null): string {
  if (!summary) return title;
  return /[.!?;:]\s*$/.test(title) ? `${title}\n${summary}` : `${title}.\n${summary}`;
}

/** The article's score and its entities with their scores. */
export function scoreArticle(text: string, scorer: SentimentScorer, matcher: ArticleMatcher): { sentiment: number; entityIds: number[]; entitySentiment: ReadonlyMap<number, number> } {
  const sentiment = scorer.score(text);
  if (scorer.scoreTargets === undefined) {
    const entityIds = matcher.match(text);
    return { sentiment, entityIds, entitySentiment: new Map(entityIds.map((id) => [id, sentiment])) };
  }
  const mentions = matcher.mentions(text);
  return { sentiment, entityIds: mentions.entities.map((e) => e.id), entitySentiment: scorer.scoreTargets(mentions, sentiment) };
}

export interface Preparation {
  articles: PreparedArticle[];
  /** Items repeated within this one document (same external id or same URL). */
  repeated: number;
}

/** An item with its deduplication keys, known right after parsing and before any scoring. */
export interface KeyedItem {
  item: ParsedItem;
  externalId: string;
  urlKey: string | null;
  publishedAt: Date;
}

/**
 * The document's items with their dedup keys. Within one document the first occurrence of an
 * external id or URL wins, so one insert never conflicts with itself.
 */
export function keyItems(items: readonly ParsedItem[]): { items: KeyedItem[]; repeated: number } {
  const seenIds = new Set<string>();
  const seenKeys = new Set<string>();
  const keyed: KeyedItem[] = [];
  for (const item of items) {
    const key = item.url ? urlKey(item.url) : null;
    if (seenIds.has(item.externalId) || (key !== null && seenKeys.has(key))) continue;
    seenIds.add(item.externalId);
    if (key !== null) seenKeys.add(key);
    keyed.push({ item, externalId: item.externalId, urlKey: key, publishedAt: item.publishedAt });
  }
  return { items: keyed, repeated: items.length - keyed.length };
}

/** Scores and matches title + summary of each keyed item. */
export function prepareKeyed(items: readonly KeyedItem[], scorer: SentimentScorer, matcher: ArticleMatcher): PreparedArticle[] {
  return items.map(({ item, urlKey: key }) => ({
    externalId: item.externalId,
    url: item.url,
    urlKey: key,
    title: item.title,
    summary: item.summary,
    author: item.author,
    language: item.language,
    publishedAt: item.publishedAt,
    ...scoreArticle(articleText(item.title, item.summary), scorer, matcher),
  }));
}

/** Keys, then scores and matches, every item of a document (first occurrence wins, see keyItems). */
export function prepareArticles(items: readonly ParsedItem[], scorer: SentimentScorer, matcher: ArticleMatcher): Preparation {
  const keyed = keyItems(items);
  return { articles: prepareKeyed(keyed.items, scorer, matcher), repeated: keyed.repeated };
}
