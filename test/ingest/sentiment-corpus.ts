/**
 * A frozen corpus for proving that speed work on the scorers changes no score: the texts of every
 * eval fixture plus GENERATED_TEXTS seeded random headlines built to hit every rule (movement words
 * and their quantities, shifters, "fine" contexts, boosters, negations, idioms, "but", Title Case,
 * ALL CAPS, edge punctuation, odd whitespace, NFKC-folded and astral characters, over-long texts).
 *
 * The vocabulary below is a literal snapshot of the rule words taken when the golden scores were
 * written (not imported from the scorer), so changing the scorer's tables cannot silently change
 * the corpus. test/fixtures/ingest/sentiment-golden.tsv.gz holds the scores the scorers gave on
 * this corpus before the speed work; test/ingest/sentiment-golden.test.ts compares against it.
 * Rewrite it only for an intended change of scores: node test/ingest/sentiment-corpus.ts --write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { compileMatcher, type EntityMatcher } from '../../src/ingest/match.ts';
import { createNewsScorer, createNewsScorerV1 } from '../../src/ingest/sentiment.ts';
import { VADER_LEXICON } from '../../src/ingest/vader.ts';
import { vader33Compound } from '../../src/ingest/vader33.ts';
import { seededRandom } from '../../src/ingest/sentiment-eval.ts';

export const GENERATED_TEXTS = 20_000;
export const GOLDEN_FILE = new URL('../fixtures/ingest/sentiment-golden.tsv.gz', import.meta.url);
const SEED = 20261202;

const EVAL_FIXTURES = [
  'news-rated-heldout.tsv', 'news-rated-dev.tsv', 'news-sentiment-heldout.tsv', 'news-sentiment-dev.tsv',
  'news-entity-mixed.tsv', 'news-entity-heldout.tsv',
];

/** Rule words of vader-news@2 and VADER 3.3 as of the golden snapshot. */
const RULE_WORDS: readonly string[] = [
  'BUT', 'NOT', 'a', 'absolutely', 'accelerate', 'accelerated', 'accelerates', 'accidents', 'add', 'added', 'adds',
  'after', 'against', "ain't", 'aint', 'all-time high', 'all-time highs', 'all-time low', 'all-time lows', 'almost',
  'although', 'amazingly', 'amazon', 'amid', 'antitrust', 'any', 'appeal', 'appeals', 'approval', "aren't", 'arent',
  'arrests', 'art', 'arts', 'as', 'asset', 'at least', 'attacks', 'attendance', 'avert', 'averted', 'averting',
  'averts', 'avoid', 'avoided', 'avoiding', 'avoids', 'awfully', 'backlog', 'backlogs', 'bad ass', 'badass',
  'balloon', 'ballooned', 'balloons', 'bankrupt', 'bankruptcies', 'bankruptcy', 'barely', 'bearish', 'beat',
  'beating heart', 'beats', 'because', 'big', 'bill', 'billion', 'bills', 'bitcoin', 'bn', 'bookings', 'boom',
  'booming', 'borrowing', 'breach', 'breaches', 'breakthrough', 'breakthroughs', 'broken heart', 'bullish',
  'bus stop', 'but', "can't", 'cannot', 'cant', 'capacity', 'care', 'cases', 'casualties', 'china', 'cholera',
  'claims', 'clear', 'cleared', 'clears', 'climb', 'climbed', 'climbing', 'climbs', 'closures', 'collapsed',
  'collapses', 'collapsing', 'combat', 'combats', 'competition', 'complaints', 'completely', 'concerns',
  'confidence', 'considerable', 'considerably', 'contract', 'contracted', 'contraction', 'contracts', 'convicted',
  'cool', 'cooled', 'cooling', 'cools', 'cost', 'costs', "couldn't", 'couldnt', 'counter', 'counters', 'covid',
  'crash', 'crashed', 'crashes', 'crashing', 'credit', 'crime', 'crimes', 'crude', 'crush', 'crushed', 'crushes',
  'curb', 'curbed', 'curbs', 'cure', 'cured', 'cures', 'currency', 'customers', 'cut', 'cuts', 'cyberattack',
  'cyberattacks', 'cyclone', "daren't", 'darent', 'dax', 'deadly', 'death', 'deaths', 'debt', 'debts', 'decidedly',
  'decline', 'declined', 'declines', 'declining', 'decrease', 'decreased', 'decreases', 'deepen', 'deepened',
  'deepens', 'deeply', 'default', 'defaults', 'defeated', 'defeats', 'defense', 'deficit', 'deficits', 'deflation',
  'deforestation', 'defuse', 'defused', 'defuses', 'delays', 'delinquencies', 'deliveries', 'demand', 'derailment',
  'despite', 'dethrones', "didn't", 'didnt', 'dining', 'dip', 'dipped', 'dips', 'disease', 'diseases', 'dismiss',
  'dismissed', 'dismisses', 'dividend', 'dividends', 'dodge', 'dodged', 'dodges', "doesn't", 'doesnt', 'dollar',
  "don't", 'dont', 'double', 'doubled', 'doubles', 'dow', 'downgrade', 'downgraded', 'downgrades', 'drop', 'dropped',
  'dropping', 'drops', 'drought', 'earnings', 'earthquake', 'ease', 'eased', 'eases', 'easing', 'eclipsed',
  'eclipses', 'economy', 'edge up', 'edged', 'edged up', 'edges', 'edges up', 'effing', 'emerge', 'emerged',
  'emerges', 'emissions', 'employment', 'end', 'ended', 'ending', 'ends', 'energy', 'enormous', 'enormously',
  'enrollment', 'entirely', 'equities', 'errors', 'escape', 'escaped', 'escapes', 'especially', 'eu', 'euro',
  'evictions', 'exceptional', 'exceptionally', 'explodes', 'explosion', 'exports', 'extreme', 'extremely',
  'fabulously', 'face', 'faced', 'faces', 'facing', 'fall', 'falling', 'falls', 'falls behind', 'fares',
  'fatalities', 'fears', 'fell', 'fell behind', 'fine', 'fined', 'fines', 'fix', 'fixed', 'fixes', 'flawed',
  'flippin', 'flipping', 'flooding', 'floods', 'flu', 'forecast', 'foreclosures', 'frackin', 'fracking', 'fraud',
  'frickin', 'fricking', 'friggin', 'frigging', 'ftse', 'fuckin', 'fucking', 'fuggin', 'fugging', 'fully', 'funding',
  'funds', 'gained on', 'gains on', 'gdp', 'get', 'gets', 'gold', 'got', 'grained', 'grand', 'greatly', 'grew',
  'gross', 'grow', 'growing', 'grows', 'growth', 'guidance', 'gunman', 'hack', 'hacked', 'hackers', "hadn't",
  'hadnt', 'halt', 'halted', 'halts', 'halve', 'halved', 'halves', 'hardly', "hasn't", 'hasnt', "haven't", 'havent',
  'heart', 'hearts', 'heavy', 'hefty', 'hella', 'higher', 'highest', 'highly', 'hired', 'hires', 'hiring', 'home',
  'homelessness', 'homicides', 'hospitalisations', 'hospitalizations', 'house', 'housing', 'huge', 'hugely',
  'hunger', 'hurricane', 'impose', 'imposed', 'imposes', 'income', 'increase', 'increased', 'increases',
  'increasing', 'incredible', 'incredibly', 'index', 'indexes', 'indicted', 'infections', 'inflation', 'injuries',
  'insecurity', 'insolvency', 'insolvent', 'intelligence', 'intensely', 'interest', 'investigation',
  'investigations', 'investment', "isn't", 'isnt', 'issue', 'issued', 'issues', 'jewellery', 'jewelry', 'job cuts',
  'jobless', 'joblessness', 'jobs', 'jump', 'jumped', 'jumping', 'jumps', 'just enough', 'justice', 'killings',
  'kind of', 'kind-of', 'kinda', 'kindof', 'kiss of death', 'lagged', 'lags', 'laid off', 'lawsuit', 'lawsuits',
  'layoff', 'layoffs', 'lays off', 'leapfrogs', 'least', 'less', 'levied', 'levies', 'levy', 'lift', 'lifted',
  'lifts', 'like', 'line', 'little', 'loses to', 'loss', 'losses', 'lost to', 'lower', 'lowered', 'lowers', 'lowest',
  'm', 'major', 'majorly', 'malaria', 'marginal', 'marginally', 'margins', 'market', 'markets', 'massive', 'maximum',
  'measles', "mightn't", 'mightnt', 'million', 'missed', 'misses', 'mln', 'more', 'mortality', 'mortgage', 'most',
  'mount', 'mounted', 'mounts', 'murders', "mustn't", 'mustnt', 'narrow', 'narrowed', 'narrowing', 'narrows',
  'nasdaq', "needn't", 'neednt', 'neither', 'never', 'never so', 'never this', 'new high', 'new highs', 'new low',
  'new lows', 'nikkei', 'no', 'none', 'nope', 'nor', 'nosedive', 'nosedives', 'not', 'nothing', 'nowhere', 'obesity',
  'occasional', 'occasionally', 'occupancy', 'of', 'on', 'or', 'orders', "oughtn't", 'oughtnt', 'ousted', 'outage',
  'outages', 'outbreak', 'outlook', 'outpaced', 'outpaces', 'outperform', 'outperformed', 'outperforms', 'output',
  'outsells', 'outsold', 'over', 'overcome', 'overcomes', 'overdoses', 'overtakes', 'overtook', 'overturn',
  'overturned', 'overturns', 'paid', 'pandemic', 'parking', 'particles', 'particularly', 'partly', 'party', 'pay',
  'paying', 'payrolls', 'pays', 'peso', 'plummet', 'plummeted', 'plummeting', 'plummets', 'plunge', 'plunged',
  'plunges', 'plunging', 'pollution', 'population', 'pound', 'poverty', 'premiums', 'prevent', 'prevented',
  'prevents', 'price', 'prices', 'print', 'privacy', 'probe', 'probed', 'probes', 'production', 'productivity',
  'profit', 'profit warning', 'profit warnings', 'profits', 'property', 'purely', 'quake', 'quite', 'raise',
  'raised', 'raises', 'rallied', 'rallies', 'rally', 'rallying', 'ramp up', 'ramped up', 'ramps up', 'ransomware',
  'rarely', 'ratings', 'really', 'rebound', 'rebounded', 'rebounding', 'rebounds', 'recall', 'recalled', 'recalls',
  'receive', 'received', 'receives', 'record', 'record high', 'record highs', 'record low', 'record lows',
  'record profit', 'record profits', 'recover', 'recovered', 'recovering', 'recovers', 'recovery', 'reduce',
  'reduced', 'reduces', 'reducing', 'regulatory', 'rehires', 'relieve', 'relieved', 'relieves', 'remarkably',
  'remove', 'removed', 'removes', 'rent', 'rents', 'reserves', 'resigns', 'resolve', 'resolved', 'resolves',
  'resolving', 'retreat', 'retreated', 'retreats', 'revenue', 'revenues', 'rise', 'rises', 'rising', 'risk', 'risks',
  'rose', 'rout', 'routed', 'routes', 'routs', 'rupee', 'salaries', 'sales', 'sank', 'savings', 'scams', 'scarce',
  'scarcely', 'security', 'seldom', 'sell off', 'sell-off', 'sell-offs', 'selloff', 'selloffs', 'sells off',
  'sentenced', 'sentiment', 'settle', 'settled', 'settles', "shan't", 'shant', 'share', 'shares', 'shed', 'sheds',
  'shipments', 'shooting', 'shootings', 'shortage', 'shortages', "shouldn't", 'shouldnt', 'shrank', 'shrink',
  'shrinking', 'shrinks', 'since', 'sink', 'sinking', 'sinks', 'skyrocket', 'skyrocketed', 'skyrockets', 'slap',
  'slapped', 'slaps', 'slash', 'slashed', 'slashes', 'slid', 'slide', 'slides', 'sliding', 'slight', 'slightly',
  'slip', 'slipped', 'slipping', 'slips', 'slow', 'slowdown', 'slowed', 'slowing', 'slows', 'slump', 'slumped',
  'slumping', 'slumps', 'smoking', 'so', 'soar', 'soared', 'soaring', 'soars', 'sold off', 'somewhat', 'sort of',
  'sort-of', 'sorta', 'sortof', 'speeding', 'spending', 'spike', 'spiked', 'spikes', 'steep', 'stock', 'stocks',
  'stop', 'stopped', 'stops', 'strikes', 'string', 'struggle', 'struggled', 'struggles', 'struggling', 'stumble',
  'stumbled', 'stumbles', 'subscribers', 'substantially', 'sue', 'sued', 'sues', 'suicide', 'suicides', 'suing',
  'super', 'supply', 'surge', 'surged', 'surges', 'surging', 'surpassed', 'surpasses', 'surplus', 'survival',
  'survive', 'survived', 'survives', 'tackle', 'tackled', 'tackles', 'tank', 'tanked', 'tanking', 'tanks', 'tariffs',
  'tax', 'taxes', 'tensions', 'the', 'the bomb', 'the shit', 'thefts', 'thoroughly', 'though', 'thrashed',
  'thrashes', 'thrive', 'thrived', 'thrives', 'thriving', 'tick up', 'ticked up', 'ticks up', 'to die for', 'toll',
  'top', 'topped', 'tops', 'tornado', 'total', 'totally', 'tourism', 'tourists', 'trailed', 'trails', 'treat',
  'treats', 'tremendous', 'tremendously', 'trillion', 'trim', 'trimmed', 'trims', 'trounced', 'trounces', 'tumble',
  'tumbled', 'tumbles', 'tumbling', 'tune', 'tuned', 'tunes', 'tuning', 'typhoon', 'uber', 'uh-uh', 'uhuh',
  'unbelievably', 'uncertainty', 'underperform', 'underperformed', 'underperforms', 'unemployment', 'united',
  'unusually', 'upbeat', 'upgrade', 'upgraded', 'upgrades', 'users', 'utter', 'utterly', 'vader-news@2', 'valuation',
  'very', 'very least', 'violence', 'visitors', 'volatility', 'wage', 'wages', 'wait', 'waiting', 'warn', 'warns',
  "wasn't", 'wasnt', 'waste', "weren't", 'werent', 'whereas', 'while', 'widen', 'widened', 'widening', 'widens',
  'wildfire', 'wildfires', 'wine', 'wines', 'without', 'without doubt', "won't", 'wont', 'worries', "wouldn't",
  'wouldnt', 'write-down', 'writedown', 'writedowns', 'writes down', 'wrote down', 'yeah right', 'yen', 'yet',
  'yuan',
];

