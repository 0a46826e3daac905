import { PublicKey } from '@signalapp/libsignal-client';

/**
 * Whether `signature` (base64, XEdDSA) is the identity key's (base64, as the device uploaded it) over `message`:
 * acknowledgements and forwarding statements (issue 19) are signed so. Any malformed input is false.
 */
export function identitySignatureHolds(identityKey: string, message: Uint8Array<ArrayBuffer>, signature: string): boolean {
  try {
    return PublicKey.deserialize(Buffer.from(identityKey, 'base64')).verify(message, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
