/**
 * Runs @doyensec/electronegativity (Electron security anti-patterns) over the Electron code and the
 * renderer, and fails when a finding above LOW is not listed, with its reason, in .electronegativity.json.
 * Part of `npm test`. Its programmatic runner is used because its CLI breaks with the commander we use.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Finding {
  readonly id: string;
  readonly file: string;
  readonly line: number | null;
  readonly severity: string;
  readonly confidence: string;
  readonly accepted: string | null;
}

interface Accepted {
  readonly check: string;
  readonly file?: string;
  readonly reason: string;
}

interface RawIssue {
  id: string;
  file: string;
  location?: { line?: number };
  severity: { name?: string; value: number };
  confidence: { name?: string };
}

const require = createRequire(import.meta.url);
const ABOVE_LOW = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);

/** Checks that judge a whole app (navigation limits, permission handler, CSP); they run on the main process code. */
const ONLINE_CHECK = 'availablesecurityfixesglobalcheck';
const GLOBAL_CHECKS = ['affinityglobalcheck', 'availablesecurityfixesglobalcheck', 'cspglobalcheck', 'httpresourcesandnodeintegrationglobalcheck', 'limitnavigationglobalcheck', 'permissionrequesthandlerglobalcheck'];

/**
 * Scans each input; the first is the app's main process (all checks), the others (the renderer) get the
 * per-file checks only, since whole-app checks cannot see the main process from there.
 */
export async function scan(inputs: readonly string[], accepted: readonly Accepted[]): Promise<Finding[]> {
  const run = require('@doyensec/electronegativity/dist/runner.js') as (options: object, forCli: boolean) => Promise<{ issues: RawIssue[]; errors: { file: string; message: string; tolerable: boolean }[] }>;
  // The installed Electron's version, read from its package.json (loading the package would try to download it).
  const electronVersion = (JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')) as { version: string }).version;
  const findings: Finding[] = [];
  for (const [index, input] of inputs.entries()) {
    if (!existsSync(input)) continue;
    // The "available security fixes" check downloads Electron's release list: not possible offline (CI),
    // and Electron updates are tracked with the other dependencies instead.
    const excludeFromScan = index === 0 ? [ONLINE_CHECK] : GLOBAL_CHECKS;
    const result = await run({ input, isRelative: true, severitySet: 'informational', confidenceSet: 'tentative', customScan: [], excludeFromScan, parserPlugins: [], electronVersionOverride: electronVersion }, false);
    const broken = result.errors.filter((e) => !e.tolerable);
    if (broken.length > 0) throw new Error(`electronegativity could not parse: ${broken.map((e) => `${e.file}: ${e.message}`).join('; ')}`);
    for (const issue of result.issues) {
      const severity = (issue.severity.name ?? String(issue.severity.value)).toUpperCase();
      const rule = accepted.find((a) => a.check === issue.id && (a.file === undefined || a.file === issue.file));
      findings.push({ id: issue.id, file: issue.file, line: issue.location?.line ?? null, severity, confidence: (issue.confidence.name ?? '').toUpperCase(), accepted: rule?.reason ?? null });
    }
  }
  return findings;
}

export function failures(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => ABOVE_LOW.has(f.severity) && f.accepted === null);
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(resolve('.electronegativity.json'), 'utf8')) as { accepted: Accepted[] };
  const findings = await scan(['main', 'renderer'], config.accepted);
  console.log('electronegativity:');
  for (const f of findings) console.log(`  ${f.severity.padEnd(13)} ${f.id.padEnd(28)} ${`${f.file}${f.line ? `:${f.line}` : ''}`.padEnd(28)} ${f.accepted ? 'accepted (see .electronegativity.json)' : ''}`);
  const failed = failures(findings);
  if (failed.length > 0) {
    console.error(`electronegativity: ${failed.length} finding(s) above LOW that are not accepted; fix them or list them with a reason in .electronegativity.json`);
    process.exit(1);
  }
  console.log(`electronegativity: ok (${findings.length} finding(s), none above LOW unaccepted)`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
