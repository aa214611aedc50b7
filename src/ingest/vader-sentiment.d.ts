// Minimal typing for vader-sentiment 1.1.3 (a CommonJS webpack bundle with no types of its own).
// Only the surface newspulse uses is declared.
declare module 'vader-sentiment' {
  export interface PolarityScores {
    neg: number;
    neu: number;
    pos: number;
    /** Normalised sum of valences in [-1, 1], rounded to 4 decimals. */
    compound: number;
  }
  export const SentimentIntensityAnalyzer: {
    polarity_scores(text: string): PolarityScores;
  };
}
