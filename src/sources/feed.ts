import { parseFeed as lenientParse } from '@rowanmanning/feed-parser';
import { parseFeed as strictParse, parseJsonFeed } from 'feedsmith';
import type { AnyFeed, AtomFeed, JsonFeed, RdfFeed, RssFeed } from 'feedsmith';
import { decodeXML } from 'entities';
import { XMLValidator } from 'fast-xml-parser';
import { PermanentError } from '../errors.ts';
import { decodeText, strictParseStats, type DecodedText } from './decode.ts';
import { buildItems, SUMMARY_MAX, type ItemDraft } from './items.ts';
import { isRecord } from './json.ts';
import { fastRss } from './rss-fast.ts';
import { absoluteUrl, atomPlainText, normalizeText, stripMarkup, titleText, toPlainText } from './text.ts';
import type { FetchedBody, ParseContext, ParseResult, SourceAdapter, SourceRequest } from './types.ts';
import { closeTruncated, localName, looksLikeHtml, rootElementName, scanTags, stripDoctype, type TagToken } from './xml.ts';

/**
 * RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 0.3/1.0 and JSON Feed 1.x.
 *
 * feedsmith reads first: it is fast and never expands entities, but rejects a whole document for
 * one unclosed tag. @rowanmanning/feed-parser is the lenient second try; it WOULD expand DTD
 * entities, which is why every DTD is stripped (xml.ts) before either parser runs. A document cut
 * off mid-way is closed after its last complete item and tried once more. Both parsers' dates are
 * ignored: raw strings go through dates.ts.
 */

export const FEED_ACCEPT =
  'application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5';

const FEED_ROOTS = new Set(['rss', 'rdf', 'feed']);
const TRUNCATED = 'closed a truncated document after its last complete item';
const LENIENT = 'read by the lenient parser';

/** A feed is fetched from its configured URL; `now` plays no part. */
export function feedRequestUrl(source: SourceRequest, _now: Date): string {
  const url = absoluteUrl(source.url);
  if (url === null) throw new PermanentError(`feed source needs an http(s) url, got ${JSON.stringify(source.url ?? null)}`);
  return url;
}

export interface FeedParseOptions {
  /**
   * Read plain RSS 2.0 with rss-fast.ts before feedsmith (default true). Off only to compare the
   * two paths (test/sources/rss-fast.test.ts, bench/ingest.ts).
   */
  fastPath?: boolean;
}

/** Reads any supported feed format, detected from the body itself. */
export function parseFeed(fetched: FetchedBody, ctx: ParseContext, options: FeedParseOptions = {}): ParseResult {
  const fail = failure(ctx, fetched);
  const decoded = decodeText(fetched.body, fetched.contentType);
  const text = decoded.text.trim();
  if (!text) throw fail(`empty body (${fetched.body.length} bytes)`);
  if (text.startsWith('{') || text.startsWith('[')) return readJsonFeed(text, decoded, fetched, fail);
  return readXmlFeed(text, decoded, fetched, fail, options.fastPath ?? true);
}

export const feedAdapter: SourceAdapter = { requestUrl: feedRequestUrl, parse: parseFeed, accept: FEED_ACCEPT };

type Fail = (what: string, cause?: unknown) => PermanentError;

function failure(ctx: ParseContext, fetched: FetchedBody): Fail {
  return (what, cause) => new PermanentError(`parse ${ctx.sourceId}: ${what} from ${fetched.url}`, { cause });
}

// ---------------------------------------------------------------------------------------------
// JSON Feed

