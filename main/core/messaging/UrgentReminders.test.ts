import { describe, expect, it } from 'vitest';
import type { ConversationId, MessageId } from '../../../shared/ids';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import { UrgentReminders, type UrgentReminder } from './UrgentReminders';

const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}` as MessageId;
const conversation = '00000000-0000-4000-9000-000000000001' as ConversationId;

describe('urgent reminders (virtual time)', () => {
  it('re-notifies every 2 minutes until acknowledged, at most 10 times', () => {
    const scheduler = virtualScheduler();
    const reminders: UrgentReminder[] = [];
    const urgent = new UrgentReminders({ intervalMs: 120_000, maxReminders: 10 }, scheduler, (r) => reminders.push(r));
    urgent.track(id(1), conversation);
    scheduler.advance(119_000);
    expect(reminders).toEqual([]);
    scheduler.advance(2_000);
    expect(reminders).toEqual([{ messageId: id(1), conversationId: conversation, reminder: 1 }]);
    urgent.track(id(2), conversation);
    scheduler.advance(60 * 60_000); // an hour unacknowledged
    expect(reminders.filter((r) => r.messageId === id(1)).map((r) => r.reminder)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(reminders.filter((r) => r.messageId === id(2))).toHaveLength(10);
    expect(urgent.pending).toBe(0);
    urgent.stop();
  });

  // Issue 19: reading an urgent message used to stop its reminders; the loop closes only when it is acknowledged
  // (the messaging client no longer tells the reminders of reads, only of acknowledgements).
  it('stops reminding once the message is acknowledged, and follows a shorter policy', () => {
    const scheduler = virtualScheduler();
    const reminders: UrgentReminder[] = [];
    const urgent = new UrgentReminders({ intervalMs: 30_000, maxReminders: 3 }, scheduler, (r) => reminders.push(r));
    urgent.track(id(3), conversation);
    scheduler.advance(65_000);
    expect(reminders.map((r) => r.reminder)).toEqual([1, 2]);
    urgent.acknowledged([id(3)]);
    scheduler.advance(10 * 60_000);
    expect(reminders).toHaveLength(2);
    urgent.stop();
  });
});
