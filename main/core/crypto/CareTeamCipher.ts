import { SenderKeyDistributionMessage, SenderKeyMessage, groupDecrypt, groupEncrypt, processSenderKeyDistributionMessage } from '@signalapp/libsignal-client';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConversationIdSchema, DistributionIdSchema, addressKey, sameAddress, type ConversationId, type DeviceAddress, type DistributionId } from '../../../shared/ids';
import { PAYLOAD_VERSION, type Payload, type ReceiptPayload, type SenderKeyDistributionPayload, type TextPayload } from '../../../shared/payload';
import { InvalidMessageError, NoSenderKeyError } from '../errors';
import type { DirectCipher, OutgoingCiphertext } from './DirectCipher';
import { fromBase64, jsonBytes, parseJsonBytes, toBase64 } from './encoding';
import { decodePayload, encodePayload } from './payloadCodec';
import { toProtocolAddress, type OperationStores, type ProtocolContext } from './ProtocolContext';
import { senderKeyKey } from './signalStores';
import type { StagedWrites } from './StagedWrites';

/** Our own sending state for one care team: the current distribution and who already holds its key. */
const OwnDistributionRecord = z.strictObject({
  distributionId: DistributionIdSchema,
  sharedWith: z.array(z.string()),
});
interface OwnDistribution {
  readonly distributionId: DistributionId;
  /** Address keys of the devices that hold our current sender key. */
  readonly sharedWith: ReadonlySet<string>;
}

/** Which care team a sender's distribution belongs to, learnt when its key arrived over a 1:1 session. */
const ReceivedDistribution = z.strictObject({ conversationId: ConversationIdSchema });

export interface CareTeamSend {
  /** 1:1 ciphertexts that carry our current sender key to member devices that do not have it yet. */
  readonly senderKeyShares: readonly OutgoingCiphertext[];
  /** The care-team ciphertext, once per member device (the same bytes for each). */
  readonly messages: readonly OutgoingCiphertext[];
}

/**
 * Care-team messages with sender keys: one encryption per message for the whole team. Our sender key is
 * rotated whenever a device that holds it is no longer a member (removal or leaving), so a removed
 * member cannot read anything sent afterwards.
 */
export class CareTeamCipher {
  readonly #ctx: ProtocolContext;
  readonly #direct: DirectCipher;

  constructor(ctx: ProtocolContext, direct: DirectCipher) {
    this.#ctx = ctx;
    this.#direct = direct;
  }

  /**
   * Encrypts `payload` for every device in `members` (our own device is skipped; our other devices are
   * members like anyone else). Refuses the whole send with IdentityChangedError or NoSessionError.
   */
  encrypt(conversationId: ConversationId, members: readonly DeviceAddress[], payload: TextPayload | ReceiptPayload): Promise<CareTeamSend> {
    if (payload.conversationId !== conversationId) {
      return Promise.reject(new InvalidMessageError('payload belongs to another conversation'));
    }
    const recipientsByKey = new Map<string, DeviceAddress>();
    for (const member of members) if (!sameAddress(member, this.#ctx.local.address)) recipientsByKey.set(addressKey(member), member);
    const recipients = [...recipientsByKey.values()];
    const plaintext = encodePayload(payload);
    return this.#ctx.run(async (stores) => {
      this.#direct.assertTrusted(stores.staged, recipients);
      let own = this.#readOwn(stores.staged, conversationId);
      if (!own || [...own.sharedWith].some((key) => !recipientsByKey.has(key))) own = this.#newDistribution(stores, conversationId, own);
      const { distributionId, sharedWith } = own;
      const self = this.#ctx.localAddress;
      const needKey = [...recipientsByKey].filter(([key]) => !sharedWith.has(key)).map(([, address]) => address);
      let senderKeyShares: OutgoingCiphertext[] = [];
      if (needKey.length > 0) {
        const skdm = await SenderKeyDistributionMessage.create(self, distributionId, stores.senderKey);
        const share: SenderKeyDistributionPayload = {
          v: PAYLOAD_VERSION,
          type: 'senderKeyDistribution',
          conversationId,
          distributionId,
          message: toBase64(skdm.serialize()),
          sentAt: this.#ctx.clock.now(),
        };
        senderKeyShares = await this.#direct.encryptIn(stores, needKey, encodePayload(share));
      }
      const ciphertext = (await groupEncrypt(self, distributionId, stores.senderKey, plaintext)).serialize();
      if (needKey.length > 0 || sharedWith.size !== recipients.length) {
        this.#writeOwn(stores.staged, conversationId, { distributionId, sharedWith: new Set(recipientsByKey.keys()) });
      }
      return {
        senderKeyShares,
        messages: recipients.map((recipient) => ({ recipient, type: 'senderkey' as const, content: ciphertext })),
      };
    });
  }

