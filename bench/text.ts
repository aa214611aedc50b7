/**
 * Text passes on hostile fields (issue 11.8 / 18.2), each beside same-run baselines:
 *   baseline: a plain linear scan of the same characters (one charCodeAt loop counting "<")
 *   before:   the regex pipeline toPlainText used before (tried at every "<", quadratic on "<a<a…"),
 *             only up to 32 KB: at 300 KB it would run for minutes
 *   now:      toPlainText / titleText (src/sources/text.ts), and a whole feed with one such
 *             description through parseSource (decode, strict parser, text passes, items)
 * Linear work shows as a flat "now / baseline" column and a 300 KB / 8 KB ratio near 37.5.
 * Run: node bench/text.ts
 */
import { decodeHTML } from 'entities';
import { parseSource } from '../src/sources/index.ts';
import { titleText, toPlainText } from '../src/sources/text.ts';

const SIZES_KB = [8, 16, 32, 64, 128, 300];
const BEFORE_MAX_KB = 32;

const SHAPES: Record<string, string> = {
  '"<a" repeated': '<a',
  'unclosed quoted attribute': '<a x="',
  'unclosed comments': '<!--',
};

function grow(unit: string, chars: number): string {
  return unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);
}

/** Median wall time of `fn` in ms over enough runs to take ~200 ms (at least 3). */
function timeMs(fn: () => unknown): number {
  const samples: number[] = [];
  const deadline = performance.now() + 200;
  while (samples.length < 3 || (performance.now() < deadline && samples.length < 50)) {
    const started = performance.now();
    fn();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function linearScan(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x3c) count += 1;
  return count;
}

// The pipeline as it was (src/sources/text.ts before issue 11), kept here only as the "before" figure.
const OLD_HIDDEN = /<(script|style|noscript|template)\b(?:"[^"]*"|'[^']*'|[^'">])*>[\s\S]*?<\/\1\s*>/gi;
const OLD_CDATA = /<!\[CDATA\[([\s\S]*?)\]\]>/g;
const OLD_COMMENT = /<!--[\s\S]*?(?:-->|$)/g;
const OLD_BLOCK = /<\/?(?:br|p|div|li)\b(?:"[^"]*"|'[^']*'|[^'">])*>/gi;
const OLD_ANY = /<\/?[a-zA-Z](?:"[^"]*"|'[^']*'|[^'">])*>/g;
function oldToPlainText(html: string): string {
  return decodeHTML(html.replace(OLD_CDATA, '$1').replace(OLD_COMMENT, ' ').replace(OLD_HIDDEN, ' ').replace(OLD_BLOCK, ' ').replace(OLD_ANY, ''));
}

function feedBody(description: string): Buffer {
  const escaped = description.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>Soup</title>` +
      `<link>https://soup.example/1</link><guid>s1</guid><description>${escaped}</description></item></channel></rss>`,
  );
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log('text passes on hostile fields: median ms (now / baseline = cost per character relative to a bare scan)');
for (const [shape, unit] of Object.entries(SHAPES)) {
  console.log(`\n  ${shape}`);
  console.log(`  ${pad('KB', 5)} ${pad('baseline', 10)} ${pad('before', 10)} ${pad('toPlainText', 12)} ${pad('titleText', 10)} ${pad('whole feed', 11)} ${pad('now/base', 9)}`);
  const nowBySize: number[] = [];
  for (const kb of SIZES_KB) {
    const text = grow(unit, kb * 1024);
    const body = feedBody(text);
    const baseline = timeMs(() => linearScan(text));
    const before = kb <= BEFORE_MAX_KB ? timeMs(() => oldToPlainText(text)).toFixed(2) : '-';
    const plain = timeMs(() => toPlainText(text, 1000));
    const title = timeMs(() => titleText(text));
    const feed = timeMs(() => parseSource('feed', { body, contentType: 'application/rss+xml', url: 'https://soup.example/feed', fetchedAt: new Date() }, { sourceId: 'bench' }));
    nowBySize.push(plain);
    console.log(`  ${pad(kb, 5)} ${pad(baseline.toFixed(3), 10)} ${pad(before, 10)} ${pad(plain.toFixed(2), 12)} ${pad(title.toFixed(2), 10)} ${pad(feed.toFixed(2), 11)} ${pad((plain / Math.max(baseline, 1e-3)).toFixed(1), 9)}`);
  }
  console.log(`  toPlainText 300 KB / 8 KB: ${(nowBySize.at(-1)! / nowBySize[0]!).toFixed(1)}x for 37.5x the input (linear ~37.5, quadratic ~1400)`);
}
