import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UserId } from '../../shared/ids';
import type { ServerFrame } from '../../shared/wire/relay';
import { MAX_PRESENCE_CHANGED_USERS } from '../../shared/wire/relay';
import { PresenceAnnouncements } from './PresenceAnnouncements';

const user = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` as UserId;

describe('announcing status changes to connected workstations', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gathers the changes of a second into one frame, each user once, whoever changes how often', () => {
    vi.useFakeTimers();
    const sent: ServerFrame[] = [];
    const announcements = new PresenceAnnouncements({ broadcast: (frame) => sent.push(frame) }, 1000);
    for (let i = 0; i < 40; i++) announcements.changed([user(1)]);
    announcements.changed([user(2), user(1)]);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(999);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([{ type: 'presenceChanged', userIds: [user(1), user(2)] }]);
    // Nothing more until something changes again.
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(1);
    announcements.changed([user(3)]);
    vi.advanceTimersByTime(1000);
    expect(sent.at(-1)).toEqual({ type: 'presenceChanged', userIds: [user(3)] });
  });

  it('splits a large gathering into frames the wire schema takes, and sends nothing once stopped', () => {
    vi.useFakeTimers();
    const sent: ServerFrame[] = [];
    const announcements = new PresenceAnnouncements({ broadcast: (frame) => sent.push(frame) }, 1000);
    announcements.changed(Array.from({ length: MAX_PRESENCE_CHANGED_USERS + 5 }, (_, i) => user(i)));
    announcements.flush();
    expect(sent.map((f) => (f.type === 'presenceChanged' ? f.userIds.length : 0))).toEqual([MAX_PRESENCE_CHANGED_USERS, 5]);
    announcements.changed([user(1)]);
    announcements.stop();
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(2);
  });
});
