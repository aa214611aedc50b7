import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors.ts';
import { feedRequestUrl, parseFeed } from '../../src/sources/feed.ts';
import { gdeltRequestUrl, parseGdelt } from '../../src/sources/gdelt.ts';
import { googleTrendsRequestUrl, parseTraffic, trendKey } from '../../src/sources/google-trends.ts';
import { hnRequestUrl } from '../../src/sources/hn.ts';
import { acceptHeader, adapters, parseSource, requestUrl } from '../../src/sources/index.ts';
import { HASH_ID_PREFIX, MAX_KEY_BYTES, storableKey } from '../../src/sources/items.ts';
import { SOURCE_KINDS, type FetchedBody } from '../../src/sources/types.ts';

const now = new Date('2026-11-21T15:00:00Z');
const fetched = (body: string | Buffer, contentType: string | null = 'application/xml'): FetchedBody => ({
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  contentType,
  url: 'https://news.example.com/feed',
  fetchedAt: now,
});
const ctx = { sourceId: 'src' };

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('request URLs', () => {
  it('feed: the configured URL, which must be http(s)', () => {
    expect(feedRequestUrl({ url: 'https://feeds.bbci.co.uk/news/world/rss.xml' }, now)).toBe('https://feeds.bbci.co.uk/news/world/rss.xml');
    expect(() => feedRequestUrl({ url: null }, now)).toThrow(PermanentError);
    expect(() => feedRequestUrl({ url: 'file:///etc/passwd' }, now)).toThrow('feed source needs an http(s) url, got "file:///etc/passwd"');
  });

  it('gdelt: ArtList JSON, 250 records, newest first, on the default or configured base', () => {
    expect(gdeltRequestUrl({ query: 'oil "supply chain"' }, now)).toBe(
      'https://api.gdeltproject.org/api/v2/doc/doc?query=oil+%22supply+chain%22&mode=ArtList&format=json&maxrecords=250&sort=DateDesc&timespan=1h',
    );
    expect(gdeltRequestUrl({ query: 'x', url: 'http://127.0.0.1:9/gdelt' }, now)).toBe(
      'http://127.0.0.1:9/gdelt?query=x&mode=ArtList&format=json&maxrecords=250&sort=DateDesc&timespan=1h',
    );
    expect(() => gdeltRequestUrl({ query: ' ' }, now)).toThrow('gdelt source needs a query');
  });

  it('hn: search_by_date for stories of the last two days', () => {
    const since = Math.floor(now.getTime() / 1000) - 2 * 86400;
    expect(hnRequestUrl({ query: 'rust lang' }, now)).toBe(
      `https://hn.algolia.com/api/v1/search_by_date?query=rust+lang&tags=story&hitsPerPage=100&numericFilters=created_at_i%3E${since}`,
    );
    expect(hnRequestUrl({ query: 'x', url: 'http://127.0.0.1:9' }, now)).toMatch(/^http:\/\/127\.0\.0\.1:9\/api\/v1\/search_by_date\?query=x&/);
    expect(() => hnRequestUrl({}, now)).toThrow('hn source needs a query');
  });

  it('google-trends: the trending-now RSS unless a URL is configured', () => {
    expect(googleTrendsRequestUrl({}, now)).toBe('https://trends.google.com/trending/rss?geo=US');
    expect(googleTrendsRequestUrl({ url: 'https://trends.google.com/trending/rss?geo=GB' }, now)).toBe('https://trends.google.com/trending/rss?geo=GB');
  });

  it('dispatches by kind, with an adapter and Accept header for every kind', () => {
    expect(Object.keys(adapters).sort()).toEqual([...SOURCE_KINDS].sort());
    expect(requestUrl('google-trends', {}, now)).toBe('https://trends.google.com/trending/rss?geo=US');
    expect(acceptHeader('gdelt')).toBe('application/json');
    expect(acceptHeader('feed')).toMatch(/^application\/rss\+xml, application\/atom\+xml, application\/feed\+json/);
    expect(parseSource('hn', fetched('{"hits":[]}', 'application/json'), ctx)).toEqual({
      format: 'hn', items: [], trends: [], skipped: 0, dateFallbacks: 0,
      stats: { parser: 'strict', charset: 'utf-8', charset_guessed: false, lenient_rescue: false },
    });
  });
});