const ENTITIES = ['Tesla', 'Ford', 'Apple', 'Fed', 'Boeing', 'Airbus', 'Škoda', 'AT&T', 'United Nations', 'Amazon'];
const NOISE = [
  '$5m', '$1.2bn', '20%', '3.5%', 'Q3', ':)', ':(', ':-)', '<3', '!!!', '?', '??', '...', '—', '-', '(good)', "n't",
  'e.g.', "Don't", "WON'T", 'U.S.', '1,000', '2026', '📉', '🚀', 'ﬁne', 'Ｔｅｓｌａ', 'café', 'cafe\u0301', "it's", '"no"',
  "'fine'", 'x', 'I', 'OK', 'ok', 'A',
];
const LEADING = ['(', '"', "'", '[', '“', '‘', '«', '#', '@'];
const TRAILING = [',', ';', ':', '.', '!', '?', '!!', '??', '...', "'", '"', ')', '”', '’', '»', '?!', '.,', '%'];
const SEPARATORS = [' ', ' ', ' ', ' ', ' ', ' ', '  ', '\u00a0', '\t', '\n', '\u200b', '\u2009', '\u3000', ' \u00ad'];

function fixtureTexts(): string[] {
  const out: string[] = [];
  for (const name of EVAL_FIXTURES) {
    const body = readFileSync(new URL(`../fixtures/ingest/${name}`, import.meta.url), 'utf8');
    for (const line of body.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const cols = line.split('\t');
      // Rated and label sets: text in column 2 (+ optional summary); entity sets: text in column 1.
      const text = name.startsWith('news-entity') ? cols[0]! : cols.slice(1).join(' ');
      out.push(text);
      if (!name.startsWith('news-entity') && cols.length > 2) out.push(cols.slice(1).join('\n'));
    }
  }
  return out;
}