  /** Starts a new sender key for the team now (for example right after a member was removed). */
  rotate(conversationId: ConversationId): Promise<void> {
    return this.#ctx.run(async (stores) => {
      this.#newDistribution(stores, conversationId, this.#readOwn(stores.staged, conversationId));
    });
  }

  /** Stores a sender key that arrived in a 1:1 payload (inside the same operation as its decryption). */
  async acceptDistributionIn(stores: OperationStores, sender: DeviceAddress, share: SenderKeyDistributionPayload): Promise<void> {
    let message: SenderKeyDistributionMessage;
    try {
      message = SenderKeyDistributionMessage.deserialize(fromBase64(share.message));
    } catch (error) {
      throw new InvalidMessageError('sender key distribution does not parse', { cause: error });
    }
    if (message.distributionId() !== share.distributionId) throw new InvalidMessageError('sender key distribution id mismatch');
    const from = toProtocolAddress(sender);
    await processSenderKeyDistributionMessage(from, message, stores.senderKey);
    stores.staged.put('careTeam', receivedKey(sender, share.distributionId), jsonBytes({ conversationId: share.conversationId }));
  }

  /** Decrypts a `senderkey` ciphertext; the payload must belong to the team the sender's key was shared for. */
  async decryptIn(stores: OperationStores, sender: DeviceAddress, content: Uint8Array<ArrayBuffer>): Promise<Payload> {
    const distributionId = SenderKeyMessage.deserialize(content).distributionId();
    const team = stores.staged.getDecoded('careTeam', receivedKey(sender, distributionId), (bytes) => ReceivedDistribution.parse(parseJsonBytes(bytes)).conversationId);
    if (!team) throw new NoSenderKeyError(`no sender key from ${addressKey(sender)} for distribution ${distributionId}`);
    const plaintext = await groupDecrypt(toProtocolAddress(sender), stores.senderKey, content);
    const payload = decodePayload(plaintext);
    if (payload.type === 'senderKeyDistribution') throw new InvalidMessageError('sender keys travel only over 1:1 sessions');
    if (payload.conversationId !== team) throw new InvalidMessageError('care-team message names another conversation');
    return payload;
  }

  #newDistribution(stores: OperationStores, conversationId: ConversationId, previous: OwnDistribution | undefined): OwnDistribution {
    if (previous) stores.staged.delete('senderKey', senderKeyKey(this.#ctx.localAddress, previous.distributionId));
    const next: OwnDistribution = { distributionId: DistributionIdSchema.parse(randomUUID()), sharedWith: new Set() };
    this.#writeOwn(stores.staged, conversationId, next);
    return next;
  }

  #readOwn(staged: StagedWrites, conversationId: ConversationId): OwnDistribution | undefined {
    return staged.getDecoded('careTeam', `own/${conversationId}`, (bytes) => {
      const record = OwnDistributionRecord.parse(parseJsonBytes(bytes));
      return { distributionId: record.distributionId, sharedWith: new Set(record.sharedWith) };
    });
  }

  #writeOwn(staged: StagedWrites, conversationId: ConversationId, state: OwnDistribution): void {
    staged.put('careTeam', `own/${conversationId}`, jsonBytes({ distributionId: state.distributionId, sharedWith: [...state.sharedWith] }));
  }
}

function receivedKey(sender: DeviceAddress, distributionId: DistributionId | string): string {
  return `from/${addressKey(sender)}/${distributionId}`;
}
