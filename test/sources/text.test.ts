import { describe, expect, it } from 'vitest';
import { absoluteUrl, atomPlainText, markupEvidence, normalizeText, titleText, toPlainText, truncate } from '../../src/sources/text.ts';

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

describe('toPlainText: declarations, PIs and tags that never close (issue 11.3)', () => {
  it.each([
    ['<!DOCTYPE html><p>x</p>', 'x'],
    ['<?xml version="1.0"?><?php echo 1 ?>y', 'y'],
    ['a<!-- never closed', 'a'],
    ['keep <a href="x', 'keep'],
    ['x<script>never closed <p>y', 'x'],
    ['<SCRIPT>a</SCRIPT >b', 'b'],
    ['<br/>line<hr>', 'line'],
    ['<![CDATA[unterminated <b>cdata', 'unterminated cdata'],
    ['</ 3 and </>', '</ 3 and </>'],
  ])('%j -> %j', (input, expected) => expect(toPlainText(input)).toBe(expected));
});

describe('titleText: HTML only when the title shows markup (issue 11.1)', () => {
  it.each([
    ['Why the <dialog> element finally works', 'Why the <dialog> element finally works'],
    ['std::vector<int> and Map<K, V>', 'std::vector<int> and Map<K, V>'],
    ['a <b>bold</b> move', 'a bold move'],
    ['<em>Emphasis</em> & more', 'Emphasis & more'],
    ['Line<br>break', 'Line break'],
    ['<a href="https://x">Linked</a> title', 'Linked title'],
    ['Caf&eacute; &lt;3', 'Café <3'],
    ['<!-- c -->Commented', 'Commented'],
    ['3 <a few', '3 <a few'],
    ['Soup <a<a<a', 'Soup <a<a<a'],
  ])('%j -> %j', (input, expected) => expect(titleText(input)).toBe(expected));
});

describe('atomPlainText: type="text" keeps brackets unless there are child elements (issue 11.2)', () => {
  it.each([
    ['Example <b>Atom</b> news', 'Example Atom news'],
    ['One<br/>two', 'One two'],
    ['Literal <em> in text', 'Literal <em> in text'],
    ['a &amp; b stays as written', 'a &amp; b stays as written'],
  ])('%j -> %j', (input, expected) => expect(atomPlainText(input)).toBe(expected));
});

describe('markupEvidence', () => {
  it('tells end tags, self-closing tags, headline elements and declarations apart', () => {
    expect(markupEvidence('x</y>')).toMatchObject({ endTag: true });
    expect(markupEvidence('x<y/>')).toEqual({ endTag: false, selfClosing: true, titleElement: false, declaration: false });
    expect(markupEvidence('<b>x')).toEqual({ endTag: false, selfClosing: false, titleElement: true, declaration: false });
    expect(markupEvidence('<?php x')).toEqual({ endTag: false, selfClosing: false, titleElement: false, declaration: true });
    expect(markupEvidence('<int> <dialog>')).toEqual({ endTag: false, selfClosing: false, titleElement: false, declaration: false });
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
    [`a${',,,,'.repeat(500)}`, 1000, 'a…'], // trailing punctuation trimmed by a loop, not a backtracking regex
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