const titleCase = (w: string): string => w.replace(/(^|[\s-])(\p{L})/gu, (_, a: string, b: string) => a + b.toUpperCase());

function generated(fixtures: readonly string[], fixtureWords: readonly string[]): string[] {
  const rnd = seededRandom(SEED);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const lexicon = [...VADER_LEXICON.keys()];
  const out: string[] = [];
  for (let t = 0; t < GENERATED_TEXTS; t++) {
    // A third are real headlines with a few words replaced or inserted: natural phrasing near the rules.
    if (rnd() < 0.33) {
      const words = pick(fixtures).split(' ');
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (words.length + 1));
        words.splice(at, rnd() < 0.5 ? 1 : 0, pick(RULE_WORDS));
      }
      out.push(rnd() < 0.1 ? titleCase(words.join(' ')) : words.join(' '));
      continue;
    }
    const long = rnd() < 0.002;
    const length = long ? 700 + Math.floor(rnd() * 400) : 1 + Math.floor(rnd() * 24);
    const style = rnd();
    let text = '';
    for (let k = 0; k < length; k++) {
      const r = rnd();
      let w = r < 0.42 ? pick(RULE_WORDS) : r < 0.72 ? pick(fixtureWords) : r < 0.88 ? pick(lexicon) : r < 0.94 ? pick(ENTITIES) : pick(NOISE);
      const c = rnd();
      if (c < 0.1) w = titleCase(w);
      else if (c < 0.17) w = w.toUpperCase();
      if (rnd() < 0.06) w = pick(LEADING) + w;
      if (rnd() < 0.18) w += pick(TRAILING);
      text += (k === 0 ? (rnd() < 0.03 ? pick(SEPARATORS) : '') : pick(SEPARATORS)) + w;
    }
    if (style < 0.12) text = titleCase(text);
    else if (style < 0.18) text = text.toUpperCase();
    if (rnd() < 0.03) text += pick(SEPARATORS);
    out.push(text);
  }
  return out;
}

