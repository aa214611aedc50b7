import type { ParsedItem } from '../sources/types.ts';
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
export function prepareArticles(items: readonly ParsedItem[], scorer: SentimentScorer, matcher: { match(text: string): number[] }): Preparation {
  const seenIds = new Set<string>();
  const seenKeys = new Set<string>();
  const articles: PreparedArticle[] = [];
  for (const item of items) {
    const key = item.url ? urlKey(item.url) : null;
    if (seenIds.has(item.externalId) || (key !== null && seenKeys.has(key))) continue;
    seenIds.add(item.externalId);
    if (key !== null) seenKeys.add(key);
    const text = item.summary ? `${item.title}\n${item.summary}` : item.title;
    articles.push({
      externalId: item.externalId,
      url: item.url,
      urlKey: key,
      title: item.title,
      summary: item.summary,
      author: item.author,
      language: item.language,
      publishedAt: item.publishedAt,
      sentiment: scorer.score(text),
      entityIds: matcher.match(text),
    });
  }
  return { articles, repeated: items.length - articles.length };
}
