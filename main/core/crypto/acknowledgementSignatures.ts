import { PublicKey, type PrivateKey } from '@signalapp/libsignal-client';
import { acknowledgementSigningBytes, type AcknowledgementStatement, type SignedAcknowledgement } from '../../../shared/acknowledgement';
import { fromBase64, toBase64 } from './encoding';

/*
 * Signatures of acknowledgements (shared/acknowledgement.ts) with a device's identity key: XEdDSA, as
 * libsignal signs prekeys, over the domain-separated canonical statement. The private key never leaves the
 * protocol core; what leaves is the 64-byte signature.
 */

export function signAcknowledgement(identity: PrivateKey, statement: AcknowledgementStatement): SignedAcknowledgement {
  return { statement, signature: toBase64(identity.sign(acknowledgementSigningBytes(statement))) };
}

/** Whether the signature is the identity key's over exactly this statement (any malformed input: false). */
export function acknowledgementVerifies(identityKey: PublicKey | Uint8Array, signed: SignedAcknowledgement): boolean {
  try {
    const key = identityKey instanceof PublicKey ? identityKey : PublicKey.deserialize(Uint8Array.from(identityKey));
    return key.verify(acknowledgementSigningBytes(signed.statement), fromBase64(signed.signature));
  } catch {
    return false;
  }
}
