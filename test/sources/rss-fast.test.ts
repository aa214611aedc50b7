import { readFileSync } from 'node:fs';
import { parseFeed as feedsmithParse, type RssFeed } from 'feedsmith';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/ingest/sentiment-eval.ts';
import { decodeText } from '../../src/sources/decode.ts';
import { parseFeed } from '../../src/sources/feed.ts';
import { fastRss } from '../../src/sources/rss-fast.ts';
import { stripDoctype } from '../../src/sources/xml.ts';
import { generatedItems, rss } from '../support/feeds.ts';
import { FETCHED_AT, FIXTURE_BASE_URL, FIXTURES } from '../fixtures/sources/manifest.ts';
import { FIXTURES_DIR } from './fixture-server.ts';

/**
 * The fast RSS path (src/sources/rss-fast.ts) against feedsmith: whatever it reads must come out
 * exactly as feedsmith's path makes it, and whatever it cannot reproduce it must leave to
 * feedsmith (null). Every comparison is the whole ParseResult, or the thrown error, of the
 * adapter with the fast path on and off.
 */

const ctx = { sourceId: 'diff' };

function outcome(body: Buffer | string, fastPath: boolean, url = 'https://news.example.com/feed.xml', contentType: string | null = 'application/rss+xml') {
  try {
    return { ok: parseFeed({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), contentType, url, fetchedAt: new Date(FETCHED_AT) }, ctx, { fastPath }) };
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

/** The document as the adapter hands it to either parser. */
function docOf(body: Buffer | string): string {
  return stripDoctype(decodeText(Buffer.isBuffer(body) ? body : Buffer.from(body), null).text.trim());
}

/** The RssFeed fields the adapter reads (feed.ts rssDrafts), nothing else. */
function adapterView(feed: RssFeed.Feed<string>) {
  return {
    link: feed.link,
    language: feed.language,
    xml: feed.xml,
    items: (feed.items ?? []).map((item) => ({
      title: item.title,
      link: item.link,
      description: item.description,
      guid: item.guid,
      pubDate: item.pubDate,
      authors: item.authors?.[0],
      content: item.content?.encoded,
      dcTitle: item.dc?.titles?.[0],
      dcCreator: item.dc?.creators?.[0],
      dcDate: item.dc?.dates?.[0],
      dcLanguage: item.dc?.languages?.[0],
      mediaTitle: item.media?.title,
      mediaContentTitle: item.media?.contents?.find((content) => content.title?.value)?.title,
      dcterms: item.dcterms,
      xml: item.xml,
    })),
  };
}

function expectSame(body: Buffer | string, url?: string, contentType?: string | null): boolean {
  expect(outcome(body, true, url, contentType)).toEqual(outcome(body, false, url, contentType));
  const doc = docOf(body);
  const fast = fastRss(doc);
  if (fast === null) return false;
  const slow = feedsmithParse<string>(doc);
  expect(slow.format).toBe('rss');
  expect(adapterView(fast)).toEqual(adapterView(slow.feed as RssFeed.Feed<string>));
  return true;
}

const wrap = (items: string, rootAttrs = ' version="2.0"', channelExtra = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<rss${rootAttrs}><channel><title>T</title><link>https://example.org/</link>${channelExtra}\n${items}\n</channel></rss>\n`;
const NS = ' version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom"';

describe('fast RSS path: same output as feedsmith', () => {
  it('on every feed fixture, and it reads the plain RSS 2.0 ones itself', () => {
    const fast: string[] = [];
    for (const fixture of FIXTURES.filter((f) => f.kind === 'feed')) {
      const body = readFileSync(`${FIXTURES_DIR}${fixture.file}`);
      if (expectSame(body, `${FIXTURE_BASE_URL}${fixture.file}`, fixture.contentType)) fast.push(fixture.file);
    }
    // The fixtures it must handle itself (plain RSS 2.0, namespaced or not); the rest are feedsmith's.
    expect(fast).toEqual(expect.arrayContaining(['rss2.xml', 'rss091.xml', 'broken-rss-cdata.xml', 'broken-rss-relative-links.xml']));
    expect(fast).not.toContain('broken-rss-unclosed-tag.xml');
    expect(fast).not.toContain('broken-rss-truncated.xml');
  });

  it('on the generated bench feed, read by the fast path', () => {
    expect(expectSame(rss(generatedItems(500, new Date(FETCHED_AT), { prefix: 'bench' })))).toBe(true);
  });

  const cases: Array<[string, string, boolean]> = [
    ['CDATA holding entities and markup', wrap('<item><title><![CDATA[A &amp; B <b>x</b>]]> &amp; c</title><link>https://x.example/1</link></item>'), true],
    ['comments inside fields and between items', wrap('<!-- c --><item><title>A <!-- hidden --> B</title><!-- x --><link>https://x.example/1</link></item>'), true],
    ['two CDATA sections and text around them', wrap('<item><title>  pre <![CDATA[one]]>mid&lt;<![CDATA[two]]> post  </title><guid>g</guid></item>'), true],
    ['isPermaLink spellings', wrap(['false', 'FALSE', ' false ', 'true', 'no', ''].map((v, i) => `<item><title>t${i}</title><guid isPermaLink="${v}">https://x.example/${i}</guid></item>`).join('')), true],
    ['isPermaLink on an empty guid', wrap('<item><title>t</title><link>https://x.example/1</link><guid isPermaLink="false"></guid></item><item><title>u</title><guid isPermaLink="true"/></item>'), true],
    ['repeated singular fields: the first wins, even empty', wrap('<item><title></title><title>second</title><link>https://x.example/1</link><link>https://x.example/2</link></item>'), true],
    ['self-closing fields and items', wrap('<item><title/><link>https://x.example/1</link></item><item/>'), true],
    ['dc and content namespaces, first non-empty creator', wrap('<item><title>t</title><dc:creator></dc:creator><dc:creator>Ann</dc:creator><dc:date>2026-11-20T10:00:00Z</dc:date><content:encoded><![CDATA[<p>Body</p>]]></content:encoded><dc:subject>x</dc:subject><link>https://x.example/1</link></item>', NS), true],
    ['dc title and language stand in', wrap('<item><dc:title>From dc</dc:title><dc:language>fr</dc:language><link>https://x.example/1</link></item>', NS), true],
    ['undeclared dc prefix', wrap('<item><title>t</title><dc:creator>Bo</dc:creator><link>https://x.example/1</link></item>'), true],
    ['ignored children: category, comments, enclosure, source, thumbnails', wrap('<item><title>t</title><category domain="d">c</category><comments>https://x.example/c</comments><enclosure url="https://x.example/a.mp3" length="1" type="audio/mpeg"/><source url="https://y.example/">Y</source><media:thumbnail url="https://x.example/t.jpg"/><atom:link href="https://x.example/a" rel="related"/><link>https://x.example/1</link></item>', NS), true],
    ['channel extras: image, atom:link, language, stylesheet', `<?xml version="1.0"?><?xml-stylesheet href="a.xsl"?><!-- top --><rss${NS}><channel><title>T</title><atom:link href="https://x.example/feed" rel="self"/><image><link>https://img.example/</link><url>https://img.example/i.png</url></image><link>https://example.org/base/</link><language>de</language><item><title>t</title><link>rel/1</link></item></channel></rss><!-- end -->`, true],
    ['relative link against the channel link', wrap('<item><title>t</title><link>/a/b?c=1&amp;d=2</link></item>'), true],
    ['entities: numeric, named HTML, unknown, bare ampersand', wrap('<item><title>&#8220;Q&#x201D; &eacute; &nbsp;&unknown; AT&T &amp;amp;</title><guid>g</guid></item>'), true],
    ['whitespace and CRLF everywhere', wrap('\r\n  <item>\r\n    <title>\r\n  spaced  \r\n</title>\r\n    <link> https://x.example/1 </link>\r\n  </item>\r\n'), true],
    ['no items', wrap(''), true],
    ['author is left to feedsmith', wrap('<item><title>t</title><author>a@x.example (Ann)</author></item>'), false],
    ['xml:base is left to feedsmith', wrap('<item xml:base="https://b.example/"><title>t</title><link>x</link></item>'), false],
    ['xml:lang is left to feedsmith', wrap('<item><title>t</title></item>', ' version="2.0" xml:lang="en"'), false],
    ['a default namespace is left to feedsmith', wrap('<item><title>t</title></item>', ' version="2.0" xmlns="http://backend.userland.com/rss2"'), false],
    ['dc bound to another URI', wrap('<item><title>t</title><dc:creator>x</dc:creator></item>', ' version="2.0" xmlns:dc="http://purl.org/rss/1.0/modules/content/"'), false],
    ['another prefix for dc', wrap('<item><title>t</title><dublin:creator>x</dublin:creator></item>', ' version="2.0" xmlns:dublin="http://purl.org/dc/elements/1.1/"'), false],
    ['a namespace declared below the root', wrap('<item xmlns:dc="http://purl.org/dc/elements/1.1/"><title>t</title></item>'), false],
    ['media:title is left to feedsmith', wrap('<item><media:title>m</media:title><link>https://x.example/1</link></item>', NS), false],
    ['markup inside a field', wrap('<item><title>a <b>bold</b> move</title></item>'), false],
    ['mis-cased tags', wrap('<item><Title>t</Title><link>https://x.example/1</link></item>'), false],
    ['mis-cased channel link', wrap('<item><title>t</title></item>', ' version="2.0"', '<Link>https://other.example/</Link>'), false],
    ['mismatched end tag', wrap('<item><title>t</titel></item>'), false],
    ['unquoted attribute', wrap('<item><title>t</title><guid isPermaLink=false>g</guid></item>'), false],
    ['stray "<" in text', wrap('<item><title>t</title><link>https://x.example/1</link></item> 3 < 4'), false],
    ['items outside the channel', '<rss version="2.0"><channel><title>T</title></channel><item><title>t</title></item></rss>', false],
    ['two channels', '<rss version="2.0"><channel><item><title>a</title></item></channel><channel><item><title>b</title></item></channel></rss>', false],
    ['no channel', '<rss version="2.0"><item><title>t</title></item></rss>', false],
    ['truncated', wrap('<item><title>t</title><link>https://x.example/1</link></item><item><title>cut'), false],
    ['text after the root', `${wrap('<item><title>t</title></item>')}junk`, false],
    ['unterminated CDATA', wrap('<item><title><![CDATA[t</title></item>'), false],
    ['channel extras nested 64 deep', wrap('<item><title>t</title></item>', ' version="2.0"', `${'<x>'.repeat(64)}${'</x>'.repeat(64)}`), true],
    ['channel extras nested 100,000 deep', wrap('<item><title>t</title></item>', ' version="2.0"', `${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}`), false],
    ['a tag with 40 attributes', wrap('<item><title>t</title></item>', ' version="2.0"', `<x ${Array.from({ length: 40 }, (_, i) => `a${i}="v"`).join(' ')}/>`), false],
  ];
  it.each(cases)('%s', (_what, xml, viaFast) => {
    expect(expectSame(xml)).toBe(viaFast);
  });

  it('on 2,000 random mutations of namespaced and plain feeds (the fast path never differs, only declines)', () => {
    const random = seededRandom(17);
    const bases = [
      readFileSync(`${FIXTURES_DIR}rss2.xml`, 'utf8'),
      wrap(cases.filter(([, , fast]) => fast).map(([, xml]) => xml.slice(xml.indexOf('<item'), xml.lastIndexOf('</channel>'))).join('\n'), NS),
      rss(generatedItems(20, new Date(FETCHED_AT), { prefix: 'm' })),
    ];
    const pieces = ['<', '>', '/', '&', ';', '"', "'", '=', ' ', '<![CDATA[', ']]>', '<!--', '-->', '</item>', '<item>', '</title>', '<title>', 'xmlns:x="y" ', '<?pi?>', '\u0000', 'é'];
    let fast = 0;
    for (let n = 0; n < 2000; n++) {
      let doc = bases[n % bases.length]!;
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * doc.length);
        const op = random();
        if (op < 0.35) doc = doc.slice(0, at) + doc.slice(at + 1 + Math.floor(random() * 8));
        else if (op < 0.7) doc = doc.slice(0, at) + pieces[Math.floor(random() * pieces.length)]! + doc.slice(at);
        else if (op < 0.85) doc = doc.slice(0, at) + doc.charAt(at).toUpperCase() + doc.slice(at + 1);
        else doc = doc.slice(0, at) + doc.slice(at, at + 40) + doc.slice(at);
      }
      let same: boolean;
      try {
        same = expectSame(doc);
      } catch (err) {
        // The mutant itself is what a reader needs to reproduce a difference.
        throw new Error(`mutant ${n} differs: ${JSON.stringify(doc)}`, { cause: err });
      }
      if (same) fast += 1;
    }
    // Both outcomes must occur, or the comparison above proved nothing about one of them.
    expect(fast).toBeGreaterThan(200);
    expect(fast).toBeLessThan(1900);
  });
});