function readJsonFeed(text: string, decoded: DecodedText, fetched: FetchedBody, fail: Fail): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail(`malformed JSON (${(err as Error).message})`, err);
  }
  const version = isRecord(json) ? json['version'] : undefined;
  if (!isRecord(json) || typeof version !== 'string' || !version.includes('jsonfeed')) {
    throw fail('got JSON that is not a JSON Feed (no "version" naming jsonfeed); expected RSS, Atom or JSON Feed');
  }
  if (!Array.isArray(json['items'])) throw fail('JSON Feed has no "items" array');
  const feed: JsonFeed.Feed<string> = parseJsonFeed(json);
  const feedBase = baseUrl(fetched.url, null, feed.home_page_url ?? feed.feed_url);
  const drafts = (feed.items ?? []).map((item): ItemDraft => ({
    id: item.id ?? null,
    url: absoluteUrl(item.url ?? item.external_url, feedBase),
    // JSON Feed titles are plain text by definition; content_html is HTML.
    title: normalizeText(item.title),
    summary: summaryOf(item.summary ? normalizeText(item.summary) : (item.content_text ?? item.content_html)),
    author: item.authors?.[0]?.name ?? feed.authors?.[0]?.name ?? null,
    language: item.language ?? feed.language ?? null,
    published: item.date_published ?? item.date_modified ?? null,
  }));
  return { ...result('jsonfeed', drafts, fetched), stats: strictParseStats(decoded) };
}

// ---------------------------------------------------------------------------------------------
// XML feeds

function readXmlFeed(text: string, decoded: DecodedText, fetched: FetchedBody, fail: Fail, fastPath: boolean): ParseResult {
  if (looksLikeHtml(text, fetched.contentType)) {
    const title = htmlTitle(text);
    throw fail(`got an HTML page, not a feed${title ? ` ("${toPlainText(title, 80)}")` : ''}`);
  }
  const xml = stripDoctype(text);
  const root = rootElementName(xml);
  // Never echo the body: an error page can carry tokens or personal data into logs and last_error.
  if (root === null) throw fail(`body is neither XML nor JSON (${fetched.body.length} bytes, Content-Type ${fetched.contentType ?? 'none'})`);
  if (!FEED_ROOTS.has(localName(root).toLowerCase())) {
    throw fail(`unexpected root element <${root}>; expected <rss>, <rdf:RDF> or <feed>`);
  }
  const format = xmlFormat(xml, root);
  // Atom 0.3 may base64-encode text constructs; no parser decodes them.
  const doc = format === 'atom0.3' ? decodeBase64Constructs(xml) : xml;

  // Plain RSS 2.0 (most feeds) is read in one pass without feedsmith's object tree: the same
  // fields, so the same drafts (rss-fast.ts). Anything it does not reproduce exactly gets null
  // and goes the way below, as does a document it read whose drafts fail to build.
  if (fastPath && format.startsWith('rss') && format !== 'rss1') {
    const feed = fastRss(doc);
    if (feed !== null) {
      try {
        const drafts = rssDrafts(feed, fetched);
        return { ...result(format, drafts, fetched), stats: strictParseStats(decoded) };
      } catch {
        // The strict attempt below meets the same error and records it.
      }
    }
  }
  // Strict before lenient: a truncated document closed properly reads cleaner than a lenient guess.
  // The repair is only looked for once the strict parser has refused the document as it came.
  let repaired: string | null | undefined;
  const repair = () => {
    if (repaired === undefined) repaired = closeTruncated(doc);
    return repaired;
  };
  type Attempt = { text: () => string | null; lenient: boolean; recovery?: string };
  const attempts: Attempt[] = [
    { text: () => doc, lenient: false },
    { text: repair, lenient: false, recovery: TRUNCATED },
    { text: () => doc, lenient: true, recovery: LENIENT },
    { text: repair, lenient: true, recovery: `${TRUNCATED}; ${LENIENT}` },
  ];
  let firstError: unknown;
  let wellFormed: boolean | undefined;
  for (const attempt of attempts) {
    if (attempt.lenient && wellFormed === undefined) {
      // The strict parser refuses a well-formed <rss> without a <channel>, or a feed root with
      // nothing in it: that is an empty feed, not a broken one (it must not count toward backoff),
      // and no rescue by the lenient parser either.
      wellFormed = XMLValidator.validate(doc) === true;
      if (wellFormed && !hasItemElements(doc)) return { ...result(format, [], fetched), stats: strictParseStats(decoded) };
    }
    const input = attempt.text();
    if (input === null) continue;
    let drafts: ItemDraft[];
    try {
      drafts = attempt.lenient ? lenientDrafts(lenientParse(input), fetched) : strictDrafts(strictParse<string>(input), input, fetched);
    } catch (err) {
      firstError ??= err;
      continue;
    }
    const stats = { parser: attempt.lenient ? 'lenient' : 'strict', charset: decoded.encoding, charset_guessed: decoded.guessed, lenient_rescue: attempt.lenient } as const;
    const parsed = { ...result(format, drafts, fetched), stats };
    return attempt.recovery ? { ...parsed, recovery: `${attempt.recovery} (strict parser: ${describe(firstError)})` } : parsed;
  }
  // Well-formed XML with items that neither parser could place (items outside any channel…).
  if (wellFormed) throw fail(`not an RSS/Atom structure (${describe(firstError)})`, firstError);
  throw fail(`malformed XML (${describe(firstError)})`, firstError);
}

