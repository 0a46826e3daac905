/**
 * The Signal-protocol core against bare libsignal calls on the same machine in the same run.
 * Goal (issue 2): every ours/bare cost ratio at most 1.5.
 */
import {
  CiphertextMessageType,
  PreKeyBundle,
  PreKeySignalMessage,
  ProtocolAddress,
  SenderKeyDistributionMessage,
  SignalMessage,
  groupDecrypt,
  groupEncrypt,
  processPreKeyBundle,
  processSenderKeyDistributionMessage,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from '@signalapp/libsignal-client';
import { randomUUID } from 'node:crypto';
import type { DeviceId } from '../../shared/ids';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { TestCareTeams, TestDirectory, ensureSessions, newConversationId, newDevice, newUserId, seal, textPayload, type TestDevice } from '../fixtures/protocolHarness';
import { BareStores } from './bareSignalStores';
import { compareRates, rateRow, type BenchRow } from './measure';

const SUITE = 'signal core';
const GOAL = '<= 1.5';
const TEXT_200 = 'x'.repeat(200);
const BYTES_200 = new Uint8Array(200).fill(120);

function toEnvelope(sender: ProtocolCore, o: { type: 'prekey' | 'whisper' | 'senderkey'; recipient: unknown; content: Uint8Array }) {
  return { id: randomUUID(), type: o.type, sender: sender.address, recipient: o.recipient, content: Buffer.from(o.content).toString('base64') };
}

/** New Alice, bundle from Bob, first message, Bob decrypts it: the whole first contact. */
async function sessionSetup(iterations: number, rounds: number): Promise<[number, number]> {
  const total = iterations * (rounds + 1);
  // Ours: Bob publishes `total` one-time keys; each iteration is a new Alice (created beforehand).
  const directory = new TestDirectory();
  const bob = await newDevice(directory, newUserId(), 1, { batchSize: total });
  const alices = Array.from({ length: total }, () => ProtocolCore.createDevice(new InMemoryProtocolStorage(), { userId: newUserId(), deviceId: 1 as DeviceId }));
  const bundles = alices.map(() => directory.bundle(bob.address));
  const conversation = newConversationId();
  const payload = textPayload(conversation, 'hi');
  const ours = async (i: number) => {
    const alice = alices[i]!;
    await alice.startSession(bundles[i]);
    const [out] = await alice.encryptDirect([bob.address], payload);
    await bob.core.decrypt(toEnvelope(alice, out!));
  };

  // Bare: the same steps with raw libsignal calls.
  const bareBob = new BareStores();
  const bobAddress = ProtocolAddress.new(randomUUID(), 1);
  const keys = bareBob.generatePreKeys(1, total);
  const bareAlices = Array.from({ length: total }, () => ({ stores: new BareStores(), address: ProtocolAddress.new(randomUUID(), 1) }));
  const bare = async (i: number) => {
    const { stores, address } = bareAlices[i]!;
    const ec = keys.ec[i]!;
    const kyber = keys.kyber[i]!;
    const bundle = PreKeyBundle.new(bareBob.registrationId, 1, ec.id(), ec.publicKey(), keys.signedId, keys.signed.publicKey(), keys.signed.signature(), bareBob.identityKeyPair.publicKey, kyber.id(), kyber.publicKey(), kyber.signature());
    await processPreKeyBundle(bundle, bobAddress, address, stores.session, stores.identity);
    const message = await signalEncrypt(BYTES_200.slice(0, 2), bobAddress, address, stores.session, stores.identity);
    await signalDecryptPreKey(PreKeySignalMessage.deserialize(message.serialize()), address, bobAddress, bareBob.session, bareBob.identity, bareBob.preKey, bareBob.signedPreKey, bareBob.kyberPreKey);
  };
  return compareRates(ours, bare, iterations, rounds);
}

/** A 200-byte message encrypted and decrypted, the direction alternating every message. */
export async function directMessages(iterations: number, rounds: number): Promise<[number, number]> {
  const directory = new TestDirectory();
  const a = await newDevice(directory, newUserId(), 1);
  const b = await newDevice(directory, newUserId(), 1);
  await ensureSessions(a, directory, [b.address]);
  const payload = textPayload(newConversationId(), TEXT_200);
  const exchange = async (from: TestDevice, to: TestDevice) => {
    const [envelope] = seal(from, await from.core.encryptDirect([to.address], payload));
    await to.core.decrypt(envelope);
  };
  await exchange(a, b);
  await exchange(b, a);

  const sa = new BareStores();
  const sb = new BareStores();
  const aa = ProtocolAddress.new(randomUUID(), 1);
  const ab = ProtocolAddress.new(randomUUID(), 1);
  const keys = sb.generatePreKeys(1, 1);
  const bundle = PreKeyBundle.new(sb.registrationId, 1, keys.ec[0]!.id(), keys.ec[0]!.publicKey(), keys.signedId, keys.signed.publicKey(), keys.signed.signature(), sb.identityKeyPair.publicKey, keys.kyber[0]!.id(), keys.kyber[0]!.publicKey(), keys.kyber[0]!.signature());
  await processPreKeyBundle(bundle, ab, aa, sa.session, sa.identity);
  const send = async (from: BareStores, fromAddr: ProtocolAddress, to: BareStores, toAddr: ProtocolAddress) => {
    const message = await signalEncrypt(BYTES_200, toAddr, fromAddr, from.session, from.identity);
    if (message.type() === CiphertextMessageType.PreKey) {
      await signalDecryptPreKey(PreKeySignalMessage.deserialize(message.serialize()), fromAddr, toAddr, to.session, to.identity, to.preKey, to.signedPreKey, to.kyberPreKey);
    } else {
      await signalDecrypt(SignalMessage.deserialize(message.serialize()), fromAddr, toAddr, to.session, to.identity);
    }
  };
  await send(sa, aa, sb, ab);
  await send(sb, ab, sa, aa);
  return compareRates(
    (i) => (i % 2 === 0 ? exchange(a, b) : exchange(b, a)),
    (i) => (i % 2 === 0 ? send(sa, aa, sb, ab) : send(sb, ab, sa, aa)),
    iterations,
    rounds,
  );
}

/** One message to a care team of 50 (sender keys already shared), and its decryption by one member. */
export async function careTeam(iterations: number, rounds: number): Promise<{ encrypt: [number, number]; decrypt: [number, number] }> {
  const directory = new TestDirectory();
  const team = newConversationId();
  const teams = new TestCareTeams();
  const lead = await newDevice(directory, newUserId(), 1, { careTeams: teams });
  const members: TestDevice[] = [];
  for (let i = 0; i < 50; i++) members.push(await newDevice(directory, newUserId(), 1, { batchSize: 1, careTeams: teams }));
  teams.set(team, [lead, ...members].map((m) => m.address.userId));
  const addresses = members.map((m) => m.address);
  await ensureSessions(lead, directory, addresses);
  const reader = members[0]!;
  const first = await lead.core.encryptCareTeam(team, addresses, textPayload(team, TEXT_200));
  for (const envelope of seal(lead, [...first.senderKeyShares, ...first.messages]).filter((e) => e.recipient.userId === reader.address.userId)) await reader.core.decrypt(envelope);
  const payload = textPayload(team, TEXT_200);

  const sender = new BareStores();
  const senderAddr = ProtocolAddress.new(randomUUID(), 1);
  const receiver = new BareStores();
  const distributionId = randomUUID();
  const skdm = await SenderKeyDistributionMessage.create(senderAddr, distributionId, sender.senderKey);
  await processSenderKeyDistributionMessage(senderAddr, SenderKeyDistributionMessage.deserialize(skdm.serialize()), receiver.senderKey);

  const encrypt = await compareRates(
    () => lead.core.encryptCareTeam(team, addresses, payload),
    () => groupEncrypt(senderAddr, distributionId, sender.senderKey, BYTES_200),
    iterations,
    rounds,
  );

  // Decryption needs fresh ciphertexts for every iteration; they are made before timing, on both sides,
  // under a new sender key (the reader never saw the encrypt phase's messages, and skipping thousands of
  // chain steps is not what is measured here).
  await lead.core.rotateCareTeamKey(team);
  const shares = await lead.core.encryptCareTeam(team, addresses, payload);
  for (const envelope of seal(lead, [...shares.senderKeyShares, ...shares.messages]).filter((e) => e.recipient.userId === reader.address.userId)) await reader.core.decrypt(envelope);
  const freshDistribution = randomUUID();
  const freshSkdm = await SenderKeyDistributionMessage.create(senderAddr, freshDistribution, sender.senderKey);
  await processSenderKeyDistributionMessage(senderAddr, SenderKeyDistributionMessage.deserialize(freshSkdm.serialize()), receiver.senderKey);
  const count = iterations * (rounds + 1);
  const envelopes: unknown[] = [];
  const bareCiphertexts: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < count; i++) {
    const sent = await lead.core.encryptCareTeam(team, addresses, payload);
    envelopes.push(toEnvelope(lead.core, sent.messages[0]!));
    bareCiphertexts.push((await groupEncrypt(senderAddr, freshDistribution, sender.senderKey, BYTES_200)).serialize());
  }
  const decrypt = await compareRates(
    (i) => reader.core.decrypt(envelopes[i]),
    (i) => groupDecrypt(senderAddr, receiver.senderKey, bareCiphertexts[i]!),
    iterations,
    rounds,
  );
  return { encrypt, decrypt };
}

export async function runSignalCoreBench(): Promise<BenchRow[]> {
  // Many short alternating rounds: medians that hold still on a shared 2-core machine.
  const [setupOurs, setupBare] = await sessionSetup(40, 15);
  const [directOurs, directBare] = await directMessages(300, 15);
  const team = await careTeam(300, 15);
  return [
    rateRow(SUITE, 'PQXDH session setup (bundle, first message, decrypt)', setupOurs, setupBare, GOAL),
    rateRow(SUITE, '1:1 encrypt+decrypt, 200 bytes, alternating', directOurs, directBare, GOAL),
    rateRow(SUITE, 'care team of 50: encrypt one message', team.encrypt[0], team.encrypt[1], GOAL),
    rateRow(SUITE, 'care team: decrypt one message (member side)', team.decrypt[0], team.decrypt[1], GOAL),
  ];
}
