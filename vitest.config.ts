import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['shared/**/*.test.ts', 'main/**/*.test.ts', 'server/**/*.test.ts', 'test/integration/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // electron-store imports `electron`; inlined, it sees the shell tests' stand-in instead of the real one.
    server: { deps: { inline: ['electron-store'] } },
    reporters: ['default', './test/summaryReporter.ts'],
  },
});
