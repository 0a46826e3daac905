import { defineConfig } from 'vitest/config';
import HeaviestFirstSequencer from './test/heaviestFirstSequencer';

export default defineConfig({
  test: {
    include: ['shared/**/*.test.ts', 'main/**/*.test.ts', 'server/**/*.test.ts', 'test/integration/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll's own default is 1 s: too short for a browser or a relay on a busy machine (a poll that passes
    // returns at once, so a longer limit costs nothing).
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Three test files at once on this 2-core machine (Vitest's default here is one): a file spends most of its
    // time waiting on the relays, databases and browsers it starts (one at a time the suite took 14 minutes, two
    // at once 8½, three 6½). ui-e2e's care-team case once missed its message under three: the test typed into the
    // 1:1 conversation still drawn behind the dialog when the new team opened late; it now waits for the team.
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
