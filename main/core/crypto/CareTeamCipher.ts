import { SenderKeyDistributionMessage, SenderKeyMessage, groupDecrypt, groupEncrypt, processSenderKeyDistributionMessage } from '@signalapp/libsignal-client';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConversationIdSchema, DistributionIdSchema, addressKey, parseAddressKey, sameAddress, type ConversationId, type DeviceAddress, type DistributionId, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION, type Payload, type ReceiptPayload, type SenderKeyDistributionPayload, type TextPayload } from '../../../shared/payload';
import { InvalidMessageError, NoSenderKeyError } from '../errors';
import type { DirectCipher, OutgoingCiphertext } from './DirectCipher';
import { fromBase64, jsonBytes, parseJsonBytes, toBase64 } from './encoding';
import { readContactIdentity, readPendingChange } from './IdentityStore';
import { decodePayload, encodePayload } from './payloadCodec';
import { toProtocolAddress, type OperationStores, type ProtocolContext } from './ProtocolContext';
import { senderKeyKey } from './signalStores';
import type { StagedWrites } from './StagedWrites';

/** Our own sending state for one care team: the current distribution and who already holds its key. */
const OwnDistributionRecord = z.strictObject({
  distributionId: DistributionIdSchema,
  /** Address key of each device holding our current sender key -> the identity key it had then. */
  sharedWith: z.record(z.string(), z.string()),
});
interface OwnDistribution {
  readonly distributionId: DistributionId;
  readonly sharedWith: ReadonlyMap<string, string>;
}

/**
 * Who belongs to which care team: the messaging layer keeps the membership and answers here. The core
 * refuses sender keys and team messages from anyone who is not a member at the time they arrive.
 */
export interface CareTeamMembership {
  /** Whether this conversation id names a care team (rather than a 1:1 conversation). */
  isCareTeam(conversationId: ConversationId): boolean;
  /** Whether the user is a member of the care team now (false for a team we do not know). */
  isMember(conversationId: ConversationId, userId: UserId): boolean;
}

/** Until the messaging layer supplies one: no care teams, so all care-team traffic is refused. */
export const NO_CARE_TEAMS: CareTeamMembership = { isCareTeam: () => false, isMember: () => false };

/** Which care team a sender's distribution belongs to, learnt when its key arrived over a 1:1 session. */
const ReceivedDistribution = z.strictObject({ conversationId: ConversationIdSchema });

export interface CareTeamSend {
  /**
   * Our distribution the message is encrypted with (its key is recorded as shared with the recipients of
   * `senderKeyShares`); none when there was nobody to encrypt for.
   */
  readonly distributionId?: DistributionId;
  /** 1:1 ciphertexts that carry our current sender key to member devices that do not have it yet. */
  readonly senderKeyShares: readonly OutgoingCiphertext[];
  /** The care-team ciphertext, once per member device (the same bytes for each). */
  readonly messages: readonly OutgoingCiphertext[];
}

/**
 * Care-team messages with sender keys: one encryption per message for the whole team. Our sender key is
 * rotated whenever a device that holds it is no longer a reader (removal or leaving) or no longer has
 * the identity key it had when it got our key (reinstalled, or replaced), so neither a removed member nor
 * the holder of a replaced identity can read anything sent afterwards. A reader this send does not address (its
 * relay queue is full: it gets the message later) is no change of who is in the team, and the key stays: the caller
 * names such readers only from a directory it has just read, so a revoked workstation is not one of them.
 */
export class CareTeamCipher {
  readonly #ctx: ProtocolContext;
  readonly #direct: DirectCipher;
  readonly #membership: CareTeamMembership;

  constructor(ctx: ProtocolContext, direct: DirectCipher, membership: CareTeamMembership) {
    this.#ctx = ctx;
    this.#direct = direct;
    this.#membership = membership;
  }

  /**
   * Encrypts `payload` for every device in `members` (our own device is skipped; our other devices are
   * members like anyone else). Refuses the whole send with IdentityChangedError or NoSessionError. For no
   * device at all, nothing. `readers`: every device that may read this message, those of `members` and those it
   * goes to later (their relay queue is full now) or went to already: the key stays while only they hold it.
   */
  encrypt(conversationId: ConversationId, members: readonly DeviceAddress[], payload: TextPayload | ReceiptPayload, readers: readonly DeviceAddress[] = members): Promise<CareTeamSend> {
    if (payload.conversationId !== conversationId) {
      return Promise.reject(new InvalidMessageError('payload belongs to another conversation'));
    }
    const recipientsByKey = new Map<string, DeviceAddress>();
    for (const member of members) if (!sameAddress(member, this.#ctx.address)) recipientsByKey.set(addressKey(member), member);
    const recipients = [...recipientsByKey.values()];
    const mayRead = new Set([...recipientsByKey.keys(), ...readers.map(addressKey)]);
    // For nobody (a team we alone are left in, no other device of ours known) there is nothing to encrypt: a sender
    // key started now has no state until it is shared, and encrypting with it would fail on every try.
    if (recipients.length === 0) return Promise.resolve({ senderKeyShares: [], messages: [] });
    const plaintext = encodePayload(payload);
    return this.#ctx.run(async (stores) => {
      this.#direct.assertTrusted(stores.staged, recipients);
      let own = this.#readOwn(stores.staged, conversationId);
      const currentKey = (key: string) => readContactIdentity(stores.staged, key)?.key;
      const stale = own && [...own.sharedWith].some(([key, identity]) => !mayRead.has(key) || currentKey(key) !== identity);
      if (!own || stale) own = this.#newDistribution(stores, conversationId, own);
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
      if (needKey.length > 0) {
        const holders = new Map(sharedWith);
        for (const address of needKey) holders.set(addressKey(address), currentKey(addressKey(address)) ?? '');
        this.#writeOwn(stores.staged, conversationId, { distributionId, sharedWith: holders });
      }
      return {
        distributionId,
        senderKeyShares,
        messages: recipients.map((recipient) => ({ recipient, type: 'senderkey' as const, content: ciphertext })),
      };
    });
  }

