import { randomUUID } from 'node:crypto';
import { CareTeamIdSchema, type ConversationId, type UserId } from '../../../shared/ids';
import { LIMITS } from '../../../shared/limits';
import { CareTeamPayloadSchema, PAYLOAD_VERSION, type CareTeamPayload, type Payload } from '../../../shared/payload';
import { RoundsError } from '../errors';
import type { ClientContext } from './ClientContext';

/**
 * Care teams as this user changes them: every change is a new version (epoch) of the team, applied here
 * and queued for every member old and new, with its audit record, in one transaction. The members' next
 * texts use new sender keys (CareTeamCipher), so whoever left cannot read what follows.
 */
export class CareTeams {
  constructor(
    private readonly ctx: ClientContext,
    private readonly queue: (recipients: readonly UserId[], payload: Payload) => void,
  ) {}

  /** Creates a care team with this user and `members`; returns its id. */
  create(title: string, members: readonly UserId[]): ConversationId {
    const id = CareTeamIdSchema.parse(randomUUID());
    this.#change(id, undefined, { title, members: [this.ctx.self.userId, ...members] });
    return id;
  }

  rename(id: ConversationId, title: string): void {
    const team = this.#memberTeam(id);
    this.#change(id, team, { title, members: team.members });
  }

  addMembers(id: ConversationId, users: readonly UserId[]): void {
    const team = this.#memberTeam(id);
    this.#change(id, team, { title: team.title, members: [...team.members, ...users] });
  }

  /** Removes a member (or, with this user's id, leaves); the remaining members' next sends use new sender keys. */
  removeMember(id: ConversationId, user: UserId): void {
    const team = this.#memberTeam(id);
    if (!team.members.includes(user)) throw new RoundsError('INVALID_INPUT', 'that user is not a member of the care team');
    this.#change(id, team, { title: team.title, members: team.members.filter((m) => m !== user) });
  }

  #memberTeam(id: ConversationId) {
    const team = this.ctx.conversations.careTeam(id);
    if (!team) throw new RoundsError('NOT_FOUND', 'no such care team');
    if (!team.isMember) throw new RoundsError('NOT_A_MEMBER', 'this user is no longer a member of the care team');
    return team;
  }

  /** Applies the next version of a care team here and sends it to every member, old and new. */
  #change(id: ConversationId, current: { epoch: number; members: readonly UserId[] } | undefined, next: { title: string; members: readonly UserId[] }): void {
    const { ctx } = this;
    const self = ctx.self.userId;
    const members = [...new Set(next.members)];
    if (members.length > LIMITS.maxCareTeamMembers) throw new RoundsError('INVALID_INPUT', `a care team has at most ${LIMITS.maxCareTeamMembers} members`);
    const update = CareTeamPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'careTeam', conversationId: id, epoch: (current?.epoch ?? 0) + 1, title: next.title, members, sentAt: ctx.scheduler.now() });
    ctx.db.transaction(() => {
      ctx.conversations.applyCareTeam(update, self, self, ctx.scheduler.now());
      this.queue([...new Set([...(current?.members ?? []), ...members])].filter((u) => u !== self), update);
      ctx.audit('careTeam.changed', { conversation: id, epoch: String(update.epoch), members: String(members.length) });
    });
    ctx.emit({ type: 'conversation', conversationId: id });
    ctx.kick();
  }
}

/** The care team as we hold it now, as the payload that announces it. */
export function careTeamState(team: { id: ConversationId; title: string; epoch: number; members: readonly UserId[] }, now: number): CareTeamPayload {
  return CareTeamPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'careTeam', conversationId: team.id, epoch: team.epoch, title: team.title, members: team.members, sentAt: now });
}
