import type { UiEvent } from '../../../shared/contract';
import type { DeviceAddress } from '../../../shared/ids';
import type { LocalAuditDetails, LocalAuditKind } from '../audit/LocalAudit';
import type { Scheduler } from '../Clock';
import type { ProtocolCore } from '../crypto/ProtocolCore';
import type { Logger } from '../Logger';
import type { ConversationStore } from '../storage/ConversationStore';
import type { MessageStore } from '../storage/MessageStore';
import type { OutboxStore } from '../storage/OutboxStore';
import type { SqlRunner } from '../storage/ProfileDatabase';
import type { RelayClient } from './RelayClient';
import type { Backoff } from './RelayLink';
import type { RelayTrust } from './RelayTrust';
import type { DeferralPolicy } from './SendDeferrals';
import type { UrgentPolicy } from './UrgentReminders';
import type { AttachmentOptions } from '../attachments/Attachments';

/**
 * What the client tells its owner: the contract's UI events but the session ones (which RoundsApp
 * raises). The UI shows no message text in a notification unless policy allows.
 */
export type ClientEvent = Exclude<UiEvent, { type: 'session' }>;

export interface MessagingClientOptions {
  readonly onEvent?: (event: ClientEvent) => void;
  /** Reconnect back-off: first and longest delay (ms). */
  readonly backoff?: Backoff;
  /** Org policy for urgent messages (default: every 2 minutes, at most 10 times). */
  readonly urgent?: UrgentPolicy;
  /** Org policy: the reasons an urgent message may give, and the default escalation times (issue 19). */
  readonly urgentReasons?: readonly string[];
  readonly escalationMinutes?: readonly number[];
  /** Org policy: delete messages older than this many days (default: keep). */
  readonly retentionDays?: number | null;
  /** Time and timers (injected in tests). */
  readonly scheduler?: Scheduler;
  /** The hospital's own CAs for the relay's TLS certificate (org policy `relayCaFile`). */
  readonly relayTrust?: RelayTrust;
  /**
   * When a recipient's queue on the relay is full: first and longest wait (ms) before trying them again
   * (default 30 s, doubling to 15 minutes; a reconnect does not shorten it, a new message does not either).
   */
  readonly deferral?: DeferralPolicy;
  /** Where background failures are reported (default: standard error). */
  readonly logger?: Logger;
  /** Attachments: the policy, what the door can do with files (save, copy), the virus scanner. */
  readonly attachments?: AttachmentOptions;
}

/**
 * What the parts of one profile's messaging client (sending, receiving, care teams) share: its stores,
 * its protocol core and relay, time, and the client's own event, audit and flush hooks.
 */
export interface ClientContext {
  /** This device (fixed once registered). */
  readonly self: DeviceAddress;
  readonly db: SqlRunner;
  readonly core: ProtocolCore;
  readonly relay: RelayClient;
  readonly messages: MessageStore;
  readonly conversations: ConversationStore;
  readonly outbox: OutboxStore;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** False after stop(): nothing more is sent, stored or acknowledged. */
  running(): boolean;
  audit<K extends LocalAuditKind>(type: K, details: LocalAuditDetails[K]): void;
  emit(event: ClientEvent): void;
  /** Flushes the outbox in the background. */
  kick(): void;
}
