/**
 * `rounds-audit verify PATH [--key signer.pub.pem] [--previous OLDER_BUNDLE]`: checks an audit bundle
 * offline (a directory or a .zip): the signature, every digest, every record's inclusion in the signed
 * checkpoint, order and gaps, the relay records' hash chain, and with --previous the older bundle as well,
 * that the key stayed the same or was rotated by statements each signed by the key before, and that the
 * log was only appended to in between. Prints a one-line verdict, one line per failure, and who signed
 * (without --key the result holds only if that fingerprint is the organisation's); exit 0 only when
 * everything holds (1: it does not; 2: the input could not be read).
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

/** Who signed, and what the verdict rests on: without --key, only on the fingerprint being the organisation's. */
export function signerLines(verdict: Verdict, keyGiven: boolean): string[] {
  if (!verdict.signerFingerprint) return verdict.notes;
  const signer = keyGiven
    ? `signed by audit key ${verdict.signerFingerprint} (SHA-256), which ${verdict.keyMatched ? 'matches' : 'is not'} the key given with --key.`
    : `signed by audit key ${verdict.signerFingerprint} (SHA-256). No --key was given: this result holds only if that is your organisation's audit key fingerprint (the one \`rounds-server audit key\` prints, kept on record); to check against it, pass --key with the organisation's public key.`;
  return [signer, ...verdict.notes];
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
      for (const line of signerLines(verdict, opts.key !== undefined)) console.log(line);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    return exitCode === 0 ? 0 : 2;
  }
  return code;
}
