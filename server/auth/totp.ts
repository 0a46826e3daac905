import { Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s: what every authenticator app reads).
 * A code is accepted one step either side of now, and never twice for the same account.
 */
export const TOTP_ISSUER = 'Rounds';

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function totpUri(secret: string, username: string): string {
  return totp(secret, username).toString();
}

export class TotpVerifier {
  /** The last time step accepted per account, so a code seen once cannot be replayed. */
  readonly #lastStep = new Map<string, number>();

  verify(account: string, secret: string, code: string, now: number): boolean {
    const delta = totp(secret, account).validate({ token: code, timestamp: now, window: 1 });
    if (delta === null) return false;
    const step = Math.floor(now / 30_000) + delta;
    if ((this.#lastStep.get(account) ?? -1) >= step) return false;
    this.#lastStep.set(account, step);
    return true;
  }
}

/** The current code for a secret (used by tests and by the authenticator in the browser harness). */
export function currentTotp(secret: string, now: number): string {
  return totp(secret, 'x').generate({ timestamp: now });
}

function totp(secret: string, label: string): TOTP {
  return new TOTP({ issuer: TOTP_ISSUER, label, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
}
