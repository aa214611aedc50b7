import { describe, expect, it } from 'vitest';
import { compileMatcher } from '../../src/ingest/match.ts';
import { SentimentIntensityAnalyzer } from 'vader-sentiment';
import {
  MAX_SCORED_CHARS,
  NEUTRAL_PROXY,
  NEWS_LEXICON,
  PROXY_WORDS,
  createNewsScorer,
  createNewsScorerV1,
  createVaderScorer,
  sentimentClass,
} from '../../src/ingest/sentiment.ts';

const news = createNewsScorerV1();
const vader = createVaderScorer();

/** VADER's compound for a single lexicon word of valence v (alpha 15, rounded to 4 places). */
const single = (v: number): number => Number((v / Math.sqrt(v * v + 15)).toFixed(4));

describe('createNewsScorerV1 (vader-news@1, kept for comparison)', () => {
  it('has a versioned id', () => {
    expect(news.id).toBe('vader-news@1');
    expect(vader.id).toBe('vader@1');
  });

  it.each([
    // [text, expected class] — the headline cases plain VADER gets wrong.
    ['Tesla Is Not Good For Investors', 'negative'],
    ['TESLA IS NOT GOOD FOR INVESTORS', 'negative'],
    ['Tesla is NOT good for investors', 'negative'],
    ['Tesla Isn’t Good For Investors', 'negative'],
    ['Tesla Never Good For Investors', 'negative'],
    ['Investors Are Not Happy', 'negative'],
    ['Apple Is Not Bad At All', 'positive'],
    ['Tesla shares plunge after recall', 'negative'],
    ['TESLA SHARES PLUNGE 20% AFTER RECALL', 'negative'],
    ['Tesla Shares Plunge After Recall', 'negative'],
    ['Retail sales slump in February', 'negative'],
    ['Stocks tumble on rate fears', 'negative'],
    ['Automaker recalls 500,000 SUVs', 'negative'],
    ['Tech giant announces layoffs', 'negative'],
    ['Shareholders file lawsuit against bank', 'negative'],
    ['State sues opioid maker', 'negative'],
    ['Regulators open probe into trading platform', 'negative'],
    ['Executive arrested on fraud charges', 'negative'],
    ['Retailer files for bankruptcy', 'negative'],
    ['Carmaker fined $200 million', 'negative'],
    ['Analysts downgrade chipmaker', 'negative'],
    ['Coffee chain misses estimates', 'negative'],
    ['Software maker beats estimates', 'positive'],
    ['Bank shares surge on takeover bid', 'positive'],
    ['Shares soar after results', 'positive'],
    ['Markets rally after jobs data', 'positive'],
    ['Nasdaq closes at record high', 'positive'],
    ['Broker upgrades retailer', 'positive'],
    ['Good news but a bad outcome', 'negative'],
    ['Good News But A Bad Outcome', 'negative'],
    // Neutral news that plain VADER calls positive because of names and institutions.
    ['United Nations meets in Geneva', 'neutral'],
    ['Interest rates unchanged, central bank says', 'neutral'],
    ['Amazon opens warehouse in Ohio', 'neutral'],
    ['Super Bowl tickets go on sale', 'neutral'],
    ['Health care bill heads to Senate', 'neutral'],
    ['Shares of the company were little changed', 'neutral'],
    ['Company to report earnings on Wednesday', 'neutral'],
  ] as const)('%s → %s', (text, expected) => {
    expect(sentimentClass(news.score(text))).toBe(expected);
  });

  it('fixes case-sensitive negation: Title Case and shouted text score like lower case', () => {
    const lower = news.score('tesla is not good for investors');
    expect(lower).toBe(-0.3412);
    expect(news.score('Tesla Is Not Good For Investors')).toBe(lower);
    expect(news.score('TESLA IS NOT GOOD FOR INVESTORS')).toBe(lower);
    expect(news.score('Tesla Is NOT Good For Investors')).toBe(lower);
    // The plain port misses the negation (the bug this module fixes).
    expect(SentimentIntensityAnalyzer.polarity_scores('Tesla Is Not Good For Investors').compound).toBe(0.4404);
  });

  it('treats a shouted headline as style, but a lone ALL-CAPS word in mixed text as emphasis', () => {
    expect(news.score('TESLA SHARES PLUNGE 20% AFTER RECALL')).toBe(news.score('tesla shares plunge 20% after recall'));
    expect(news.score('Tesla shares PLUNGE after recall')).toBeLessThan(news.score('Tesla shares plunge after recall'));
    expect(news.score('The GOOD news keeps coming')).toBeGreaterThan(news.score('The good news keeps coming'));
  });

  it('applies VADER negation to overlay words', () => {
    expect(news.score('shares plunge')).toBeLessThan(0);
    expect(news.score('shares did not plunge')).toBeGreaterThan(0);
    expect(news.score('Shares Did Not Plunge')).toBe(news.score('shares did not plunge'));
  });

  it('matches overlay phrases case-insensitively and across collapsed spaces', () => {
    expect(news.score('Stocks Hit Record   High')).toBe(news.score('stocks hit record high'));
    // ALL-CAPS in otherwise mixed text stays emphasis, through the stand-in word too.
    expect(news.score('Stocks hit RECORD HIGH')).toBeGreaterThan(news.score('stocks hit record high'));
    expect(news.score('Nasdaq at all-time high')).toBeGreaterThan(0.05);
    expect(news.score('Yen at record low')).toBeLessThan(-0.05);
  });
});

