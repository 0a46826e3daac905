import type { DeliveryLimits } from './RelayConfig';
import type { QueueLimits } from './storage/RelayStore';

/**
 * A recipient device's queue limits as the relay configures them: the whole queue, and one sending account's
 * share of it (at least one envelope; the serve options make sure one of the largest size fits). A send checks
 * them as it queues; an escalation ladder when it is held (its envelopes are queued later, when released).
 */
export function queueLimitsOf(delivery: Pick<DeliveryLimits, 'maxQueuedEnvelopes' | 'maxQueuedBytes' | 'senderSharePercent'>): QueueLimits {
  const share = delivery.senderSharePercent / 100;
  return {
    maxEnvelopes: delivery.maxQueuedEnvelopes, maxBytes: delivery.maxQueuedBytes,
    maxEnvelopesPerSender: Math.max(1, Math.floor(delivery.maxQueuedEnvelopes * share)), maxBytesPerSender: Math.floor(delivery.maxQueuedBytes * share),
  };
}
