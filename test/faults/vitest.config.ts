import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): real worker processes against a private Redis and a
 * private Postgres cluster that the scenarios kill and restart. Files run one at a time (they
 * measure RSS and timings on a 2-core machine); each scenario bounds itself well inside the
 * timeouts below. Its own globalSetup only checks the binaries and prints the summary table:
 * nothing here touches the machine's shared Postgres or Redis.
 */
export default defineConfig({
  test: {
    root: new URL('../../', import.meta.url).pathname,
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/faults/support/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 6 * 60_000,
    hookTimeout: 2 * 60_000,
    teardownTimeout: 60_000,
    // Scenarios are measurements with side effects: never retried, never re-run on their own.
    retry: 0,
    sequence: { shuffle: false },
  },
});
