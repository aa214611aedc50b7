import { defineConfig } from 'vitest/config';

/**
 * The container suite (`npm run test:container`, not part of `npm test`): builds the image and
 * runs the compose stack on a local Docker engine. Without an engine (or without `docker compose`)
 * every test is skipped and the run says why. Files run one at a time: they share one engine,
 * one image tag and two cores.
 */
export default defineConfig({
  test: {
    root: new URL('../../', import.meta.url).pathname,
    include: ['test/container/**/*.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 10 * 60_000,
    hookTimeout: 10 * 60_000,
    retry: 0,
    sequence: { shuffle: false },
  },
});
