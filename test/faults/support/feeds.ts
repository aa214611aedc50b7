import type { ServerResponse } from 'node:http';
import { rss, type FeedItem } from '../../support/feeds.ts';
import type { Handler } from './feed-server.ts';

const HEADLINES = [
  'Tesla shares plunge after recall',
  'Apple beats expectations as iPhone sales surge',
  'Nvidia rally lifts chip stocks to record high',
  'Microsoft faces antitrust probe over cloud deals',
  'OpenAI unveils new model to strong reviews',
  'Quiet day on markets as traders await data',
  'Apple supplier cuts jobs amid slump',
  'Tesla wins praise for new battery plant',
];

/** Item `i` of a source: a stable guid, link and date (one every 3 minutes back from `origin`). */
export function itemOf(source: string, i: number, origin: Date): FeedItem {
  return {
    guid: `${source}-${i}`,
    title: `${HEADLINES[i % HEADLINES.length]} (${source} ${i})`,
    link: `https://news.example.org/${source}/${i}`,
    pubDate: new Date(origin.getTime() - (i % 20_000) * 3 * 60_000),
  };
}

/**
 * A feed that grows by `step` new items per request and serves the newest `window` of them,
 * like a real news feed. `servedUpTo()` is how many distinct items were ever served;
 * `freeze()` stops the growth so a final fetch can catch up.
 */
export function growingFeed(source: string, origin: Date, options: { start?: number; step?: number; window?: number } = {}) {
  const step = options.step ?? 5;
  const window = options.window ?? 60;
  let total = options.start ?? 20;
  let frozen = false;
  const handler: Handler = (_req, res: ServerResponse) => {
    const items: FeedItem[] = [];
    for (let i = total - 1; i >= Math.max(0, total - window); i--) items.push(itemOf(source, i, origin));
    const body = rss(items, source);
    res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    served = Math.max(served, total);
    if (!frozen) total += step;
  };
  let served = 0;
  return {
    handler,
    servedUpTo: () => served,
    freeze: () => void (frozen = true),
  };
}
