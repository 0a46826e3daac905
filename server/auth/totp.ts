import { Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s: what every authenticator app reads).
 * A code is accepted one step either side of now, and never twice for the same account (the last step
 * accepted is stored with the account, so a restart does not forget it).
 */
export const TOTP_ISSUER = 'Rounds';

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function totpUri(secret: string, username: string): string {
  return totp(secret, username).toString();
}

/**
 * The time step a code belongs to (now, or one step either side), or null when it is not valid. The
 * caller refuses a step at or before the account's last accepted one and stores the new one.
 */
export function totpStep(secret: string, code: string, now: number): number | null {
  const delta = totp(secret, 'x').validate({ token: code, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 30_000) + delta;
}

/** The current code for a secret (used by tests and by the authenticator in the browser harness). */
export function currentTotp(secret: string, now: number): string {
  return totp(secret, 'x').generate({ timestamp: now });
}

function totp(secret: string, label: string): TOTP {
  return new TOTP({ issuer: TOTP_ISSUER, label, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
}
