// The outside world for the compose stack, run in the newspulse image on the compose network:
// /feed/<id>.xml answers an RSS feed of FEED_ITEMS x phase items, where phase is the number in
// /probe/phase (the test raises it to make new items appear). From phase 2 on, each answer is
// held until /probe/release exists (at most FEED_HOLD_MS), so the suite can kill a worker while
// its fetches are certainly in flight, however slow the machine is.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';

const perPhase = Number(process.env.FEED_ITEMS ?? 20);
const holdMs = Number(process.env.FEED_HOLD_MS ?? 90000);
const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const headlines = ['Tesla shares jump after strong deliveries', 'Apple faces probe over app store fees', 'Nvidia rally lifts chip stocks', 'Quiet day on markets'];

createServer((req, res) => {
  const match = /^\/feed\/([a-z0-9-]+)\.xml$/.exec(new URL(req.url ?? '/', 'http://feeds').pathname);
  if (!match) return res.writeHead(404).end('not found');
  const id = match[1];
  const phase = Math.max(1, Number(readFileSync('/probe/phase', 'utf8').trim()) || 1);
  const now = Date.now();
  const items = Array.from({ length: perPhase * phase }, (_, i) =>
    `<item><title>${escape(`${headlines[i % headlines.length]} (${id} ${i})`)}</title><link>https://news.example.org/${id}/${i}</link>` +
    `<guid isPermaLink="false">${id}-${i}</guid><pubDate>${new Date(now - i * 420_000).toUTCString()}</pubDate></item>`).join('\n');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>${id}</title><link>https://news.example.org/</link><description>t</description>\n${items}\n</channel></rss>\n`;
  console.log(`feed ${id} phase ${phase}: ${perPhase * phase} items`);
  const answer = () => res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' }).end(body);
  if (phase < 2) return answer();
  const until = now + holdMs;
  const timer = setInterval(() => {
    if (existsSync('/probe/release') || Date.now() > until) {
      clearInterval(timer);
      if (!res.destroyed) answer();
    }
  }, 200);
  res.once('close', () => clearInterval(timer));
}).listen(8000, '0.0.0.0', () => console.log('feeds listening on 8000'));
