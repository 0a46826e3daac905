import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MEASURED_SECONDS, heaviestFirst } from '../heaviestFirstSequencer';

/* The suite's file order (test/heaviestFirstSequencer.ts): the slowest files start first, on a clean clone too. */
describe('the order the test files start in', () => {
  it('names only test files that exist, so that none of the slowest loses its place by a rename', () => {
    const missing = Object.keys(MEASURED_SECONDS).filter((path) => !existsSync(path) || !path.endsWith('.test.ts'));
    expect(missing).toEqual([]);
    expect(Object.keys(MEASURED_SECONDS).length).toBeGreaterThanOrEqual(5);
  });

  it('starts the measured files first, slowest first, and keeps Vitest\'s order for the rest', () => {
    const [slowest, second] = Object.entries(MEASURED_SECONDS).sort(([, a], [, b]) => b - a).map(([path]) => path);
    const given = ['shared/a.test.ts', second!, 'main/b.test.ts', slowest!, 'server/c.test.ts'];
    expect(heaviestFirst(given, (path) => path)).toEqual([slowest, second, 'shared/a.test.ts', 'main/b.test.ts', 'server/c.test.ts']);
  });
});
