/**
 * `rounds-audit verify PATH [--key signer.pub.pem] [--previous OLDER_BUNDLE] [--relay-bundle RELAY_BUNDLE]`: checks an audit bundle
 * offline (a directory or a .zip): the signature, every digest, every record's inclusion in the signed
 * checkpoint, order and gaps, the relay records' hash chain, and with --previous the older bundle as well,
 * that the key stayed the same or was rotated by statements each signed by the key before, and that the
 * log was only appended to in between. Prints a one-line verdict, one line per failure, and who signed
 * (without --key the result holds only if that fingerprint is the organisation's); exit 0 only when
 * everything holds (1: it does not; 2: the input could not be read). With --relay-bundle, PATH is a
 * workstation's bundle: the relay's bundle is verified as well, and the workstation's signing key must be
 * the one the relay's log recorded when that workstation enrolled (shared/audit/workstationLink.ts).
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { verifyBundle, type Verdict } from '../../shared/audit/bundle';
import { followsRestore } from '../../shared/audit/restoreLink';
import { linkWorkstationToRelay, type WorkstationLink } from '../../shared/audit/workstationLink';
import { ROUNDS_VERSION } from '../../shared/version';
import { nodeAuditCrypto } from './auditCrypto';
import { openBundle } from './bundleFiles';
import { eventLinesOnThreads } from './eventLinesThreads';
import { threadsOption, type ThreadChoice } from './threadsOption';

/** `onThreads`: told how many worker threads checked the records, when any did. */
export function verifyPath(path: string, options: { key?: string; previous?: string; threads?: ThreadChoice; onThreads?: (threads: number) => void }): Verdict {
  const files = openBundle(path);
  const threads = options.threads ?? 'auto';
  const onStart = options.onThreads ? { onStart: options.onThreads } : {};
  return verifyBundle(nodeAuditCrypto, files, {
    // A bundle directory's records are checked on every core (a zip's are in memory, and capped in size: no threads).
    ...(threads === 'never' ? {} : { eventLines: eventLinesOnThreads(path, threads === 'always' ? { minBytes: 1, required: true, ...onStart } : onStart) }),
    ...(options.key ? { expectedKeyPem: readFileSync(options.key, 'utf8') } : {}),
    ...(options.previous ? { previous: openBundle(options.previous) } : {}),
  });
}

/** A workstation bundle checked against a relay bundle: the relay bundle's own verdict, and the link between the two. */
export interface WorkstationCheck {
  readonly relay: Verdict;
  readonly link: WorkstationLink;
}

/**
 * Verifies the relay bundle at `relayPath` (against the organisation's key `keyPath`, when given) and ties
 * the workstation bundle at `workstationPath` to it: its signer must be the key of its enrollment record.
 */
export function verifyWorkstationLink(workstationPath: string, relayPath: string, keyPath?: string): WorkstationCheck {
  const relayFiles = openBundle(relayPath);
  const relay = verifyBundle(nodeAuditCrypto, relayFiles, keyPath ? { expectedKeyPem: readFileSync(keyPath, 'utf8') } : {});
  return { relay, link: linkWorkstationToRelay(nodeAuditCrypto, openBundle(workstationPath), relayFiles) };
}

/** What `verify --relay-bundle` prints after the workstation bundle's own verdict, and whether it all holds. */
export function workstationLinkLines(check: WorkstationCheck, keyGiven: boolean): { ok: boolean; lines: string[] } {
  const { relay, link } = check;
  const lines = relay.ok
    ? [`relay bundle: VERIFIED: ${relay.records} records of ${relay.origin ?? 'the relay'} are authentic and included in its signed checkpoint of ${relay.treeSize ?? 0} records.`]
    : [`relay bundle: NOT VERIFIED: ${relay.failures.length} problem${relay.failures.length === 1 ? '' : 's'} found.`, ...relay.failures.map((f) => `  - ${f}`)];
  lines.push(...signerLines(relay, keyGiven).map((line) => `relay bundle: ${line}`));
  if (link.ok) lines.push(...link.notes);
  else lines.push(`NOT TIED TO THE RELAY'S LOG: ${link.failures.length} problem${link.failures.length === 1 ? '' : 's'} found.`, ...link.failures.map((f) => `  - ${f}`), ...link.notes);
  return { ok: relay.ok && link.ok, lines };
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
    .option('--key <pem>', 'the signing public key you expect (from the organisation), instead of trusting the bundle\'s own (with --relay-bundle: the relay bundle\'s)')
    .option('--previous <bundle>', 'an earlier bundle of the same log (this one must extend it), or of the log a restore ended (this one\'s log must begin with that restore)')
    .addOption(threadsOption('check the records of a bundle directory'))
    .option('--relay-bundle <bundle>', "for a workstation's bundle: a relay bundle (of its user, over the day it enrolled); the workstation's key must be the one the relay recorded when it enrolled")
    .action((path: string, opts: { key?: string; previous?: string; relayBundle?: string; threads: ThreadChoice }) => {
      let verdict: Verdict;
      let linked: WorkstationCheck | undefined;
      let threadsUsed = 0;
      try {
        // With a relay bundle, --key is the organisation's: it checks the relay bundle, which vouches for the workstation's key.
        const onThreads = (threads: number) => void (threadsUsed = threads);
        verdict = verifyPath(path, opts.relayBundle ? { threads: opts.threads, onThreads, ...(opts.previous ? { previous: opts.previous } : {}) } : { ...opts, onThreads });
        if (opts.relayBundle) linked = verifyWorkstationLink(path, opts.relayBundle, opts.key);
      } catch (error) {
        console.error(`NOT VERIFIED: ${(error as Error).message}`);
        code = 2;
        return;
      }
      if (verdict.ok) {
        console.log(`VERIFIED: ${verdict.records} records of ${verdict.origin} are authentic and included in its signed checkpoint of ${verdict.treeSize} records${opts.previous ? (followsRestore(verdict.notes) ? ', whose log continues the previous bundle\'s after a restore' : ', which extends the previous bundle') : ''}.`);
      } else {
        console.log(`NOT VERIFIED: ${verdict.failures.length} problem${verdict.failures.length === 1 ? '' : 's'} found.`);
        for (const failure of verdict.failures) console.log(`  - ${failure}`);
        code = 1;
      }
      if (threadsUsed > 0) console.log(`The records were checked on ${threadsUsed} worker threads.`);
      else if (opts.threads === 'always') console.log('The records were checked on this thread: the bundle is a .zip, or its events.jsonl is too short to share between threads.');
      if (!linked) {
        for (const line of signerLines(verdict, opts.key !== undefined)) console.log(line);
        return;
      }
      // The workstation's key is vouched for by the relay's log, not by an organisation key given with --key.
      const tied = workstationLinkLines(linked, opts.key !== undefined);
      if (verdict.signerFingerprint) console.log(`signed by audit key ${verdict.signerFingerprint} (SHA-256), which must be the workstation's own: checked against the relay's log below.`);
      for (const line of [...verdict.notes, ...tied.lines]) console.log(line);
      if (!tied.ok) code = 1;
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    return exitCode === 0 ? 0 : 2;
  }
  return code;
}
