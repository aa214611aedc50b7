/** The modules `npm run bench` runs, in order (also the list the bench smoke test expects). */
export const MODULES = ['ingest-pure.ts', 'sentiment.ts', 'ingest.ts', 'freshness.ts', 'rollup.ts', 'job-path.ts', 'dense-feeds.ts', 'text.ts', 'scale.ts', 'api.ts'] as const;
