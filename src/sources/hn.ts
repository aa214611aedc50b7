import { PermanentError } from '../errors.ts';
import { decodeText, strictParseStats } from './decode.ts';
import { buildItems, SUMMARY_MAX, type ItemDraft } from './items.ts';
import { isRecord, stringField, tryParseJson } from './json.ts';
import { absoluteUrl, normalizeText, toPlainText } from './text.ts';
import type { FetchedBody, ParseContext, ParseResult, SourceAdapter, SourceRequest } from './types.ts';

/** Hacker News stories through the Algolia search API, newest first. */

export const HN_DEFAULT_BASE = 'https://hn.algolia.com';
/** How far back each request looks: stories older than this are not news any more. */
export const HN_WINDOW_MS = 2 * 24 * 60 * 60 * 1000;
export const HN_HITS_PER_PAGE = 100;

export function hnRequestUrl(source: SourceRequest, now: Date): string {
  const query = source.query?.trim();
  if (!query) throw new PermanentError('hn source needs a query');
  const url = new URL('/api/v1/search_by_date', source.url?.trim() || HN_DEFAULT_BASE);
  const since = Math.floor((now.getTime() - HN_WINDOW_MS) / 1000);
  url.search = new URLSearchParams({
    query,
    tags: 'story',
    hitsPerPage: String(HN_HITS_PER_PAGE),
    numericFilters: `created_at_i>${since}`,
  }).toString();
  return url.href;
}

export function parseHn(fetched: FetchedBody, ctx: ParseContext): ParseResult {
  const fail = (what: string, cause?: unknown) =>
    new PermanentError(`parse ${ctx.sourceId}: ${what} from ${fetched.url}`, { cause });
  const decoded = decodeText(fetched.body, fetched.contentType);
  const text = decoded.text.trim();
  if (!text) throw fail('empty body');
  const parsed = tryParseJson(text);
  if (!parsed.ok) throw fail(`malformed JSON (${parsed.error.message})`, parsed.error);
  const hits = isRecord(parsed.value) ? parsed.value['hits'] : undefined;
  if (!Array.isArray(hits)) throw fail('expected an object with a "hits" array');

  const drafts = hits.filter(isRecord).map((hit): ItemDraft => {
    const id = stringField(hit, 'objectID');
    // Ask HN / Show HN text posts have no url: their discussion page is the article.
    const url = absoluteUrl(stringField(hit, 'url')) ?? (id ? `https://news.ycombinator.com/item?id=${encodeURIComponent(id)}` : null);
    const createdAtSeconds = hit['created_at_i'];
    return {
      id,
      url,
      title: normalizeText(stringField(hit, 'title')),
      summary: toPlainText(stringField(hit, 'story_text'), SUMMARY_MAX) || null,
      author: stringField(hit, 'author'),
      language: null,
      published:
        stringField(hit, 'created_at') ??
        (typeof createdAtSeconds === 'number' ? new Date(createdAtSeconds * 1000).toISOString() : null),
    };
  });
  // A hit without objectID cannot be told apart from the next fetch's copy of it.
  const usable = drafts.filter((draft) => draft.id !== null);
  const built = buildItems(usable, fetched.fetchedAt);
  return { format: 'hn', trends: [], stats: strictParseStats(decoded), ...built, skipped: built.skipped + hits.length - usable.length };
}

export const hnAdapter: SourceAdapter = { requestUrl: hnRequestUrl, parse: parseHn, accept: 'application/json' };