describe('news overlay (NEWS_LEXICON)', () => {
  const entries = [...NEWS_LEXICON.entries()];

  it('covers the news vocabulary the brief names', () => {
    for (const term of [
      'plunge', 'plunges', 'slump', 'tumble', 'recall', 'recalls', 'layoffs', 'lawsuit', 'sues', 'probe', 'fraud',
      'bankruptcy', 'fined', 'downgrade', 'misses', 'beats', 'surge', 'soars', 'rally', 'record high', 'upgrade',
    ]) {
      // fraud is already in VADER's lexicon at -2.8; the others come from the overlay.
      if (term === 'fraud') expect(news.score(term)).toBe(single(-2.8));
      else expect(NEWS_LEXICON.has(term), term).toBe(true);
    }
  });

  it.each(entries)('%s alone scores exactly VADER(%d)', (term, valence) => {
    expect(news.score(term)).toBe(valence === 0 ? 0 : single(valence));
  });

  it('every stand-in word carries exactly its valence in the installed vader-sentiment', () => {
    const valences = new Set(entries.map(([, v]) => v).filter((v) => v !== 0));
    for (const v of valences) expect(PROXY_WORDS.has(v), `proxy for ${v}`).toBe(true);
    for (const [v, word] of PROXY_WORDS) {
      expect(SentimentIntensityAnalyzer.polarity_scores(word).compound, word).toBe(single(v));
      expect(NEWS_LEXICON.has(word), word).toBe(false);
    }
    expect(SentimentIntensityAnalyzer.polarity_scores(`good ${NEUTRAL_PROXY}`).compound).toBe(
      SentimentIntensityAnalyzer.polarity_scores('good').compound,
    );
  });

  it('does not change vader-sentiment for other users', () => {
    news.score('Tesla shares plunge after recall');
    expect(SentimentIntensityAnalyzer.polarity_scores('Tesla shares plunge after recall').compound).toBe(0.296);
    expect(SentimentIntensityAnalyzer.polarity_scores('plunge').compound).toBe(0);
  });
});

describe('hostile and degenerate input', () => {
  const hostile: readonly string[] = [
    '',
    '   \n\t ',
    'constructor',
    '__proto__',
    'prototype hasOwnProperty toString valueOf __defineGetter__',
    'constructor constructor __proto__ !!!! ???',
    '🚀🚀🚀 Tesla 📉📉',
    '\u0000\u0001\u0002 nul bytes',
    '\uD800 lone surrogate \uDFFF',
    'Ｔｅｓｌａ　ｓｈａｒｅｓ　ｐｌｕｎｇｅ',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '?????????????',
    ':) :( :D <3 </3',
    'terrible '.repeat(2000),
    'wonderful '.repeat(2000),
    'x'.repeat(100_000),
    'Tesla shares plunge after recall. '.repeat(3_000),
    'not '.repeat(5000),
    'but '.repeat(5000),
  ];

  it.each(hostile.map((t) => [t.length > 40 ? `${t.slice(0, 40)}… (${t.length} chars)` : JSON.stringify(t), t]))(
    '%s: finite, within [-1, 1], never throws',
    (_, text) => {
      for (const scorer of [news, vader]) {
        const score = scorer.score(text);
        expect(Number.isFinite(score)).toBe(true);
        expect(score).toBeGreaterThanOrEqual(-1);
        expect(score).toBeLessThanOrEqual(1);
      }
    },
  );

  it('returns 0 for empty and sentiment-free text', () => {
    for (const text of ['', '   ', 'constructor', '__proto__', '🚀', 'Tesla to open factory in Mexico']) {
      expect(news.score(text)).toBe(0);
    }
  });

  it('returns 0 for non-strings passed from untyped code', () => {
    for (const value of [undefined, null, 42, {}, ['good']]) {
      expect(news.score(value as unknown as string)).toBe(0);
    }
  });

  it('scores only the first MAX_SCORED_CHARS characters', () => {
    const filler = 'word '.repeat(Math.ceil(MAX_SCORED_CHARS / 5));
    expect(news.score(`${filler} terrible horrible disaster`)).toBe(0);
    expect(news.score(`terrible ${filler}`)).toBeLessThan(-0.05);
  });

  it('saturates rather than exceeding the range', () => {
    expect(news.score('wonderful '.repeat(2000))).toBe(1);
    expect(news.score('terrible '.repeat(2000))).toBe(-1);
  });
});

