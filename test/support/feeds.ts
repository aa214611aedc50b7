/** Generates RSS 2.0 documents for tests and benchmarks. */
export interface FeedItem {
  guid: string;
  title: string;
  link: string;
  description?: string;
  pubDate: Date;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function rss(items: readonly FeedItem[], title = 'Test feed'): string {
  const body = items
    .map(
      (i) => `<item><title>${escape(i.title)}</title><link>${escape(i.link)}</link><guid isPermaLink="false">${escape(i.guid)}</guid>` +
        `${i.description ? `<description>${escape(i.description)}</description>` : ''}<pubDate>${i.pubDate.toUTCString()}</pubDate></item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>${escape(title)}</title><link>https://example.org/</link><description>t</description>\n${body}\n</channel></rss>\n`;
}

const HEADLINES = [
  'Tesla shares plunge after recall of 2 million cars',
  'Apple beats expectations as iPhone sales surge',
  'Nvidia rally lifts chip stocks to record high',
  'Microsoft faces antitrust probe over cloud deals',
  'OpenAI unveils new model to strong reviews',
  'Tesla Is Not Good For Investors, analyst warns',
  'Apple’s supplier cuts jobs amid slump',
  'Quiet day on markets as traders await data',
];

/** `n` distinct items spread back in time from `now`, one every `stepMinutes`. */
export function generatedItems(n: number, now: Date, options: { stepMinutes?: number; prefix?: string; host?: string } = {}): FeedItem[] {
  const step = options.stepMinutes ?? 7;
  const prefix = options.prefix ?? 'item';
  const host = options.host ?? 'news.example.org';
  return Array.from({ length: n }, (_, i) => ({
    guid: `${prefix}-${i}`,
    title: `${HEADLINES[i % HEADLINES.length]} (${prefix} ${i})`,
    link: `https://${host}/${prefix}/${i}`,
    description: i % 3 === 0 ? 'Investors reacted <b>sharply</b> to the news &amp; analysts revised forecasts.' : undefined,
    pubDate: new Date(now.getTime() - i * step * 60_000),
  }));
}
