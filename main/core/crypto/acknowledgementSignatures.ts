import type { PrivateKey, PublicKey } from '@signalapp/libsignal-client';
import { acknowledgementSigningBytes, type AcknowledgementStatement, type SignedAcknowledgement } from '../../../shared/acknowledgement';
import { identitySignatureVerifies, signWithIdentity } from './identitySignatures';

/* Signatures of acknowledgements (shared/acknowledgement.ts) with a device's identity key (identitySignatures.ts). */

export function signAcknowledgement(identity: PrivateKey, statement: AcknowledgementStatement): SignedAcknowledgement {
  return { statement, signature: signWithIdentity(identity, acknowledgementSigningBytes(statement)) };
}

/** Whether the signature is the identity key's over exactly this statement (any malformed input: false). */
export function acknowledgementVerifies(identityKey: PublicKey | Uint8Array, signed: SignedAcknowledgement): boolean {
  return identitySignatureVerifies(identityKey, acknowledgementSigningBytes(signed.statement), signed.signature);
}
