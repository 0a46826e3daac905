import type { StagingId } from '../../../shared/attachmentContract';
import type { ConversationId, MessageId, UserId } from '../../../shared/ids';
import { describeError } from '../../../shared/errors';
import { Attachments, type AttachmentOptions } from '../attachments/Attachments';
import { AttachmentStore } from '../attachments/AttachmentStore';
import { pointerOf } from '../attachments/AttachmentUploads';
import { RelayBlobs } from '../attachments/RelayBlobs';
import type { BlobReaders } from '../attachments/TransferHost';
import { RoundsError } from '../errors';
import type { Coverage } from '../presence/forwarding';
import { HeldSendStore, type SendPlan } from '../storage/HeldSendStore';
import type { ClientContext, ClientEvent } from './ClientContext';
import type { OutgoingTexts, SendOptions } from './OutgoingTexts';
import { RelayRequestError, type RelayClient } from './RelayClient';
import type { RoleConversations } from './RoleConversations';
import type { UrgentChoice, UrgentMessages } from './UrgentMessages';

/** After a release the relay could not serve (offline, busy, role lookup failed), the next try waits this long. */
const RETRY_MS = 15_000;

/** What a message with attachments may ask for besides its files: a reply, and urgent with its reason and ladder. */
export interface AttachedChoice {
  readonly replyTo?: MessageId | undefined;
  readonly urgent?: UrgentChoice | undefined;
}

/** What AttachedSends works with: the client's parts, each used as it is for a text without attachments. */
export interface AttachedSendParts {
  readonly texts: Pick<OutgoingTexts, 'sendText' | 'release'>;
  readonly urgent: Pick<UrgentMessages, 'plan' | 'optionsOf'>;
  readonly roles: Pick<RoleConversations, 'get' | 'resolve'>;
  /** Whether someone covers for this 1:1 recipient now, and who (presence/forwarding.ts). */
  readonly coverage: (peer: UserId) => Promise<Coverage | null>;
  readonly attachments: () => Pick<Attachments, 'take' | 'storeOutgoing' | 'startUploads' | 'withdraw'>;
  readonly store: AttachmentStore;
  readonly blobs: Pick<RelayBlobs, 'addReaders'>;
}

/**
 * A client's attachments (issue 20) with their send path: the uploads report here, and their messages go from here.
 * `expiresAt`: when the sender's retention deletes a message sent at `sentAt` (the relay keeps its blobs no longer).
 */
export function clientAttachments(
  ctx: ClientContext, relay: RelayClient, parts: Omit<AttachedSendParts, 'attachments' | 'store' | 'blobs'>,
  expiresAt: (sentAt: number) => number | undefined, options?: AttachmentOptions,
): { attachments: Attachments; sends: AttachedSends } {
  const store = new AttachmentStore(ctx.db);
  const blobs = new RelayBlobs(relay, ctx.scheduler);
  const sends: AttachedSends = new AttachedSends(ctx, { ...parts, store, blobs, attachments: () => attachments });
  const attachments: Attachments = new Attachments({
    db: ctx.db, store, blobs, now: () => ctx.scheduler.now(), running: () => ctx.running(), emit: (event) => ctx.emit(event), audit: (type, details) => ctx.audit(type, details),
    release: (messageId) => void sends.release(messageId as MessageId),
    cancelled: (messageId) => sends.cancelled(messageId as MessageId),
    recipients: (messageId) => sends.readersAtUpload(messageId as MessageId),
    expiresAt,
  }, { logger: ctx.logger, ...options });
  return { attachments, sends };
}

/*
 * Messages with attachments of every kind (issues 19 and 20): 1:1, care team or on-call role; urgent with its reason
 * and escalation ladder; with copies for a colleague covering an absent recipient. The message is stored at once and
 * its files uploaded; how the clinician asked it to go is kept in the profile (HeldSendStore) until they are up, then
 * it goes through the same payload builder as any text (OutgoingTexts.release), so nothing of role, urgency or coverage
 * is lost, even across a restart between the upload and the release.
 *
 * Decided when it is written (the clinician's choices, fixed then): the reason, the ladder and each rung's
 * recipients (a role step resolved then, as for a text), the reply. Decided when it goes, because they must be true
 * at that moment and an upload can take minutes or wait for the next start: who holds a role (asked of the relay
 * then, so a hand-over during the upload sends it to the new holder, never to someone off call), and whether the
 * 1:1 recipient is away with someone covering (their status then).
 *
 * Blob readers (the relay serves a blob only to its uploader's and readers' accounts): at upload, the recipients
 * known then (a 1:1's peer, a care team's members, a role's initiator) and every escalation rung's recipients; at
 * release, before the message goes, the role's holders, the covering colleagues and a care team's members as they
 * are then. A rung's recipient is a reader from the start although the relay releases the rung later: the blob's id
 * and key reach them only inside the rung's envelope (a rung acknowledged in time never does), and the relay knows
 * them as the ladder's recipients anyway; they are named apart, and the relay removes them when the ladder is
 * acknowledged before their rung went (unless named again at release). No other reader is removed: a role holder added by a release attempt that
 * then stopped, or a member who left the team during the upload, stays one (ciphertext only, without the key). A
 * ladder's role steps are resolved when the message is written (its copies are encrypted then), so a hand-over
 * between writing and release reaches the rung's earlier holder; the message itself goes to the role's holders then.
 */
