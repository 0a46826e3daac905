import { CallError } from './api';

/**
 * The screen an error happened on, where the same code means something narrower: the relay never says
 * which of username and enrollment code was wrong (that would tell who has an account), but the screen
 * knows which fields the user filled in.
 */
export type ErrorScreen = 'enrollCode' | 'enrollSecrets' | 'signIn' | 'addDeviceWithSso';

/** What to tell the user for an error, in plain words (chosen by code, never from the raw message). */
export function explain(error: unknown, screen?: ErrorScreen): string {
  if (!(error instanceof CallError)) return 'Something went wrong. Please try again.';
  const { code, issues, retryAfterSeconds } = error.error;
  switch (code) {
    case 'WRONG_PASSPHRASE': return 'That passphrase is not right. Please try again.';
    case 'UNLOCK_THROTTLED': return `Too many wrong passphrases. Try again in ${retryAfterSeconds ?? 'a few'} seconds.`;
    case 'PROFILE_WIPED': return 'This profile was erased after too many wrong passphrases, as your organisation requires. Enroll again to continue.';
    case 'SIGN_IN_REQUIRED': return 'Rounds was locked for a long time. Sign in with your password and a code from your authenticator app.';
    case 'UNREACHABLE': return 'The Rounds server cannot be reached. Check the network connection; messages you write are kept and sent when it is back.';
    case 'INVALID_CREDENTIALS':
      if (screen === 'enrollSecrets') return 'That one-time code is not right. Enter the 6 digits your authenticator app shows now.';
      if (screen === 'signIn') return 'The password or one-time code is not right.';
      // The relay does not tell a stranger which accounts sign in with the provider; the screen offers it anyway.
      if (screen === 'addDeviceWithSso') return 'The username, password or one-time code is not right. If your account signs in with your organisation’s sign-in, use that button instead.';
      return 'The username, password or one-time code is not right.';
    case 'INVALID_CODE':
      if (screen === 'enrollCode') return 'That username and enrollment code don’t match, or the code has expired or was used already. Check both, or ask your administrator for a new enrollment code.';
      if (screen === 'enrollSecrets') return 'This enrollment has expired or was finished already. Go back and start again with your enrollment code.';
      return 'That code is not right or has expired. Check it, or ask your administrator for a new enrollment code.';
    case 'ACCOUNT_INACTIVE': return 'This account is not active. Ask your administrator to reactivate it.';
    case 'TOO_MANY_DEVICES': return 'This account has reached its limit of workstations. Ask your administrator to remove an old one.';
    case 'ACCOUNT_LOCKED': return 'This account is locked after too many failed sign-ins. Try again later or ask your administrator.';
    case 'THROTTLED': return `Too many attempts. Try again in ${retryAfterSeconds ?? 'a few'} seconds.`;
    case 'RELAY_UNAVAILABLE': return `The Rounds server is briefly unavailable. Try again in ${retryAfterSeconds ?? 'a few'} seconds; tell IT if this lasts.`;
    case 'RELAY_STORAGE_FULL': return `The Rounds server is short of disk space and is not taking new sign-ins. Tell IT; try again in ${retryAfterSeconds ?? 'a few'} seconds.`;
    // The issues are whole sentences that already say what to do.
    case 'PASSWORD_POLICY': return issues?.length ? issues.join(' ') : 'Choose another password.';
    case 'PASSPHRASE_POLICY': return issues?.length ? issues.join(' ') : 'Choose another passphrase.';
    case 'PROFILE_EXISTS': return 'This account already has a profile on this workstation. Use "Switch user" to open it.';
    case 'PROFILE_LOCKED': return 'Rounds is locked. Unlock it with your passphrase.';
    case 'AUDIT_LOG_BROKEN': return 'The relay\'s audit log does not check out, so it was not exported. Tell IT: they should run “rounds-server audit check” on the relay.';
    case 'NOT_A_MEMBER': return 'You are no longer a member of this care team.';
    // On-call roles (issue 19): the core's message names the role.
    case 'ROLE_UNCOVERED':
    case 'ROLE_LOOKUP_FAILED': return error.error.message;
    case 'FORBIDDEN': return 'You are not allowed to do that. Changing an on-call schedule needs the scheduler permission: ask your administrator.';
    // Sign-in with the hospital's identity provider (issue 18).
    case 'ACCOUNT_NOT_PROVISIONED': return 'You signed in, but there is no Rounds account for you yet. Ask your administrator to give you access to Rounds, then try again.';
    case 'OIDC_MFA_REQUIRED': return 'Your organisation requires a second sign-in step (such as a code or an authenticator prompt) for Rounds. Sign in again and complete it; ask IT if you were not asked for one.';
    case 'SSO_REFUSED': return 'Your organisation’s sign-in did not let you in. Try again, or ask IT if this keeps happening.';
    case 'SSO_TIMED_OUT': return 'The sign-in took too long and was stopped. Start it again.';
    case 'SSO_CANCELLED': return 'The sign-in was cancelled.';
    case 'SSO_UNAVAILABLE': return 'Signing in with your organisation is not available here. Use an enrollment code, or ask IT.';
    case 'SSO_LISTENER_FAILED': return 'Rounds could not prepare the sign-in on this computer. Restart Rounds and try again; tell IT if it keeps failing.';
    case 'SSO_REQUIRED': return 'Your account signs in with your organisation’s sign-in, not a Rounds password. Continue with that sign-in below.';
    case 'REAUTHENTICATION_REQUIRED': return 'Your organisation asks you to sign in again.';
    case 'OIDC_SIGN_IN_EXPIRED':
    case 'OIDC_STATE_MISMATCH':
    case 'OIDC_CODE_REFUSED': return 'This sign-in has expired or was already used. Start it again.';
    case 'OIDC_PROVIDER_UNREACHABLE': return 'The Rounds server cannot reach your organisation’s sign-in right now. Try again in a few minutes; tell IT if this lasts.';
    case 'OIDC_PROVIDER_REFUSED':
    case 'OIDC_TOKEN_INVALID':
    case 'OIDC_USERNAME_MISSING':
    case 'OIDC_REDIRECT_URI_REFUSED':
    case 'OIDC_REQUEST_INVALID': return `Your organisation’s sign-in is not set up correctly for Rounds (${code}). Tell IT.`;
    case 'INVALID_INPUT': return issues?.length ? `Please check: ${issues.join('; ')}` : 'Please check what you entered.';
    default: return `Something went wrong (${code}). Please try again.`;
  }
}
