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

/**
 * Scores and matches title + summary of each item. Within one document the first
 * occurrence of an external id or URL wins, so one insert never conflicts with itself.
 */
export function prepareArticles(items: readonly ParsedItem[], scorer: SentimentScorer, matcher: ArticleMatcher): Preparation {
  const seenIds = new Set<string>();
  const seenKeys = new Set<string>();
  const articles: PreparedArticle[] = [];
  for (const item of items) {
    const key = item.url ? urlKey(item.url) : null;
    if (seenIds.has(item.externalId) || (key !== null && seenKeys.has(key))) continue;
    seenIds.add(item.externalId);
    if (key !== null) seenKeys.add(key);
    const text = articleText(item.title, item.summary);
    const scored = scoreArticle(text, scorer, matcher);
    articles.push({
      externalId: item.externalId,
      url: item.url,
      urlKey: key,
      title: item.title,
      summary: item.summary,
      author: item.author,
      language: item.language,
      publishedAt: item.publishedAt,
      ...scored,
    });
  }
  return { articles, repeated: items.length - articles.length };
}
