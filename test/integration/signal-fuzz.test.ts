import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../shared/errors';
import { RoundsError } from '../../main/core/errors';
import { fromBase64, jsonBytes, toBase64 } from '../../main/core/crypto/encoding';
import { decodePayload, encodePayload } from '../../main/core/crypto/payloadCodec';
import type { Envelope } from '../../shared/wire/envelope';
import { TestCareTeams, TestDirectory, envelopesFor, newConversationId, newDevice, newUserId, seal, sendText, textPayload, type TestDevice } from '../fixtures/protocolHarness';

/** Runs `fn` and returns the error code it failed with, or 'OK'. Anything but a RoundsError fails the test. */
async function outcome(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'OK';
  } catch (error) {
    if (!(error instanceof RoundsError)) throw new Error(`untyped error escaped: ${String(error)}`, { cause: error });
    expect(ERROR_CODES).toContain(error.code);
    return error.code;
  }
}

/** Pads JSON bytes the way encodePayload does, so the fuzzer reaches the schema, not just the padding. */
function padded(json: Uint8Array): Uint8Array {
  const out = new Uint8Array(json.byteLength + 1 + ((160 - ((json.byteLength + 1) % 160)) % 160));
  out.set(json);
  out[json.byteLength] = 0x80;
  return out;
}

/** Flips one byte of a genuine envelope's ciphertext (and truncates or extends it) `runs` times; returns the outcomes. */
async function mutateAndDecrypt(device: TestDevice, genuine: Envelope, runs: number): Promise<Set<string>> {
  const content = fromBase64(genuine.content);
  const codes = new Set<string>();
  await fc.assert(fc.asyncProperty(fc.nat({ max: content.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.nat({ max: content.length + 40 }), async (at, xor, length) => {
    const mutated = new Uint8Array(Math.max(length, at + 1));
    mutated.set(content.subarray(0, mutated.length));
    mutated[at]! ^= xor;
    codes.add(await outcome(() => device.core.decrypt({ ...genuine, content: toBase64(mutated) })));
  }), { numRuns: runs });
  return codes;
}

describe('malformed input never crashes the core', () => {
  it('payload decoder: 3,000 random byte strings and mutated payloads give typed errors only', async () => {
    const seen = new Map<string, number>();
    const count = (code: string) => seen.set(code, (seen.get(code) ?? 0) + 1);
    const valid = textPayload(newConversationId(), 'potassium 5.9, repeat in 2h');

    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
      count(await outcome(() => decodePayload(bytes)));
    }), { numRuns: 1000 });

    // Valid JSON of the wrong shape: every field of a real payload replaced by arbitrary JSON values.
    const keys = Object.keys(valid);
    await fc.assert(fc.asyncProperty(fc.constantFrom(...keys), fc.jsonValue(), async (key, value) => {
      count(await outcome(() => decodePayload(padded(jsonBytes({ ...valid, [key]: value })))));
    }), { numRuns: 1000 });

    // Byte-level mutations of a real encoded payload.
    const encoded = encodePayload(valid);
    await fc.assert(fc.asyncProperty(fc.nat({ max: encoded.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.nat({ max: encoded.length }), async (at, xor, cut) => {
      const mutated = encoded.slice(0, Math.max(cut, at + 1));
      mutated[at]! ^= xor;
      count(await outcome(() => decodePayload(mutated)));
    }), { numRuns: 1000 });

    expect(seen.get('MALFORMED_PAYLOAD')).toBeGreaterThan(1000);
    // A payload from a newer client is recognised as such, not as garbage.
    expect(await outcome(() => decodePayload(padded(jsonBytes({ ...valid, v: 2 }))))).toBe('UNSUPPORTED_PAYLOAD_VERSION');
    expect(await outcome(() => decodePayload(new Uint8Array(200_000)))).toBe('PAYLOAD_TOO_LARGE');
  });

  it('decrypt: 2,000 random envelopes and mutated ciphertexts give typed errors; the real message still decrypts', async () => {
    const directory = new TestDirectory();
    const alice = await newDevice(directory, newUserId(), 1);
    const bob = await newDevice(directory, newUserId(), 1);
    const conversation = newConversationId();
    const [genuine] = envelopesFor(await sendText(alice, directory, [bob.address.userId], conversation, 'real one'), bob);
    const codes = new Set<string>();

    await fc.assert(fc.asyncProperty(fc.anything(), async (junk) => {
      codes.add(await outcome(() => bob.core.decrypt(junk)));
    }), { numRuns: 500 });
    await fc.assert(fc.asyncProperty(fc.constantFrom('prekey', 'whisper', 'senderkey'), fc.uint8Array({ minLength: 3, maxLength: 3000 }), async (type, bytes) => {
      codes.add(await outcome(() => bob.core.decrypt({ ...genuine, type, content: toBase64(bytes) })));
    }), { numRuns: 500 });
    for (const code of await mutateAndDecrypt(bob, genuine!, 1000)) codes.add(code);

    expect(codes.has('OK')).toBe(false);
    expect(codes).toContain('MALFORMED_ENVELOPE');
    expect(codes).toContain('INVALID_MESSAGE');
    // Nothing the fuzzer sent disturbed the session: the genuine message decrypts, once.
    expect((await bob.core.decrypt(genuine)).payload).toMatchObject({ text: 'real one' });
    expect(await outcome(() => bob.core.decrypt(genuine))).toBe('DUPLICATE_MESSAGE');
  });

  it('decrypt: 2,000 mutations of live 1:1 and care-team messages give typed errors; the real ones still decrypt', async () => {
    const directory = new TestDirectory();
    const teams = new TestCareTeams();
    const alice = await newDevice(directory, newUserId(), 1, { careTeams: teams });
    const bob = await newDevice(directory, newUserId(), 1, { careTeams: teams });
    const team = newConversationId();
    teams.set(team, [alice.address.userId, bob.address.userId]);
    // Establish both directions, then take one live whisper and one live care-team message.
    for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
      for (const e of envelopesFor(await sendText(from, directory, [to.address.userId], newConversationId(), 'setup'), to)) await to.core.decrypt(e);
    }
    const [whisper] = envelopesFor(await sendText(alice, directory, [bob.address.userId], newConversationId(), 'live whisper'), bob);
    expect(whisper!.type).toBe('whisper');
    const sent = await alice.core.encryptCareTeam(team, [bob.address], textPayload(team, 'live team message'));
    const [share, teamMessage] = seal(alice, [...sent.senderKeyShares, ...sent.messages]);
    await bob.core.decrypt(share);
    const codes = new Set<string>();
    for (const genuine of [whisper!, teamMessage!]) for (const code of await mutateAndDecrypt(bob, genuine, 1000)) codes.add(code);
    expect(codes.has('OK')).toBe(false);
    expect((await bob.core.decrypt(whisper)).payload).toMatchObject({ text: 'live whisper' });
    expect((await bob.core.decrypt(teamMessage)).payload).toMatchObject({ text: 'live team message' });
  });
});