describe('sentimentClass', () => {
  it.each([
    [1, 'positive'],
    [0.0501, 'positive'],
    [0.05, 'neutral'],
    [0, 'neutral'],
    [-0.05, 'neutral'],
    [-0.0501, 'negative'],
    [-1, 'negative'],
    [Number.NaN, 'neutral'],
  ] as const)('%d → %s', (score, expected) => {
    expect(sentimentClass(score)).toBe(expected);
  });
});

describe('createNewsScorer (vader-news@2)', () => {
  const v2 = createNewsScorer();

  it('has a versioned id and entity targeting', () => {
    expect(v2.id).toBe('vader-news@2');
    expect(typeof v2.scoreTargets).toBe('function');
  });

  it.each([
    // The defects issue 12 names, each with the class a reader takes from it.
    ['Economy is doing fine, Fed chair says', 'positive'],
    ['Tesla wins appeal, faces no fine', 'positive'],
    ['Regulator imposes $5 million fine on broker', 'negative'],
    ['Unemployment drops to record low', 'positive'],
    ['Inflation declines for third month', 'positive'],
    ['Deaths from flu decline sharply', 'positive'],
    ['Company avoids bankruptcy', 'positive'],
    ['Airline reports no problems after storm', 'positive'],
    // The same movement words where more is better.
    ['Shares drop after profit warning', 'negative'],
    ['Profits decline at bank', 'negative'],
    ['Exports climb to record high', 'positive'],
    ['Unemployment climbs to 7%', 'negative'],
    ['Company cuts debt', 'positive'],
    ['Company cuts 2,000 jobs', 'negative'],
    ['Fine art auction opens in London', 'neutral'],
  ] as const)('%s → %s', (text, expected) => {
    expect(sentimentClass(v2.score(text))).toBe(expected);
  });

  it('scores outside [-1, 1] never, and empty or non-string input as 0', () => {
    expect(v2.score('')).toBe(0);
    expect(v2.score(undefined as unknown as string)).toBe(0);
    const loud = 'catastrophic deadly disaster kills thousands '.repeat(200);
    expect(v2.score(loud)).toBeGreaterThanOrEqual(-1);
    expect(v2.score(loud)).toBeLessThan(-0.9);
  });

  it('gives two entities of one headline opposite scores when the news is opposite for them', () => {
    const matcher = compileMatcher(['Tesla', 'Ford', 'Apple'].map((name, id) => ({ id, slug: name.toLowerCase(), name, aliases: [] })));
    const targets = (text: string) => v2.scoreTargets!(matcher.mentions(text), v2.score(text));
    const beats = targets('Tesla beats Ford as EV sales slump');
    expect(beats.get(0)).toBeGreaterThan(0.05);
    expect(beats.get(1)).toBeLessThan(-0.05);
    const clauses = targets('Apple shares rise while Ford shares fall');
    expect(clauses.get(2)).toBeGreaterThan(0.05);
    expect(clauses.get(1)).toBeLessThan(-0.05);
    // One entity in a neutral clause and no other entity: the article score (the fallback).
    const only = targets('Tesla said on Monday. Shares plunge after recall');
    expect(only.get(0)).toBe(v2.score('Tesla said on Monday. Shares plunge after recall'));
    // Another entity holds the sentiment: the neutral one stays neutral, it does not inherit it.
    const other = targets('Tesla said on Monday. Ford shares plunge after recall');
    expect(other.get(0)).toBe(0);
    expect(other.get(1)).toBeLessThan(-0.05);
  });
});
