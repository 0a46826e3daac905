/**
 * `rounds-audit verify PATH [--key signer.pub.pem] [--previous OLDER_BUNDLE]`: checks an audit bundle
 * offline (a directory or a .zip): the signature, every digest, every record's inclusion in the signed
 * checkpoint, order and gaps, and with --previous that the log was only appended to in between. Prints a
 * one-line verdict and one line per failure; exit 0 only when everything holds (1: it does not; 2: the
 * input could not be read).
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { verifyBundle, type Verdict } from '../../shared/audit/bundle';
import { ROUNDS_VERSION } from '../../shared/version';
import { nodeAuditCrypto } from './auditCrypto';
import { readBundle } from './bundleFiles';

export function verifyPath(path: string, options: { key?: string; previous?: string }): Verdict {
  const files = readBundle(path);
  return verifyBundle(nodeAuditCrypto, files, {
    ...(options.key ? { expectedKeyPem: readFileSync(options.key, 'utf8') } : {}),
    ...(options.previous ? { previous: readBundle(options.previous) } : {}),
  });
}

export async function runAuditCli(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = new Command('rounds-audit').description('verify Rounds audit bundles offline').version(ROUNDS_VERSION).exitOverride();
  program.command('verify')
    .description('verify an audit bundle (directory or .zip)')
    .argument('<path>', 'the bundle')
    .option('--key <pem>', 'the signing public key you expect (from the organisation), instead of trusting the bundle\'s own')
    .option('--previous <bundle>', 'an earlier bundle of the same log: this one must extend it')
    .action((path: string, opts: { key?: string; previous?: string }) => {
      let verdict: Verdict;
      try {
        verdict = verifyPath(path, opts);
      } catch (error) {
        console.error(`NOT VERIFIED: ${(error as Error).message}`);
        code = 2;
        return;
      }
      if (verdict.ok) {
        console.log(`VERIFIED: ${verdict.records} records of ${verdict.origin} are authentic and included in its signed checkpoint of ${verdict.treeSize} records${opts.previous ? ', which extends the previous bundle' : ''}.`);
      } else {
        console.log(`NOT VERIFIED: ${verdict.failures.length} problem${verdict.failures.length === 1 ? '' : 's'} found.`);
        for (const failure of verdict.failures) console.log(`  - ${failure}`);
        code = 1;
      }
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    return exitCode === 0 ? 0 : 2;
  }
  return code;
}
