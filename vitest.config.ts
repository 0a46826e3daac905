import { defineConfig } from 'vitest/config';
import HeaviestFirstSequencer from './test/heaviestFirstSequencer';

export default defineConfig({
  test: {
    include: ['shared/**/*.test.ts', 'main/**/*.test.ts', 'server/**/*.test.ts', 'test/integration/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three test files at once on this 2-core machine (Vitest's default here is one): a file spends most of its
    // time waiting on the relays, databases and browsers it starts (the heavy files use 0.2-0.55 s of CPU a
    // second alone; the whole suite ~710 CPU-seconds). One at a time the suite took 14 minutes, two 15.5.
    maxWorkers: 3,
    // The slowest files first (a clean clone has no durations of a previous run for Vitest to sort by).
    sequence: { sequencer: HeaviestFirstSequencer },
    // electron-store imports `electron`; inlined, it sees the shell tests' stand-in instead of the real one.
    server: { deps: { inline: ['electron-store'] } },
    reporters: ['default', './test/summaryReporter.ts'],
    // The relay's commands bundled once for the run (the tests start hundreds of them).
    globalSetup: ['./test/globalSetup.ts'],
  },
});
