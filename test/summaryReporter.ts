import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `Summary: N passed, N failed, N skipped`, after vitest's own summary:
 * the form CI reads to count the tests of a run. Before it, one line for each skipped test with its full name,
 * which says why (a skipped test names its reason in its title or its group's: test/fixtures/skipReason.ts).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const skipped: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          skipped.push(`Skipped: ${module.moduleId.replace(`${process.cwd()}/`, '')} > ${test.fullName}`);
        }
      }
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) counts.failed++;
    }
    if (skipped.length > 0) process.stdout.write(`\n${skipped.join('\n')}\n`);
    process.stdout.write(`\nSummary: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
