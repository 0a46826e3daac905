import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CareTeamIdSchema, type UserId } from '../../../shared/ids';
import type { CareTeamPayload } from '../../../shared/payload';
import { ConversationStore, MAX_EPOCH_STEP } from './ConversationStore';
import { ProfileDatabase } from './ProfileDatabase';

const team = CareTeamIdSchema.parse('6f1c8a52-3b7e-4c1d-9a2b-5e8f0d4c3b21');
const [a, b, c, d] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444'] as [UserId, UserId, UserId, UserId];
const version = (epoch: number, members: UserId[], title = 'Ward 4'): CareTeamPayload => ({ v: 1, type: 'careTeam', conversationId: team, epoch, title, members, sentAt: 0 });

describe('care-team versions', () => {
  let dir: string;
  const dbs: ProfileDatabase[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rounds-teams-'));
  });
  afterEach(() => {
    for (const db of dbs.splice(0)) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = () => {
    const db = new ProfileDatabase(join(dir, `${dbs.length}.db`), Buffer.alloc(32, dbs.length + 1));
    dbs.push(db);
    return new ConversationStore(db);
  };

  it('ends the same on every device when a removal and a rename are made at once, in either order', () => {
    // a removes b while b renames the team: both are version 2, made from version 1.
    const removal = version(2, [a, c]);
    const rename = version(2, [a, b, c], 'Ward 4 (sepsis)');
    const outcomes = [
      [[removal, a], [rename, b]],
      [[rename, b], [removal, a]],
    ].flatMap((order) => [a, b, c].map((self) => {
      const s = store();
      s.applyCareTeam(version(1, [a, b, c]), a, self, 0);
      for (const [update, by] of order as [CareTeamPayload, UserId][]) s.applyCareTeam(update, by, self, 0);
      const state = s.careTeam(team)!;
      return JSON.stringify({ title: state.title, members: state.members, epoch: state.epoch });
    }));
    expect(new Set(outcomes).size).toBe(1);
  });

  it('accepts changes only from members, never from a removed member or one far in the future', () => {
    const s = store();
    expect(s.applyCareTeam(version(1, [a, b]), c, c, 0)).toBe(false); // a first version must name its sender
    expect(s.applyCareTeam(version(1, [a, b]), a, c, 0)).toBe(false); // ...and us
    expect(s.applyCareTeam(version(1, [a, b, c]), a, c, 0)).toBe(true);
    expect(s.applyCareTeam(version(2, [a, c]), a, c, 0)).toBe(true); // b removed
    expect(s.applyCareTeam(version(3, [a, b, c, d]), b, c, 0)).toBe(false); // b is no longer a member
    expect(s.applyCareTeam(version(2 + MAX_EPOCH_STEP + 1, [a, c, d]), a, c, 0)).toBe(false);
    expect(s.applyCareTeam(version(2, [a, c]), a, c, 0)).toBe(false); // the same version again: nothing
    expect(s.careTeam(team)).toMatchObject({ epoch: 2, members: [a, c].sort(), isMember: true });
    expect(s.applyCareTeam(version(3, [a]), a, c, 0)).toBe(true);
    expect(s.careTeam(team)).toMatchObject({ isMember: false, members: [a] });
  });
});