const ITEM_ELEMENTS = new Set(['item', 'entry']);

function hasItemElements(xml: string): boolean {
  return scanTags(xml).some((tag) => !tag.closing && ITEM_ELEMENTS.has(localName(tag.name).toLowerCase()));
}

/** The raw contents of an HTML page's first <title>, found without a regex that could backtrack. */
function htmlTitle(html: string): string | null {
  const open = /<title\b/i.exec(html);
  if (!open) return null;
  const start = html.indexOf('>', open.index);
  if (start === -1) return null;
  const close = /<\/title\s*>/gi;
  close.lastIndex = start + 1;
  const end = close.exec(html);
  return end === null ? null : html.slice(start + 1, end.index);
}

/**
 * Atom 0.3 `mode="base64"` text constructs, decoded in place (as XML-escaped UTF-8) so the parsers
 * see their text. One pass over the tags; an element that is not closed is left as it is.
 */
function decodeBase64Constructs(xml: string): string {
  if (!xml.includes('base64')) return xml;
  const tags = scanTags(xml);
  const out: string[] = [];
  let copied = 0;
  for (let t = 0; t < tags.length; t += 1) {
    const open = tags[t]!;
    if (open.closing || open.selfClosing || !/\bmode\s*=\s*["']base64["']/.test(xml.slice(open.start, open.end))) continue;
    const close = tags[t + 1];
    // A base64 construct holds text only, so its end tag is the very next tag.
    if (!close?.closing || close.name !== open.name) continue;
    const text = Buffer.from(xml.slice(open.end, close.start).trim(), 'base64').toString('utf8');
    out.push(xml.slice(copied, open.end), escapeXml(text));
    copied = close.start;
  }
  out.push(xml.slice(copied));
  return out.join('');
}

function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

type StrictFeed = AnyFeed<string>;

function strictDrafts(parsed: StrictFeed, doc: string, fetched: FetchedBody): ItemDraft[] {
  switch (parsed.format) {
    case 'rss':
      return rssDrafts(parsed.feed, fetched);
    case 'rdf':
      return rdfDrafts(parsed.feed, doc, fetched);
    case 'atom':
      return atomDrafts(parsed.feed, fetched);
    case 'json':
      // The XML path never sees JSON: readJsonFeed handles bodies starting with "{".
      return [];
  }
}

function rssDrafts(feed: RssFeed.Feed<string>, fetched: FetchedBody): ItemDraft[] {
  const feedBase = baseUrl(fetched.url, feed.xml?.base, feed.link);
  return (feed.items ?? []).map((item) => {
    const itemBase = absoluteUrl(item.xml?.base, feedBase) ?? feedBase;
    // A permalink GUID stands in for a missing <link>, but only when it is already absolute.
    const guidLink = item.guid?.isPermaLink === false ? null : absoluteUrl(item.guid?.value);
    return {
      id: item.guid?.value ?? null,
      url: absoluteUrl(item.link, itemBase) ?? guidLink,
      title: firstTitle(item.title, item.dc?.titles?.[0], item.media),
      summary: summaryOf(item.description ?? item.content?.encoded),
      author: item.authors?.[0]?.name ?? item.authors?.[0]?.email ?? item.dc?.creators?.[0] ?? null,
      language: item.xml?.lang ?? item.dc?.languages?.[0] ?? feed.language ?? feed.xml?.lang ?? null,
      published: item.pubDate ?? item.dc?.dates?.[0] ?? dctermsDate(item.dcterms),
    };
  });
}

function rdfDrafts(feed: RdfFeed.Feed<string>, doc: string, fetched: FetchedBody): ItemDraft[] {
  const feedBase = baseUrl(fetched.url, feed.xml?.base, feed.link);
  const items = feed.items ?? [];
  // RSS 1.0 has no pubDate, but feeds put one in anyway and feedsmith drops it: read it from the text.
  const pubDates = items.some((item) => !item.dc?.dates?.length) ? rdfItemPubDates(doc) : [];
  return items.map((item, index) => ({
    id: item.rdf?.about ?? null,
    url: absoluteUrl(item.link, absoluteUrl(item.xml?.base, feedBase) ?? feedBase),
    title: firstTitle(item.title, item.dc?.titles?.[0], item.media),
    summary: summaryOf(item.description ?? item.content?.encoded),
    author: item.dc?.creators?.[0] ?? null,
    language: item.dc?.languages?.[0] ?? feed.dc?.languages?.[0] ?? null,
    published: item.dc?.dates?.[0] ?? dctermsDate(item.dcterms) ?? pubDates[index] ?? null,
  }));
}

/** The <pubDate> text of each top-level <item> of an RDF document, by position (null where absent). */
function rdfItemPubDates(doc: string): Array<string | null> {
  const dates: Array<string | null> = [];
  let inItem = false;
  let dateOpen: TagToken | null = null;
  for (const tag of scanTags(doc)) {
    const local = localName(tag.name).toLowerCase();
    if (local === 'item' && !tag.selfClosing) {
      inItem = !tag.closing;
      if (inItem) dates.push(null);
    } else if (inItem && local === 'pubdate') {
      if (!tag.closing) dateOpen = tag;
      else if (dateOpen !== null) {
        dates[dates.length - 1] = decodeXML(stripMarkup(doc.slice(dateOpen.end, tag.start))).trim() || null;
        dateOpen = null;
      }
    }
  }
  return dates;
}

function atomDrafts(feed: AtomFeed.Feed<string>, fetched: FetchedBody): ItemDraft[] {
  const feedBase = baseUrl(fetched.url, feed.xml?.base, alternateLink(feed.links));
  return (feed.entries ?? []).map((entry) => ({
    id: entry.id ?? null,
    url: absoluteUrl(alternateLink(entry.links), absoluteUrl(entry.xml?.base, feedBase) ?? feedBase),
    title: atomText(entry.title) || firstTitle(undefined, entry.dc?.titles?.[0], entry.media),
    summary: summaryOf(entry.summary ? atomText(entry.summary) : entry.content?.value),
    author: entry.authors?.[0]?.name ?? feed.authors?.[0]?.name ?? null,
    language: entry.xml?.lang ?? feed.xml?.lang ?? null,
    // feedsmith already maps Atom 0.3's issued/modified onto published/updated.
    published: entry.published ?? entry.updated ?? entry.dc?.dates?.[0] ?? dctermsDate(entry.dcterms),
  }));
}

type LenientFeed = ReturnType<typeof lenientParse>;

/** Drafts from @rowanmanning/feed-parser, reading raw date text from the elements (not its Dates). */
function lenientDrafts(feed: LenientFeed, fetched: FetchedBody): ItemDraft[] {
  const feedBase = baseUrl(fetched.url, null, feed.url);
  return feed.items.map((item) => {
    const rawDate = ['pubdate', 'published', 'issued', 'date', 'created', 'updated', 'modified']
      .map((name) => item.element.findElementWithName(name)?.textContent.trim())
      .find((text) => text);
    return {
      id: item.id,
      url: absoluteUrl(item.url, feedBase),
      title: titleText(item.title),
      summary: summaryOf(item.description ?? item.content),
      author: item.authors[0]?.name ?? null,
      language: feed.language,
      published: rawDate ?? null,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// helpers

function result(format: string, drafts: ItemDraft[], fetched: FetchedBody): Omit<ParseResult, 'stats'> {
  return { format, trends: [], ...buildItems(drafts, fetched.fetchedAt) };
}

type MediaTitled = { title?: { value?: string; type?: string }; contents?: Array<{ title?: { value?: string; type?: string } }> };

/**
 * The item's title: <title>, else dc:title, else media:title (the item's, then its first
 * media:content's), so a titled item never falls back to its link. RSS titles may or may not be HTML.
 */
function firstTitle(title: string | undefined, dcTitle: string | undefined, media: MediaTitled | undefined): string {
  const mediaTitle = media?.title ?? media?.contents?.find((content) => content.title?.value)?.title;
  const fromMedia = mediaTitle?.type === 'html' ? toPlainText(mediaTitle.value) : titleText(mediaTitle?.value);
  return titleText(title) || titleText(dcTitle) || fromMedia;
}

/** dcterms:issued, else created, else modified: the publication date first, the last change last. */
function dctermsDate(dcterms: { issued?: string[]; created?: string[]; modified?: string[] } | undefined): string | null {
  return dcterms?.issued?.[0] ?? dcterms?.created?.[0] ?? dcterms?.modified?.[0] ?? null;
}

/** rss2, rss0.91, rss1 (RDF), atom, atom0.3: read from the document, whichever parser succeeds. */
function xmlFormat(xml: string, root: string): string {
  const start = xml.indexOf(`<${root}`);
  // Capped: namespace declarations never run this long, and the regex below then reads a bounded string.
  const rootTag = xml.slice(start, Math.min(xml.indexOf('>', start) + 1, start + ROOT_TAG_MAX));
  const version = /\bversion\s*=\s*["']([^"']*)["']/.exec(rootTag)?.[1]?.trim();
  switch (localName(root).toLowerCase()) {
    case 'rdf':
      return 'rss1';
    case 'feed':
      return version === '0.3' || rootTag.includes('purl.org/atom/ns#') ? 'atom0.3' : 'atom';
    default:
      if (!version) return 'rss';
      return version.startsWith('2') ? 'rss2' : `rss${version}`;
  }
}

const ROOT_TAG_MAX = 8192;

/**
 * The base for relative links: the feed's xml:base, else its own link (what RSS readers do), else
 * the URL it was fetched from. Each is itself resolved against the fetched URL.
 */
function baseUrl(fetchedUrl: string, xmlBase: string | null | undefined, feedLink: string | null | undefined): string {
  return absoluteUrl(xmlBase, fetchedUrl) ?? absoluteUrl(feedLink, fetchedUrl) ?? fetchedUrl;
}

/** The entry's web page: rel="alternate" (or no rel), else the first link at all. */
function alternateLink(links: Array<AtomFeed.Link<string>> | undefined): string | undefined {
  return (links?.find((link) => !link.rel || link.rel === 'alternate') ?? links?.[0])?.href;
}

/** Atom text constructs: type "text" is literal text; "html", "xhtml" (and 0.3's MIME types) are markup. */
function atomText(text: AtomFeed.Text | undefined): string {
  if (!text) return '';
  return text.type?.includes('html') ? toPlainText(text.value) : atomPlainText(text.value);
}

function summaryOf(htmlOrText: string | null | undefined): string | null {
  return toPlainText(htmlOrText, SUMMARY_MAX) || null;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : null;
  return cause && cause !== err.message ? cause : err.message;
}
