import { PermanentError, TransientError } from '../errors.ts';
import { decodeText, strictParseStats } from './decode.ts';
import { buildItems, type ItemDraft } from './items.ts';
import { isRecord, stringField, tryParseJson } from './json.ts';
import { absoluteUrl, normalizeText, toPlainText } from './text.ts';
import type { FetchedBody, ParseContext, ParseResult, SourceAdapter, SourceRequest } from './types.ts';

/**
 * GDELT DOC 2.0 API, ArtList mode. GDELT has no article ids, tone or paging: the URL is the id,
 * `seendate` (crawl time) is the published date, and a window holds at most 250 records.
 */

export const GDELT_DEFAULT_BASE = 'https://api.gdeltproject.org/api/v2/doc/doc';
/** The look-back window of each request; overlaps between runs are deduplicated downstream. */
export const GDELT_TIMESPAN = '1h';
export const GDELT_MAX_RECORDS = 250;
/** GDELT allows one request per 5 s per IP; an overload answer is retried no sooner. */
export const GDELT_MIN_RETRY_MS = 5_000;

// What GDELT's plain-text throttling and overload answers say ("Please limit requests to one every 5 seconds…").
const OVERLOAD_TEXT = /limit requests|rate limit|too many requests|try again|temporarily|overloaded|timed? ?out|busy/i;

export function gdeltRequestUrl(source: SourceRequest, _now: Date): string {
  const query = source.query?.trim();
  if (!query) throw new PermanentError('gdelt source needs a query');
  const base = source.url?.trim() || GDELT_DEFAULT_BASE;
  const url = new URL(base);
  url.search = new URLSearchParams({
    query,
    mode: 'ArtList',
    format: 'json',
    maxrecords: String(GDELT_MAX_RECORDS),
    sort: 'DateDesc',
    timespan: GDELT_TIMESPAN,
  }).toString();
  return url.href;
}

export function parseGdelt(fetched: FetchedBody, ctx: ParseContext): ParseResult {
  const where = `parse ${ctx.sourceId}`;
  const decoded = decodeText(fetched.body, fetched.contentType);
  const text = decoded.text.trim();
  if (!text) {
    // GDELT answers "{}" when nothing matches, so an empty body is a server-side hiccup.
    throw new TransientError(`${where}: empty body from ${fetched.url}`, { retryAfterMs: GDELT_MIN_RETRY_MS });
  }
  if (text.startsWith('<') || /^text\/html\b/i.test(fetched.contentType ?? '')) {
    // Invalid queries come back as an HTML page with status 200.
    throw new PermanentError(`${where}: got HTML instead of JSON (GDELT's answer to an invalid query): "${toPlainText(text, 160)}" from ${fetched.url}`);
  }
  if (!text.startsWith('{')) {
    const message = normalizeText(text, 160);
    if (OVERLOAD_TEXT.test(text)) {
      throw new TransientError(`${where}: GDELT is throttling or overloaded: "${message}" from ${fetched.url}`, {
        retryAfterMs: overloadDelayMs(text),
      });
    }
    throw new PermanentError(`${where}: GDELT answered with text instead of JSON: "${message}" from ${fetched.url}`);
  }
  const parsed = tryParseJson(text);
  if (!parsed.ok) throw new PermanentError(`${where}: malformed JSON (${parsed.error.message}) from ${fetched.url}`, { cause: parsed.error });
  if (!isRecord(parsed.value)) throw new PermanentError(`${where}: expected a JSON object from ${fetched.url}`);
  const articles = parsed.value['articles'] ?? [];
  if (!Array.isArray(articles)) throw new PermanentError(`${where}: "articles" is not an array in ${fetched.url}`);

  const drafts = articles.filter(isRecord).map((article): ItemDraft => {
    const url = absoluteUrl(stringField(article, 'url'));
    return {
      id: url, // GDELT has no ids; the article URL is its identity.
      url,
      title: toPlainText(stringField(article, 'title')),
      summary: null,
      author: null,
      language: stringField(article, 'language'),
      published: stringField(article, 'seendate'),
    };
  });
  const built = buildItems(drafts, fetched.fetchedAt);
  return { format: 'gdelt', trends: [], stats: strictParseStats(decoded), ...built, skipped: built.skipped + articles.length - drafts.length };
}

export const gdeltAdapter: SourceAdapter = {
  requestUrl: gdeltRequestUrl,
  parse: parseGdelt,
  accept: 'application/json',
};

/** "one every N seconds" gives the delay; never less than GDELT's documented 5 s. */
function overloadDelayMs(text: string): number {
  const seconds = /every\s+(\d+)\s*seconds?/i.exec(text)?.[1];
  return Math.max(GDELT_MIN_RETRY_MS, seconds === undefined ? 0 : Number(seconds) * 1000);
}
