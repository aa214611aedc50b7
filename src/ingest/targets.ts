/**
 * Entity-targeted sentiment: each entity an article mentions gets the score of the clause that
 * mentions it (title and summary), not the article's. Clauses end at , ; : . ! ? and before
 * as/while/whereas/but/after/amid/although/though/yet/despite/since/because (./news-v2.ts).
 * "Tesla beats Ford as EV sales slump": Tesla and Ford share the clause "Tesla beats Ford", so
 * for an entity after a win/loss verb (beats, overtakes, falls behind, ...) that verb's sign is
 * flipped: Tesla +, Ford -.
 *
 * Fallback, in order (documented in the README):
 * 1. The mean over the entity's mentions of their clause scores, when that is not 0.
 * 2. Else the score of the sentence(s) mentioning it, if no other entity is mentioned there.
 * 3. Else the article score, if no other entity is mentioned in the text at all; otherwise 0
 *    (the text says something, but not about this entity).
 * An entity whose mention cannot be located (text over the scored length, or a text whose
 * case folding changes its length) gets the article score.
 */
import type { Mentions } from './match.ts';
import { VERSUS_VALENCE, VERSUS_VERBS, analyzeNews, scoreSpan, type NewsAnalysis } from './news-v2.ts';
import { round4 } from './vader33.ts';

/** Token indices overlapping [start, end). */
function tokensAt(a: NewsAnalysis, start: number, end: number): number[] {
  const out: number[] = [];
  const { starts, ends } = a;
  if (starts === null || ends === null) return out;
  for (let k = 0; k < starts.length; k++) {
    if (starts[k]! < end && ends[k]! > start) out.push(k);
  }
  return out;
}

function range(ids: readonly number[], value: number): [number, number] {
  let from = ids.indexOf(value);
  let to = from;
  while (to < ids.length && ids[to] === value) to++;
  if (from < 0) from = to = 0;
  return [from, to];
}

/**
 * Score of a clause for the entity at token k. With a win/loss verb in the clause, the clause is
 * scored for the verb's subject (the verb counts as a win or a loss whatever its lexicon valence:
 * "crush" is negative in VADER, "beat" absent), and an entity after the verb (its object) gets
 * the opposite: "Djokovic defeats Alcaraz to win title" is good for one, bad for the other.
 */
function clauseScore(a: NewsAnalysis, k: number): number {
  const [from, to] = range(a.clause, a.clause[k]!);
  for (let v = from; v < to; v++) {
    const sign = VERSUS_VERBS.get(a.lowers[v]!);
    if (sign === undefined || v === k) continue;
    const valences = a.valences.slice();
    const value = valences[v]!;
    valences[v] = sign * (value === value && value !== 0 ? Math.abs(value) : VERSUS_VALENCE);
    const subject = scoreSpan(a, from, to, valences);
    return v < k ? -subject : subject;
  }
  return scoreSpan(a, from, to);
}

/**
 * Per-entity scores for the entities in `mentions` (as returned by the matcher for this text),
 * given the article's score. Every mentioned entity gets a finite score in [-1, 1].
 */
export function scoreTargets<Id extends number | string>(mentions: Mentions<Id>, articleScore: number): Map<Id, number> {
  const out = new Map<Id, number>();
  if (mentions.entities.length === 0) return out;
  const a = analyzeNews(mentions.text);
  const located = a.text === mentions.text && a.starts !== null;
  const tokensOf = new Map<Id, number[]>();
  for (const e of mentions.entities) {
    const ks = located ? [...new Set(e.spans.flatMap(([s, t]) => tokensAt(a, s, t)))] : [];
    tokensOf.set(e.id, ks);
  }
  const others = (id: Id, inScope: (k: number) => boolean): boolean =>
    mentions.entities.some((e) => e.id !== id && (tokensOf.get(e.id) ?? []).some(inScope));

  for (const e of mentions.entities) {
    const ks = tokensOf.get(e.id) ?? [];
    if (ks.length === 0) {
      out.set(e.id, articleScore);
      continue;
    }
    const clauses = new Map<number, number>();
    for (const k of ks) if (!clauses.has(a.clause[k]!)) clauses.set(a.clause[k]!, clauseScore(a, k));
    let score = mean([...clauses.values()]);
    if (score === 0) {
      const sentences = new Set(ks.map((k) => a.sentence[k]!));
      if (!others(e.id, (k) => sentences.has(a.sentence[k]!))) {
        score = mean([...sentences].map((s) => {
          const [from, to] = range(a.sentence, s);
          return scoreSpan(a, from, to);
        }));
      }
    }
    if (score === 0 && !mentions.entities.some((o) => o.id !== e.id)) score = articleScore;
    out.set(e.id, Number.isFinite(score) ? Math.min(1, Math.max(-1, round4(score))) : 0);
  }
  return out;
}

function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
