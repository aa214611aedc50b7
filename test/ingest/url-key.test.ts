import { describe, expect, it } from 'vitest';
import { MAX_URL_KEY_LENGTH, TRACKING_PARAMS, urlKey } from '../../src/ingest/url-key.ts';

describe('urlKey', () => {
  it.each([
    // Scheme and host.
    ['https://example.com/news/story-1', 'https://example.com/news/story-1'],
    ['http://example.com/news/story-1', 'https://example.com/news/story-1'],
    ['HTTPS://EXAMPLE.COM/News/Story-1', 'https://example.com/News/Story-1'],
    ['https://www.example.com/news/story-1', 'https://example.com/news/story-1'],
    ['https://www.bbc.co.uk/news/world-1', 'https://bbc.co.uk/news/world-1'],
    ['https://www.com/a', 'https://www.com/a'],
    ['https://m.example.com/news/story-1', 'https://m.example.com/news/story-1'],
    ['https://example.com./news/story-1', 'https://example.com/news/story-1'],
    ['https://bücher.example/artikel', 'https://xn--bcher-kva.example/artikel'],
    // Ports and credentials.
    ['https://example.com:443/a', 'https://example.com/a'],
    ['http://example.com:80/a', 'https://example.com/a'],
    ['http://example.com:8080/a', 'https://example.com:8080/a'],
    ['https://user:secret@example.com/a', 'https://example.com/a'],
    ['http://127.0.0.1:4000/feed/item', 'https://127.0.0.1:4000/feed/item'],
    // Path.
    ['https://example.com/', 'https://example.com'],
    ['https://example.com', 'https://example.com'],
    ['https://example.com/news/', 'https://example.com/news'],
    ['https://example.com/news//', 'https://example.com/news'],
    ['https://example.com/a/./b/../c', 'https://example.com/a/c'],
    ['https://example.com/%7Euser/%41rticle', 'https://example.com/~user/Article'],
    ['https://example.com/a%2fb', 'https://example.com/a%2Fb'],
    ['https://example.com/café', 'https://example.com/caf%C3%A9'],
    ['https://example.com/caf%c3%a9', 'https://example.com/caf%C3%A9'],
    ['https://example.com/a b', 'https://example.com/a%20b'],
    // Fragment.
    ['https://example.com/a#comments', 'https://example.com/a'],
    ['https://example.com/#top', 'https://example.com'],
    // Query: tracking dropped, rest sorted.
    ['https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x', 'https://example.com/a'],
    ['https://example.com/a?UTM_Source=rss', 'https://example.com/a'],
    ['https://example.com/a?utm%5Fsource=rss', 'https://example.com/a'],
    ['https://example.com/a?id=7&fbclid=abc&gclid=def', 'https://example.com/a?id=7'],
    ['https://example.com/a?b=2&a=1', 'https://example.com/a?a=1&b=2'],
    ['https://example.com/a?a=2&a=1', 'https://example.com/a?a=1&a=2'],
    ['https://example.com/a?mc_cid=1&mc_eid=2&ref=hn&ref_src=twsrc&cmpid=rss&ocid=msn', 'https://example.com/a'],
    ['https://www.nytimes.com/2024/01/01/business/x.html?smid=tw-share', 'https://nytimes.com/2024/01/01/business/x.html'],
    ['https://www.theguardian.com/a?CMP=share_btn_tw', 'https://theguardian.com/a'],
    ['https://example.com/a?ns_mchannel=rss&ns_source=x&pk_campaign=y', 'https://example.com/a'],
    ['https://example.com/a?', 'https://example.com/a'],
    ['https://example.com/a?&&x=1&&', 'https://example.com/a?x=1'],
    ['https://example.com/a?flag', 'https://example.com/a?flag'],
    ['https://example.com/a?q=%7e%2f', 'https://example.com/a?q=~%2F'],
    ['https://example.com/a?q=a+b', 'https://example.com/a?q=a+b'],
    ['https://example.com/article?id=123&page=2', 'https://example.com/article?id=123&page=2'],
    ['https://example.com/?p=123', 'https://example.com?p=123'],
    ['  https://example.com/a  ', 'https://example.com/a'],
    // Not http(s), or not a URL.
    ['ftp://example.com/a', null],
    ['mailto:news@example.com', null],
    ['javascript:alert(1)', null],
    ['data:text/html,hi', null],
    ['file:///etc/passwd', null],
    ['/relative/path', null],
    ['//example.com/a', null],
    ['example.com/a', null],
    ['http://', null],
    ['https://exa mple.com/a', null],
    ['', null],
    ['not a url', null],
  ] as const)('%s → %s', (input, expected) => {
    expect(urlKey(input)).toBe(expected);
  });

  it('gives the same key to the same story seen through different feeds', () => {
    const variants = [
      'https://www.reuters.com/markets/us/stocks-rally-2024-05-01/',
      'http://reuters.com/markets/us/stocks-rally-2024-05-01?utm_source=rss&utm_medium=feed',
      'https://www.reuters.com/markets/us/stocks-rally-2024-05-01#main',
      'https://WWW.Reuters.com:443/markets/us/stocks-rally-2024-05-01/?fbclid=IwAR0',
    ];
    const keys = new Set(variants.map(urlKey));
    expect([...keys]).toEqual(['https://reuters.com/markets/us/stocks-rally-2024-05-01']);
  });

  it('keeps pages apart that only look alike', () => {
    expect(urlKey('https://example.com/a?id=1')).not.toBe(urlKey('https://example.com/a?id=2'));
    expect(urlKey('https://example.com/News')).not.toBe(urlKey('https://example.com/news'));
    expect(urlKey('https://edition.cnn.com/a')).not.toBe(urlKey('https://cnn.com/a'));
    expect(urlKey('https://example.com:8443/a')).not.toBe(urlKey('https://example.com/a'));
  });

  it('refuses absurdly long URLs and non-strings', () => {
    expect(urlKey(`https://example.com/${'a'.repeat(MAX_URL_KEY_LENGTH)}`)).toBe(null);
    expect(urlKey(`https://example.com/${'a'.repeat(100)}`)).toBe(`https://example.com/${'a'.repeat(100)}`);
    for (const value of [undefined, null, 42, {}]) expect(urlKey(value as unknown as string)).toBe(null);
  });

  it('documents its tracking list in lower case', () => {
    for (const name of TRACKING_PARAMS) expect(name).toBe(name.toLowerCase());
  });
});