  /**
   * The relay took none of a send: these devices did not get our sender key after all. They are no longer
   * recorded as holding it, so the next send gives them the same key (nothing to do if it was replaced since).
   */
  notShared(conversationId: ConversationId, distributionId: DistributionId, devices: readonly DeviceAddress[]): Promise<void> {
    return this.#ctx.run(async (stores) => {
      const own = this.#readOwn(stores.staged, conversationId);
      if (own?.distributionId !== distributionId) return;
      const holders = new Map(own.sharedWith);
      for (const device of devices) holders.delete(addressKey(device));
      this.#writeOwn(stores.staged, conversationId, { distributionId, sharedWith: holders });
    });
  }

  /**
   * The devices recorded as holding our current sender key for the team (none before the first send). The sender
   * asks before it lets a holder it does not address keep the key: whether that holder is still a reader is only as
   * current as its directory (see OutboxSender).
   */
  holders(conversationId: ConversationId): Promise<DeviceAddress[]> {
    return this.#ctx.run(async (stores) => [...(this.#readOwn(stores.staged, conversationId)?.sharedWith.keys() ?? [])].map(parseAddressKey));
  }

  /** Starts a new sender key for the team now (for example right after a member was removed). */
  rotate(conversationId: ConversationId): Promise<void> {
    return this.#ctx.run(async (stores) => {
      this.#newDistribution(stores, conversationId, this.#readOwn(stores.staged, conversationId));
    });
  }

  /**
   * Checks a decrypted 1:1 payload (inside the decrypt operation):
   * - a sender key, a care-team change, or a copy from one of our own devices is refused from a device
   *   whose identity change the user has not acknowledged (else whoever runs the relay could add a device
   *   to a member's account and use it to change the team or to plant messages as us);
   * - a sender key for a team we know is stored only from a member (for a team we do not know yet it is
   *   kept, and every message it decrypts is still checked against membership when it arrives);
   * - a text naming a care team must come with the team's key instead; a receipt about a team's message
   *   only from a member. Who may change a team is decided by the membership store, which knows its versions.
   */
  async checkDirectIn(stores: OperationStores, sender: DeviceAddress, payload: Payload): Promise<void> {
    const trustSensitive = payload.type === 'senderKeyDistribution' || payload.type === 'careTeam' || sender.userId === this.#ctx.address.userId;
    if (trustSensitive && readPendingChange(stores.staged, addressKey(sender))) {
      throw new InvalidMessageError(`${payload.type} from a device whose new identity is not acknowledged yet`);
    }
    if (payload.type === 'senderKeyDistribution') return this.#acceptDistributionIn(stores, sender, payload);
    if (payload.type === 'careTeam') return;
    if (!this.#membership.isCareTeam(payload.conversationId)) return;
    if (payload.type === 'text') throw new InvalidMessageError('a care-team text arrived outside the team channel');
    if (!this.#membership.isMember(payload.conversationId, sender.userId)) throw new InvalidMessageError('receipt for a care team from a non-member');
  }

  /** Stores a sender key that arrived in a 1:1 payload (from a member, when we know the team). */
  async #acceptDistributionIn(stores: OperationStores, sender: DeviceAddress, share: SenderKeyDistributionPayload): Promise<void> {
    if (this.#membership.isCareTeam(share.conversationId) && !this.#membership.isMember(share.conversationId, sender.userId)) {
      throw new InvalidMessageError('sender key from someone who is not a member of that care team');
    }
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
    if (payload.type === 'senderKeyDistribution' || payload.type === 'careTeam') throw new InvalidMessageError(`${payload.type} travels only over 1:1 sessions`);
    if (payload.conversationId !== team) throw new InvalidMessageError('care-team message names another conversation');
    if (!this.#membership.isMember(team, sender.userId)) throw new InvalidMessageError('care-team message from someone who is no longer a member');
    return payload;
  }

  #newDistribution(stores: OperationStores, conversationId: ConversationId, previous: OwnDistribution | undefined): OwnDistribution {
    if (previous) stores.staged.delete('senderKey', senderKeyKey(this.#ctx.localAddress, previous.distributionId));
    const next: OwnDistribution = { distributionId: DistributionIdSchema.parse(randomUUID()), sharedWith: new Map() };
    this.#writeOwn(stores.staged, conversationId, next);
    return next;
  }

  #readOwn(staged: StagedWrites, conversationId: ConversationId): OwnDistribution | undefined {
    return staged.getDecoded('careTeam', `own/${conversationId}`, (bytes) => {
      const record = OwnDistributionRecord.parse(parseJsonBytes(bytes));
      return { distributionId: record.distributionId, sharedWith: new Map(Object.entries(record.sharedWith)) };
    });
  }

  #writeOwn(staged: StagedWrites, conversationId: ConversationId, state: OwnDistribution): void {
    staged.put('careTeam', `own/${conversationId}`, jsonBytes({ distributionId: state.distributionId, sharedWith: Object.fromEntries(state.sharedWith) }));
  }
}

function receivedKey(sender: DeviceAddress, distributionId: DistributionId | string): string {
  return `from/${addressKey(sender)}/${distributionId}`;
}
