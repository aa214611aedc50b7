/** The kinds of source the worker knows; each has one adapter in src/sources/. */
export const SOURCE_KINDS = ['feed', 'gdelt', 'hn', 'google-trends'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** One article candidate, already plain text and with an absolute URL. */
export interface ParsedItem {
  /** Stable id within the source: GUID/id, else a hash of link + published, else of link + published + title. */
  externalId: string;
  /** Absolute http(s) URL, or null when the item has none. */
  url: string | null;
  title: string;
  summary: string | null;
  author: string | null;
  language: string | null;
  publishedAt: Date;
  /** True when the item's own date was missing, unparseable or absurd and the fetch time was used. */
  dateFallback: boolean;
}

/** One observation of a trending item (google-trends). */
export interface ParsedTrend {
  key: string;
  title: string;
  url: string | null;
  rank: number;
  /** Approximate traffic as a number ("50K+" -> 50000), null when absent. */
  score: number | null;
  observedAt: Date;
}

export interface ParseResult {
  items: ParsedItem[];
  trends: ParsedTrend[];
  /** Which format was detected (rss2, rss1, atom, jsonfeed, gdelt, hn, google-trends…). */
  format: string;
  /** Items dropped as unusable (no title and no link, …). */
  skipped: number;
  /** Items whose date fell back to the fetch time. */
  dateFallbacks: number;
  /** Set when the body was only readable after a repair (lenient parser, truncated document closed): says how. */
  recovery?: string;
  /** How the body was read, for the job's stats (snake_case: the keys go into job_run.stats as they are). */
  stats: ParseStats;
}

export interface ParseStats {
  /** Which parser produced the result: the strict one, or the lenient one after the strict one failed. */
  parser: 'strict' | 'lenient';
  /** The encoding the body was decoded with (WHATWG name, or utf-32le/utf-32be). */
  charset: string;
  /** True when no BOM, valid UTF-8 or declaration named the charset: it was detected or assumed. */
  charset_guessed: boolean;
  /** True when the strict parser rejected the feed and the lenient parser read it. */
  lenient_rescue: boolean;
}

/** A successful HTTP body handed to a parser. */
export interface FetchedBody {
  body: Buffer;
  contentType: string | null;
  /** Final URL after redirects: the base for relative links. */
  url: string;
  fetchedAt: Date;
}

/** What a parser needs besides the body. */
export interface ParseContext {
  sourceId: string;
}

/** What a request builder reads from a source row: the URL override and/or the search query. */
export interface SourceRequest {
  url?: string | null;
  query?: string | null;
}

/** One source kind's adapter: how to ask for its data and how to read the answer. */
export interface SourceAdapter {
  /** The URL to GET for this source at `now` (time windows are relative to it). */
  requestUrl(source: SourceRequest, now: Date): string;
  /** Turns a body into items/trends; throws PermanentError (or TransientError for overload bodies). */
  parse(fetched: FetchedBody, ctx: ParseContext): ParseResult;
  /** The Accept header to send. */
  accept: string;
}
