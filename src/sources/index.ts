import { errorMessage, PermanentError, TransientError } from '../errors.ts';
import { feedAdapter } from './feed.ts';
import { gdeltAdapter } from './gdelt.ts';
import { googleTrendsAdapter } from './google-trends.ts';
import { hnAdapter } from './hn.ts';
import type { FetchedBody, ParseContext, ParseResult, SourceAdapter, SourceKind, SourceRequest } from './types.ts';

/** One adapter per kind; a Record, so adding a SourceKind without an adapter is a type error. */
export const adapters: Readonly<Record<SourceKind, SourceAdapter>> = {
  feed: feedAdapter,
  gdelt: gdeltAdapter,
  hn: hnAdapter,
  'google-trends': googleTrendsAdapter,
};

/**
 * Parses a fetched body with the adapter of `kind`. Adapters name the source in their own errors;
 * anything else thrown while reading an item (a bug, a library's TypeError) is wrapped so the
 * message still says which source and URL it was, and is permanent: the same body fails the same way.
 */
export function parseSource(kind: SourceKind, fetched: FetchedBody, ctx: ParseContext): ParseResult {
  try {
    return adapters[kind].parse(fetched, ctx);
  } catch (err) {
    if (err instanceof PermanentError || err instanceof TransientError) throw err;
    throw new PermanentError(`parse ${ctx.sourceId}: ${errorMessage(err)} from ${fetched.url}`, { cause: err });
  }
}

/** The URL to fetch for a source of `kind` at `now`. */
export function requestUrl(kind: SourceKind, source: SourceRequest, now: Date): string {
  return adapters[kind].requestUrl(source, now);
}

/** The Accept header for a source of `kind`. */
export function acceptHeader(kind: SourceKind): string {
  return adapters[kind].accept;
}
