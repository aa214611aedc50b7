/**
 * Issue 11.8 / 18.2: every text pass in src/sources is linear. Proved by counting, not timing:
 * each scanner reports the characters it looked at (ScanMeter), and for every adversarial shape
 * that count must stay within a small constant times the input length at every size from 8 KB to
 * 300 KB. A pass that rescans from each "<" (what the old regexes did) visits ~n²/2 characters
 * and fails the bound by orders of magnitude at 300 KB; the last test shows the meter sees that.
 * The few passes left as regexes read a bounded string (dates, traffic, Content-Type) or have a
 * literal start and no adjacent unbounded runs; they are exercised on the same inputs below, with
 * their wall time in `npm run bench` (bench/text.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseDate, parseRfc822, parseIso8601 } from '../../src/sources/dates.ts';
import { parseTraffic } from '../../src/sources/google-trends.ts';
import { parseSource } from '../../src/sources/index.ts';
import type { ScanMeter } from '../../src/sources/scan.ts';
import { markupEvidence, stripMarkup, titleText, toPlainText } from '../../src/sources/text.ts';
import { closeTruncated, rootElementName, scanTags, stripDoctype } from '../../src/sources/xml.ts';

const SIZES_KB = [8, 16, 32, 64, 128, 300];
/** Characters visited per input character: a single pass with a bounded look-ahead at each "<". */
const MAX_VISITS_PER_CHAR = 4;

/** Repeats `unit` to exactly `bytes` characters. */
function grow(unit: string, bytes: number): string {
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

// The shapes that make "try at every '<', scan to the end" regexes quadratic.
const SHAPES: Record<string, string> = {
  'open tags "<a"': '<a',
  'tags with an unclosed quote': '<a x="',
  'unclosed comments': '<!--',
  'unclosed declarations': '<!',
  'unclosed PIs': '<?',
  'CDATA openers': '<![CDATA[',
  'end-tag openers': '</a',
  'script openers': '<script>',
  'DOCTYPE openers': '<!DOCTYPE x [',
  'quotes only': '"\'',
  'lone brackets': '< > ',
  'item end tags': '</item>',
  'prefixed names': '</a:',
};

type Scanner = (text: string, meter: ScanMeter) => unknown;
const SCANNERS: Record<string, Scanner> = {
  stripMarkup: (text, meter) => stripMarkup(text, meter),
  toPlainText: (text, meter) => toPlainText(text, 1000, meter),
  titleText: (text, meter) => titleText(text, undefined, meter),
  markupEvidence: (text, meter) => markupEvidence(text, meter),
  stripDoctype: (text, meter) => stripDoctype(text, meter),
  rootElementName: (text, meter) => rootElementName(text, meter),
  scanTags: (text, meter) => scanTags(text, meter),
  closeTruncated: (text, meter) => closeTruncated(`<rss><channel><item><title>t</title></item>${text}`, meter),
};

describe('text passes are linear in their input', () => {
  for (const [scanner, scan] of Object.entries(SCANNERS)) {
    it.each(Object.entries(SHAPES))(`${scanner}: %s`, (_shape, unit) => {
      const visits = SIZES_KB.map((kb) => {
        const text = grow(unit, kb * 1024);
        const meter: ScanMeter = { visited: 0 };
        scan(text, meter);
        return { length: text.length, visited: meter.visited };
      });
      for (const { length, visited } of visits) expect(visited).toBeLessThanOrEqual(MAX_VISITS_PER_CHAR * length + 64);
      // Growth, not just the bound: 300 KB costs at most the size ratio (37.5x) times 8 KB, plus slack for constants.
      const [first, last] = [visits[0]!, visits.at(-1)!];
      expect(last.visited).toBeLessThanOrEqual((last.length / first.length) * Math.max(first.visited, first.length) * 1.1);
    });
  }

  it('the meter would catch a quadratic pass: a rescan from every "<" exceeds the bound at 300 KB', () => {
    const text = grow('<a', 300 * 1024);
    const meter: ScanMeter = { visited: 0 };
    // What /<[a-z](?:[^'">])*>/g did on "<a<a<a…": from each "<", look for ">" to the end.
    for (let i = text.indexOf('<'); i !== -1 && i < 4096; i = text.indexOf('<', i + 1)) meter.visited += text.length - i;
    expect(meter.visited).toBeGreaterThan(MAX_VISITS_PER_CHAR * text.length);
  });

  it('bounded regex passes refuse over-long input instead of backtracking over it', () => {
    const long = `1 Jan 2026 10:00${' '.repeat(300 * 1024)}x`;
    expect(parseDate(long)).toBeNull();
    expect(parseRfc822(long)).toBeNull();
    expect(parseIso8601(`2026-01-01${' '.repeat(300 * 1024)}x`)).toBeNull();
    expect(parseTraffic(`1${' '.repeat(300 * 1024)}x`)).toBeNull();
    expect(parseTraffic('50K+')).toBe(50_000);
  });
});

describe('a 300 KB tag-soup field in a feed', () => {
  const feed = (description: string) =>
    Buffer.from(
      `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>` +
        `<item><title>Soup</title><link>https://soup.example/1</link><guid>s1</guid><description>${description}</description></item>` +
        `<item><title>Fine</title><link>https://soup.example/2</link><guid>s2</guid></item></channel></rss>`,
    );

  it.each([
    ['escaped "<a"', grow('&lt;a', 300 * 1024)],
    ['CDATA "<a"', `<![CDATA[${grow('<a', 300 * 1024)}]]>`],
    ['escaped unclosed quotes', grow('&lt;a x=&quot;', 300 * 1024)],
    ['escaped comment openers', grow('&lt;!--', 300 * 1024)],
  ])('%s: both items are stored, the soup summary is bounded', (_shape, description) => {
    const result = parseSource('feed', { body: feed(description), contentType: 'application/rss+xml', url: 'https://soup.example/feed', fetchedAt: new Date('2026-11-21T15:00:00Z') }, { sourceId: 'soup' });
    expect(result.items.map((item) => item.externalId)).toEqual(['s1', 's2']);
    expect(result.items[0]!.summary?.length ?? 0).toBeLessThanOrEqual(1000);
  });
});
