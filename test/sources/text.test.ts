import { describe, expect, it } from 'vitest';
import { absoluteUrl, normalizeText, toPlainText, truncate } from '../../src/sources/text.ts';

describe('toPlainText', () => {
  it.each([
    ['<p>Hello <b>world</b></p>', 'Hello world'],
    ['G<b>oo</b>d', 'Good'],
    ['one<br>two<br/>three</p><p>four', 'one two three four'],
    ['a &amp; b &lt;c&gt; &eacute; &#8220;q&#x201D; &nbsp;x', 'a & b <c> é “q” x'],
    ['&lt;b&gt;escaped stays visible&lt;/b&gt;', '<b>escaped stays visible</b>'],
    ['x<script type="text/javascript">alert("<p>")</script>y', 'x y'],
    ['x<style>p { color: red }</style>y', 'x y'],
    ['<![CDATA[<i>cdata</i> & more]]>', 'cdata & more'],
    ['a <!-- hidden --> b', 'a b'],
    ['<a href="x" title="a > b">link</a>', 'link'],
    ['a < b and c > d', 'a < b and c > d'],
    ['I <3 feeds', 'I <3 feeds'],
    ['  lots \n\t of   space  ', 'lots of space'],
    ['nul\u0000 and bell\u0007 removed', 'nul and bell removed'],
    ['&unknownentity; stays', '&unknownentity; stays'],
    ['', ''],
  ])('%j -> %j', (input, expected) => expect(toPlainText(input)).toBe(expected));

  it('handles null and undefined', () => {
    expect(toPlainText(null)).toBe('');
    expect(toPlainText(undefined)).toBe('');
  });

  it('caps on a word boundary with an ellipsis', () => {
    expect(toPlainText('<p>The quick brown fox jumps</p>', 16)).toBe('The quick brown…');
    expect(toPlainText('The quick brown fox', 100)).toBe('The quick brown fox');
  });
});

describe('truncate', () => {
  it.each([
    ['short', 10, 'short'],
    ['exactly ten', 11, 'exactly ten'],
    ['one two three four', 10, 'one two…'],
    ['one, two, three', 10, 'one, two…'],
    ['averyveryverylongword', 10, 'averyvery…'], // no useful boundary: hard cut
    ['ab', 1, '…'],
    ['😀😀😀😀😀', 4, '😀…'], // never splits a surrogate pair
  ])('%j to %i -> %j', (text, max, expected) => {
    const out = truncate(text, max);
    expect(out).toBe(expected);
    expect(out.length).toBeLessThanOrEqual(max);
  });
});

describe('normalizeText', () => {
  it('collapses whitespace without touching markup or entities', () => {
    expect(normalizeText('  <b>x</b> &amp;\n y ')).toBe('<b>x</b> &amp; y');
  });
});

describe('absoluteUrl', () => {
  it.each([
    ['/a/b', 'https://ex.org/x/y', 'https://ex.org/a/b'],
    ['c', 'https://ex.org/x/y', 'https://ex.org/x/c'],
    ['//cdn.ex.net/z', 'https://ex.org/', 'https://cdn.ex.net/z'],
    ['https://other.org/p?q=1#f', 'https://ex.org/', 'https://other.org/p?q=1#f'],
    ['  https://ex.org/trim  ', null, 'https://ex.org/trim'],
    ['http://ex.org', null, 'http://ex.org/'],
    ['javascript:alert(1)', 'https://ex.org/', null],
    ['mailto:a@b.c', 'https://ex.org/', null],
    ['data:text/html,x', null, null],
    ['ftp://ex.org/f', null, null],
    ['relative/without/base', null, null],
    ['', 'https://ex.org/', null],
    [null, 'https://ex.org/', null],
    ['http://[bad', null, null],
    ['/a', 'not a url', null],
  ])('%j against %j -> %j', (href, base, expected) => expect(absoluteUrl(href, base)).toBe(expected));
});
