import { userInfo } from 'node:os';

/**
 * Who ran an admin command, as audit records name them: `admin:<os account>`. The account is the one that
 * typed the command: under sudo that is `SUDO_USER` (the process itself runs as root or as the relay's
 * user, which names nobody), else the login name of the process (its password-file entry, or `LOGNAME` /
 * `USER` where it has none, as in some containers). Computed once, by the CLI, and handed to the services
 * that record admin actions; records written before this (actor `admin`) keep saying so.
 *
 * Not a proof of identity (an administrator can set these variables): it names the account, as `sudo`'s
 * own log does, so that an auditor can match a record with the OS's sign-in records.
 */
export function adminActor(env: NodeJS.ProcessEnv = process.env, loginName: () => string = () => userInfo().username): string {
  return `${ADMIN_ACTOR_PREFIX}${osAccount(env, loginName)}`;
}

export const ADMIN_ACTOR_PREFIX = 'admin:';

function osAccount(env: NodeJS.ProcessEnv, loginName: () => string): string {
  const sudoUser = usable(env.SUDO_USER);
  if (sudoUser) return sudoUser;
  let login: string | undefined;
  try {
    login = usable(loginName());
  } catch {
    login = undefined; // no password-file entry for this uid
  }
  return login ?? usable(env.LOGNAME) ?? usable(env.USER) ?? 'unknown';
}

/** An account name as it may appear in a record: trimmed, no control characters or spaces, at most 64 characters. */
function usable(name: string | undefined): string | undefined {
  const trimmed = name?.trim();
  if (!trimmed || trimmed.length > 64 || /[\s\p{Cc}]/u.test(trimmed)) return undefined;
  return trimmed;
}
