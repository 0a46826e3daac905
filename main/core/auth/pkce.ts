/**
 * PKCE (RFC 7636, S256) for the app's sign-in with the hospital's identity provider: the verifier stays in the
 * app's memory for the one sign-in; the relay and the provider see only its challenge until the app hands the
 * verifier over with the code. Made with openid-client's helpers (the library the relay uses for the rest).
 */
import { calculatePKCECodeChallenge, randomPKCECodeVerifier } from 'openid-client';

export interface PkcePair {
  /** A secret: never logged, never stored. */
  readonly verifier: string;
  readonly challenge: string;
}

export async function newPkcePair(): Promise<PkcePair> {
  const verifier = randomPKCECodeVerifier();
  return { verifier, challenge: await calculatePKCECodeChallenge(verifier) };
}
