import { PublicKey, type PrivateKey } from '@signalapp/libsignal-client';
import { fromBase64, toBase64 } from './encoding';

/*
 * Statements a device signs with its identity key (issue 19: acknowledgements, forwarding): XEdDSA, as
 * libsignal signs prekeys, over domain-separated bytes the shared contract defines. The private key never
 * leaves the protocol core; what leaves is the 64-byte signature, base64.
 */

export function signWithIdentity(identity: PrivateKey, bytes: Uint8Array<ArrayBuffer>): string {
  return toBase64(identity.sign(bytes));
}

/** Whether `signature` is the identity key's over exactly `bytes` (any malformed input: false). */
export function identitySignatureVerifies(identityKey: PublicKey | Uint8Array, bytes: Uint8Array<ArrayBuffer>, signature: string): boolean {
  try {
    const key = identityKey instanceof PublicKey ? identityKey : PublicKey.deserialize(Uint8Array.from(identityKey));
    return key.verify(bytes, fromBase64(signature));
  } catch {
    return false;
  }
}