export class AttachedSends {
  readonly held: HeldSendStore;
  readonly #releasing = new Set<MessageId>();
  #retry: { cancel(): void } | undefined;

  constructor(private readonly ctx: ClientContext, private readonly parts: AttachedSendParts) {
    this.held = new HeldSendStore(ctx.db);
  }

  /** Stores the message with its files (to be uploaded) and how it is to go; it goes once they are up. */
  async send(conversationId: ConversationId, text: string, staged: readonly StagingId[], choice: AttachedChoice = {}): Promise<MessageId> {
    const { parts, ctx } = this;
    const role = parts.roles.get(conversationId);
    const kind = role ? 'role' : ctx.conversations.careTeam(conversationId) ? 'careTeam' : 'direct';
    // Checked before the files leave the composer's staging: a refused reason or ladder leaves them there.
    const urgent = choice.urgent ? await parts.urgent.plan(conversationId, choice.urgent) : undefined;
    const plan: SendPlan = { kind, ...(choice.replyTo ? { replyTo: choice.replyTo } : {}), ...(urgent ? { urgent } : {}) };
    const files = parts.attachments().take(staged);
    const id = await parts.texts.sendText(conversationId, text, {
      ...(choice.replyTo ? { replyTo: choice.replyTo } : {}), urgent: urgent !== undefined,
      withAttachments: {
        // A role's holders are asked when it goes; until then only the initiator is known (when a holder writes).
        ...(role ? { recipients: role.initiator === ctx.self.userId ? [] : [role.initiator] } : {}),
        hold: (messageId) => {
          parts.attachments().storeOutgoing(messageId, files);
          this.held.hold(messageId, plan, ctx.scheduler.now());
        },
      },
    });
    parts.attachments().startUploads(id);
    return id;
  }

  /**
   * Whose accounts may fetch the message's blobs from the start: its recipients known now, and apart, those only its
   * ladder's rungs reach (the relay removes them again when the ladder is acknowledged before their rung went).
   */
  readersAtUpload(messageId: MessageId): BlobReaders {
    const recipients = (this.ctx.messages.byId(messageId)?.recipients ?? []) as UserId[];
    const rungs = this.held.get(messageId)?.urgent?.rungs.flatMap((r) => r.recipients) ?? [];
    const ladder = [...new Set(rungs)].filter((u) => !recipients.includes(u));
    return { readers: [...new Set(recipients)], ...(ladder.length > 0 ? { ladder: { messageId, readers: ladder } } : {}) };
  }

  /**
   * Every attachment of the message is on the relay: decides what is decided now, names the readers that adds on the
   * relay, and queues the message (one transaction, which also ends its hold). Failing for now (offline, the relay
   * busy or unable to say who holds a role) it stays held and is tried again (a timer, and at each connect).
   */
  async release(messageId: MessageId): Promise<void> {
    if (this.#releasing.has(messageId)) return;
    this.#releasing.add(messageId);
    try {
      await this.#release(messageId);
    } catch (error) {
      const never = neverGoes(error);
      if (never) {
        // Nobody to send it to, no longer a member of its care team or conversation, or its files gone from the
        // relay: it never goes (the sender is told, rather than seeing it pending for ever), and its blobs leave the relay.
        if (this.#fail(messageId, never)) await this.parts.attachments().withdraw(messageId).catch(() => undefined);
        return;
      }
      // Logged by code only: never the message or its files.
      if (!(error instanceof RelayRequestError) && !(error instanceof RoundsError && error.code === 'ROLE_LOOKUP_FAILED')) this.ctx.logger.error(`releasing a message with attachments failed: ${describeError(error)}`);
      if (this.ctx.running()) this.#retry ??= this.ctx.scheduler.after(RETRY_MS, () => {
        this.#retry = undefined;
        void this.releaseReady();
      });
    } finally {
      this.#releasing.delete(messageId);
    }
  }

