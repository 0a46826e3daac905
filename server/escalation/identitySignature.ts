/**
 * libsignal is loaded on the first signature to check, not when the relay starts: it is about 3 MiB of
 * the relay's heap and 3 MiB of native code, and only acknowledgements and forwarding statements need it.
 */
let libsignal: Promise<typeof import('@signalapp/libsignal-client')> | undefined;

/**
 * Whether `signature` (base64, XEdDSA) is the identity key's (base64, as the device uploaded it) over `message`:
 * acknowledgements and forwarding statements (issue 19) are signed so. Any malformed input is false.
 */
export async function identitySignatureHolds(identityKey: string, message: Uint8Array<ArrayBuffer>, signature: string): Promise<boolean> {
  libsignal ??= import('@signalapp/libsignal-client');
  const { PublicKey } = await libsignal;
  try {
    return PublicKey.deserialize(Buffer.from(identityKey, 'base64')).verify(message, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
