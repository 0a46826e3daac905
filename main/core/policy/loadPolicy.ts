import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY, OrgPolicySchema, type OrgPolicy } from '../../../shared/policy';
import { readRelayCaFile } from '../messaging/RelayTrust';

/** Environment variable that points at another policy file (tests, and IT trying a policy out). */
export const POLICY_FILE_ENV = 'ROUNDS_POLICY_FILE';

/** An invalid policy file: the app must not start, and says which field is wrong. */
export class PolicyError extends Error {
  constructor(readonly path: string, readonly problems: readonly string[]) {
    super(`The organisation policy file ${path} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}\nRounds will not start until it is fixed (see "Org policy" in the README).`);
    this.name = 'PolicyError';
  }
}

/** The machine-wide location of the policy file on each platform. */
export function policyPath(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  const override = env[POLICY_FILE_ENV];
  if (override) return override;
  if (platform === 'win32') return join(env.ProgramData ?? 'C:\\ProgramData', 'Rounds', 'policy.json');
  if (platform === 'darwin') return '/Library/Application Support/Rounds/policy.json';
  return '/etc/rounds/policy.json';
}

export interface LoadedPolicy {
  readonly policy: OrgPolicy;
  /** The file it came from, or null when none exists (safe defaults). */
  readonly source: string | null;
}

/** Reads and validates the policy; a missing file gives the defaults, anything wrong a PolicyError. */
export function loadPolicy(path: string = policyPath()): LoadedPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { policy: DEFAULT_POLICY, source: null };
    throw new PolicyError(path, [`cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new PolicyError(path, [`is not JSON: ${(error as Error).message}`]);
  }
  const parsed = OrgPolicySchema.safeParse(json);
  if (!parsed.success) {
    throw new PolicyError(path, parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      return `"${issue.path.join('.') || '(whole file)'}": ${issue.message}`;
    }));
  }
  if (parsed.data.relayCaFile) {
    try {
      readRelayCaFile(parsed.data.relayCaFile);
    } catch (error) {
      throw new PolicyError(path, [`"relayCaFile": ${(error as Error).message}`]);
    }
  }
  return { policy: parsed.data, source: path };
}