describe('hostile feeds generated at test time', () => {
  // Not timed (speed belongs in the bench): the summary shows the entity was never expanded.
  it('a quadratic blowup of 2 GB never expands (DTD stripped)', () => {
    const entity = 'x'.repeat(100_000);
    const refs = '&a;'.repeat(20_000); // 2 GB if expanded
    const xml = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "${entity}">]><rss version="2.0"><channel><title>q</title><item><title>Q</title><link>https://x.example/q</link><description>${refs}</description></item></channel></rss>`;
    const result = parseFeed(fetched(xml), ctx);
    expect(result.items).toHaveLength(1);
    expect(result.items[0]!.summary!.startsWith('&a;&a;')).toBe(true);
    expect(result.items[0]!.summary!.length).toBeLessThanOrEqual(1000);
  });

  it('a billion laughs with 20 levels and an XXE in an Atom feed stay inert', () => {
    const levels = Array.from({ length: 20 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('');
    const xml = `<!DOCTYPE feed [<!ENTITY l0 "lol">${levels}<!ENTITY xxe SYSTEM "file:///etc/passwd">]><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id><entry><title>&l20; &xxe;</title><id>e1</id><link href="https://x.example/e"/><updated>2026-11-21T10:00:00Z</updated></entry></feed>`;
    const result = parseFeed(fetched(xml), ctx);
    expect(result.items.map((item) => item.title)).toEqual(['&l20; &xxe;']);
  });

  it('a DOCTYPE whose internal subset hides "]>" in quotes and comments is removed whole', () => {
    const xml = `<!DOCTYPE rss [<!-- ]> --><!ENTITY e "]>'"><!ENTITY f '"]>'>]><rss version="2.0"><channel><title>t</title><item><title>&e;&f;ok</title><link>https://x.example/1</link></item></channel></rss>`;
    expect(parseFeed(fetched(xml), ctx).items.map((item) => item.title)).toEqual(['&e;&f;ok']);
  });

  it('XML that no parser or repair can read is permanent, with the strict parser\'s reason', () => {
    const err = caught(() => parseFeed(fetched('<rss version="2.0"><channel><item><title>x</ti'), ctx));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe('parse src: malformed XML (title is not closed) from https://news.example.com/feed');
  });

  it('a feed of 5,000 items parses', () => {
    const items = Array.from({ length: 5000 }, (_, i) => `<item><title>Item ${i}</title><link>https://x.example/${i}</link><guid>g${i}</guid><pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate></item>`).join('');
    const result = parseFeed(fetched(`<rss version="2.0"><channel><title>t</title>${items}</channel></rss>`), ctx);
    expect(result.items).toHaveLength(5000);
    expect(result.items[4999]!.externalId).toBe('g4999');
  });
});

describe('gdelt edge cases', () => {
  it('honours a longer "one every N seconds" in the overload text', () => {
    const err = caught(() => parseGdelt(fetched('Please limit requests to one every 30 seconds.', 'text/plain'), ctx));
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).retryAfterMs).toBe(30_000);
  });

  it('an empty body is transient, not an empty result', () => {
    const err = caught(() => parseGdelt(fetched('', 'application/json'), ctx));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('parse src: empty body from https://news.example.com/feed');
    expect((err as TransientError).retryAfterMs).toBe(5000);
  });

  it('drops duplicate and URL-less articles, counting them', () => {
    const body = JSON.stringify({
      articles: [
        { url: 'https://a.example/1', title: 'One', seendate: '20261121T100000Z' },
        { url: 'https://a.example/1', title: 'One again', seendate: '20261121T100000Z' },
        { url: '', title: 'No url', seendate: '20261121T100000Z' },
        'not an object',
      ],
    });
    const result = parseGdelt(fetched(body, 'application/json'), ctx);
    expect(result.items.map((item) => item.title)).toEqual(['One', 'No url']);
    expect(result.items[1]!.url).toBeNull();
    expect(result.skipped).toBe(2);
  });

  it('"articles" that is not an array is permanent', () => {
    expect(() => parseGdelt(fetched('{"articles":{}}', 'application/json'), ctx)).toThrow(
      'parse src: "articles" is not an array in https://news.example.com/feed',
    );
  });
});

describe('trend helpers', () => {
  it.each([
    ['50K+', 50_000], ['200,000+', 200_000], ['1M+', 1_000_000], ['2.5K+', 2_500], ['1B+', 1_000_000_000],
    ['500+', 500], [' 20k + ', 20_000], ['lots', null], ['', null], [null, null],
  ] as const)('parseTraffic(%j) is %j', (raw, value) => expect(parseTraffic(raw)).toBe(value));

  it('keys trends case- and spacing-insensitively', () => {
    expect(trendKey('  NASA   Artemis ')).toBe('nasa artemis');
    expect(trendKey('Ｔａｙｌｏｒ Swift')).toBe('taylor swift');
  });
});

describe('keys that fit a unique index (issue 18.4)', () => {
  const sha = (text: string) => `${HASH_ID_PREFIX}${createHash('sha256').update(text).digest('hex')}`;

  it('keeps keys up to MAX_KEY_BYTES UTF-8 bytes and hashes longer ones deterministically', () => {
    const fits = 'g'.repeat(MAX_KEY_BYTES);
    expect(storableKey(fits)).toBe(fits);
    expect(storableKey(`${fits}g`)).toBe(sha(`${fits}g`));
    // Counted in bytes, not characters: 200 three-byte characters are 600 bytes.
    expect(storableKey('€'.repeat(200))).toBe(sha('€'.repeat(200)));
    expect(storableKey('€'.repeat(170))).toBe('€'.repeat(170));
  });

  it('hashes a 4,000-character GUID without losing the good items around it, and dedupes it exactly', () => {
    const guid = `urn:x:${'y'.repeat(4000)}`;
    const items = ['a', guid, guid, 'b']
      .map((id, i) => `<item><title>T${i}</title><link>https://x.example/${i < 3 && i > 0 ? 'same' : i}</link><guid>${id}</guid></item>`)
      .join('');
    const result = parseFeed(fetched(`<rss version="2.0"><channel><title>c</title>${items}</channel></rss>`), ctx);
    expect(result.items.map((item) => item.externalId)).toEqual(['a', sha(guid), 'b']);
    expect(result.skipped).toBe(1);
  });

  it('hashes an over-long trend key, and equal titles still share one key', () => {
    const title = 'Trend '.repeat(200);
    expect(trendKey(title)).toBe(sha(title.toLowerCase().trim()));
    expect(trendKey(title.toUpperCase())).toBe(trendKey(title));
  });
});

