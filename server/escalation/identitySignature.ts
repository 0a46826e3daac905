/**
 * libsignal is loaded on the first signature to check, not when the relay starts (only acknowledgements and
 * forwarding statements need it), and only its keys' module: the whole package is about 3 MiB of the relay's
 * heap, its EcKeys module (with the native code every part shares) 1.3 MiB. The module path is libsignal's
 * own file layout, pinned by npm-shrinkwrap.json; the tests run this import.
 */
let libsignal: Promise<typeof import('@signalapp/libsignal-client/dist/EcKeys.js')> | undefined;

/**
 * Whether `signature` (base64, XEdDSA) is the identity key's (base64, as the device uploaded it) over `message`:
 * acknowledgements and forwarding statements (issue 19) are signed so. Any malformed input is false.
 */
export async function identitySignatureHolds(identityKey: string, message: Uint8Array<ArrayBuffer>, signature: string): Promise<boolean> {
  libsignal ??= import('@signalapp/libsignal-client/dist/EcKeys.js');
  const { PublicKey } = await libsignal;
  try {
    return PublicKey.deserialize(Buffer.from(identityKey, 'base64')).verify(message, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
