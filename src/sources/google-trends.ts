import { decodeXML } from 'entities';
import { XMLParser } from 'fast-xml-parser';
import { PermanentError } from '../errors.ts';
import { resolvePublished } from './dates.ts';
import { decodeText, strictParseStats } from './decode.ts';
import { buildItems, storableKey, SUMMARY_MAX, type ItemDraft } from './items.ts';
import { isRecord, type JsonRecord } from './json.ts';
import { absoluteUrl, titleText, toPlainText } from './text.ts';
import type { FetchedBody, ParseContext, ParsedTrend, ParseResult, SourceAdapter, SourceRequest } from './types.ts';
import { localName, looksLikeHtml, rootElementName, stripDoctype } from './xml.ts';

/**
 * Google Trends "trending now" RSS. Each <item> is a trend (title, ht:approx_traffic, pubDate) with
 * repeated ht:news_item children (articles about it). feedsmith does not know the ht: namespace,
 * so fast-xml-parser reads it directly, matching elements by local name: the prefix bound to the
 * namespace varies.
 */

export const GOOGLE_TRENDS_DEFAULT_URL = 'https://trends.google.com/trending/rss?geo=US';

const parser = new XMLParser({
  removeNSPrefix: true, // match by local name, whatever the prefix
  processEntities: false, // no entity expansion at all; text entities are decoded below
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'item' || name === 'news_item',
});

export function googleTrendsRequestUrl(source: SourceRequest, _now: Date): string {
  if (!source.url?.trim()) return GOOGLE_TRENDS_DEFAULT_URL;
  const url = absoluteUrl(source.url);
  if (url === null) throw new PermanentError(`google-trends source url is not an http(s) URL: ${JSON.stringify(source.url)}`);
  return url;
}

export function parseGoogleTrends(fetched: FetchedBody, ctx: ParseContext): ParseResult {
  const fail = (what: string, cause?: unknown) =>
    new PermanentError(`parse ${ctx.sourceId}: ${what} from ${fetched.url}`, { cause });
  const decoded = decodeText(fetched.body, fetched.contentType);
  const text = decoded.text.trim();
  if (!text) throw fail('empty body');
  if (looksLikeHtml(text, fetched.contentType)) throw fail('got an HTML page, not the trends RSS');
  const xml = stripDoctype(text);
  const root = rootElementName(xml);
  if (root === null || localName(root).toLowerCase() !== 'rss') {
    throw fail(root === null ? 'body is not XML' : `unexpected root element <${root}>; expected <rss>`);
  }
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (err) {
    throw fail(`malformed XML (${(err as Error).message})`, err);
  }
  const channel = child(child(document, 'rss'), 'channel');
  const entries = isRecord(channel) && Array.isArray(channel['item']) ? channel['item'].filter(isRecord) : [];

  const trends: ParsedTrend[] = [];
  const drafts: ItemDraft[] = [];
  let skipped = 0;
  for (const entry of entries) {
    const title = titleText(textOf(entry, 'title'));
    if (!title) {
      skipped += 1;
      continue;
    }
    const pubDate = textOf(entry, 'pubDate');
    const news = Array.isArray(entry['news_item']) ? entry['news_item'].filter(isRecord) : [];
    const newsDrafts = news.map((item): ItemDraft => {
      const url = absoluteUrl(textOf(item, 'news_item_url'));
      return {
        id: url, // the trends feed has no guids; an article is its URL
        url,
        title: titleText(textOf(item, 'news_item_title')),
        summary: toPlainText(textOf(item, 'news_item_snippet'), SUMMARY_MAX) || null,
        author: toPlainText(textOf(item, 'news_item_source')) || null,
        language: null,
        published: pubDate,
      };
    });
    // A news item without a URL has nothing stable to be identified by.
    const linked = newsDrafts.filter((draft) => draft.url !== null);
    skipped += newsDrafts.length - linked.length;
    drafts.push(...linked);
    trends.push({
      key: trendKey(title),
      title,
      url: linked[0]?.url ?? null,
      rank: trends.length + 1,
      score: parseTraffic(textOf(entry, 'approx_traffic')),
      observedAt: resolvePublished(pubDate, fetched.fetchedAt).date,
    });
  }
  const built = buildItems(drafts, fetched.fetchedAt);
  return { format: 'google-trends', trends, stats: strictParseStats(decoded), ...built, skipped: built.skipped + skipped };
}

export const googleTrendsAdapter: SourceAdapter = {
  requestUrl: googleTrendsRequestUrl,
  parse: parseGoogleTrends,
  accept: 'application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5',
};

const TRAFFIC_MAX_LENGTH = 32;

/** "50K+" -> 50000, "200,000+" -> 200000, "1M+" -> 1000000, "2.5K+" -> 2500; null when absent or unreadable. */
export function parseTraffic(raw: string | null | undefined): number | null {
  const text = raw?.trim() ?? '';
  // Bounded first: "\s*([kmb])?\s*" backtracks quadratically over a long run of spaces.
  if (text.length > TRAFFIC_MAX_LENGTH) return null;
  const m = /^([\d.,]+)\s*([kmb])?\s*\+?$/i.exec(text);
  if (!m) return null;
  const value = Number(m[1]!.replace(/,/g, ''));
  if (!Number.isFinite(value)) return null;
  const multiplier = { k: 1e3, m: 1e6, b: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(value * multiplier);
}

/**
 * The identity of a trend across observations: case- and spacing-insensitive title, hashed when
 * too long for the trend table's unique index (see storableKey).
 */
export function trendKey(title: string): string {
  return storableKey(title.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim());
}

function child(node: unknown, name: string): unknown {
  return isRecord(node) ? node[name] : undefined;
}

/**
 * XML-decoded text of a child element, or null. The parser leaves entities alone (no expansion
 * at all), so the five XML entities and character references are decoded here; what they reveal
 * may still be HTML, which toPlainText handles.
 */
function textOf(node: JsonRecord, name: string): string | null {
  const value = node[name];
  const first = Array.isArray(value) ? value[0] : value;
  const text = isRecord(first) ? first['#text'] : first;
  return typeof text === 'string' && text ? decodeXML(text) : null;
}