/** The corpus, in a fixed order: fixture texts, then the generated ones. */
export function corpus(): string[] {
  const fixtures = fixtureTexts();
  const words = [...new Set(fixtures.flatMap((t) => t.split(/\s+/)).filter((w) => w !== ''))];
  return [...fixtures, ...generated(fixtures, words)];
}

/** The matcher for entity-targeted scores: the corpus entities plus every entity-fixture name. */
export function corpusMatcher(): EntityMatcher<number> {
  const names = [...ENTITIES];
  for (const name of ['news-entity-mixed.tsv', 'news-entity-heldout.tsv']) {
    const body = readFileSync(new URL(`../fixtures/ingest/${name}`, import.meta.url), 'utf8');
    for (const line of body.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const cols = line.split('\t');
      for (const n of [cols[1], cols[3]]) if (n !== undefined && !names.includes(n)) names.push(n);
    }
  }
  return compileMatcher(names.map((name, id) => ({ id, slug: `e${id}`, name, aliases: [] })));
}

/**
 * One golden line per corpus text: VADER 3.3 port, vader-news@1, vader-news@2, and @2's
 * entity-targeted scores as id:score (in the matcher's order of first mention).
 */
export function goldenLines(texts: readonly string[]): string[] {
  const v1 = createNewsScorerV1();
  const v2 = createNewsScorer();
  const matcher = corpusMatcher();
  return texts.map((text) => {
    const article = v2.score(text);
    const targets = v2.scoreTargets!(matcher.mentions(text), article);
    const t = [...targets].map(([id, s]) => `${id}:${s}`).join(',');
    return `${vader33Compound(text)}\t${v1.score(text)}\t${article}\t${t}`;
  });
}

if (process.argv[2] === '--write' && import.meta.url.endsWith(process.argv[1]!.split('/').pop()!)) {
  const lines = goldenLines(corpus());
  writeFileSync(GOLDEN_FILE, gzipSync(`${lines.join('\n')}\n`, { level: 9 }));
  console.log(`wrote ${lines.length} golden lines to ${GOLDEN_FILE.pathname}`);
}