  /** Messages whose uploads ended but that did not go yet (a restart, or the relay unreachable at their release). */
  async releaseReady(): Promise<void> {
    for (const id of this.held.ready()) {
      if (!this.ctx.running()) return;
      await this.release(id);
    }
  }

  /** The user cancelled an upload: the message will not go (its blobs are withdrawn by the uploads). */
  cancelled(messageId: MessageId): void {
    this.#fail(messageId, 'ATTACHMENT_CANCELLED');
  }

  stop(): void {
    this.#retry?.cancel();
    this.#retry = undefined;
  }

  async #release(messageId: MessageId): Promise<void> {
    const { ctx, parts } = this;
    const plan = this.held.get(messageId);
    const message = ctx.messages.byId(messageId);
    const attachments = parts.store.byMessage(messageId);
    if (!plan || !message || !ctx.running() || attachments.length === 0 || attachments.some((a) => a.state !== 'uploaded')) return;
    const options: Omit<SendOptions, 'withAttachments'> = {
      ...(plan.replyTo ? { replyTo: plan.replyTo } : {}),
      ...(plan.urgent ? parts.urgent.optionsOf(plan.urgent) : {}),
      ...await this.#decidedNow(message.conversationId, plan),
    };
    // Whoever it goes to now: a role's holders, covering colleagues, and a care team's members as they are now (one
    // added while the files went up gets the message, so must be able to fetch them).
    const team = plan.kind === 'careTeam' ? (ctx.conversations.careTeam(message.conversationId)?.members ?? []).filter((u) => u !== ctx.self.userId) : [];
    const readers = [...new Set([...(options.role?.recipients ?? []), ...(options.coverage?.to ?? []), ...team])] as UserId[];
    if (readers.length > 0) for (const a of attachments) if (a.blobId) await parts.blobs.addReaders(a.blobId, readers);
    // Stopped (locked) meanwhile: it stays held and goes at the next start, decided afresh then.
    if (!ctx.running()) return;
    const pointers = attachments.map(pointerOf);
    let released = false;
    ctx.db.transaction(() => {
      if (this.held.release(messageId)) released = parts.texts.release(messageId, pointers, options);
    });
    if (released) ctx.kick();
  }

  /** What must be true when the message goes: a role's holders now, and whether someone covers a 1:1 recipient now. */
  async #decidedNow(conversationId: ConversationId, plan: SendPlan): Promise<Pick<SendOptions, 'role' | 'coverage'>> {
    const { parts, ctx } = this;
    if (plan.kind === 'role') {
      const conversation = parts.roles.get(conversationId);
      if (!conversation) throw new RoundsError('NOT_FOUND', 'the role conversation is gone');
      return { role: await parts.roles.resolve(conversation) };
    }
    const peer = plan.kind === 'direct' ? ctx.conversations.peer(conversationId) : undefined;
    const coverage = peer ? await parts.coverage(peer) : null;
    return coverage ? { coverage } : {};
  }

  /** The message will never go: its hold ends, it shows as failed. False when it was not held (gone, or failed already). */
  #fail(messageId: MessageId, reason: SendFailure): boolean {
    const { ctx } = this;
    let failed = false;
    ctx.db.transaction(() => {
      if (!this.held.release(messageId)) return;
      ctx.messages.markSendFailed(messageId, reason);
      failed = true;
    });
    if (failed) ctx.emit({ type: 'sendFailed', messageId, reason });
    return failed;
  }
}

type SendFailure = Extract<ClientEvent, { type: 'sendFailed' }>['reason'];

/** Why a held message can never go, or null when its release may succeed later (offline, the relay busy). */
function neverGoes(error: unknown): SendFailure | null {
  if (error instanceof RoundsError) {
    if (error.code === 'ROLE_UNCOVERED' || error.code === 'NOT_A_MEMBER' || error.code === 'ROLE_TOO_MANY_HOLDERS') return error.code;
    // Its role conversation was removed meanwhile.
    if (error.code === 'NOT_FOUND') return 'NOT_A_MEMBER';
  }
  // The relay no longer has one of its files, or refuses the readers it needs: trying again changes nothing.
  if (error instanceof RelayRequestError && (error.code === 'NOT_FOUND' || error.code === 'BAD_REQUEST')) return 'ATTACHMENT_UNAVAILABLE';
  return null;
}
